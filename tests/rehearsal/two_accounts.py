"""EventBridge across two accounts: the management account's forwarding rules put the
account lifecycle events on the tooling account's bus, whose rules deliver them to the
function there.

`TwoAccountEventBridge` is `EventBridge` (eventbridge_sim.py) that reads each account's
rules with that account's credentials, and that does for a bus target of another
account what EventBridge does: besides the forwarding role (checked as for any bus
target), the receiving bus's resource policy must let the sending account put this very
event (principal, `events:source`, `events:detail-type`), which moto never checks. An
event the policy refuses goes to the rule's dead-letter queue, as in AWS.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from .eventbridge_sim import Delivery, EventBridge
from .lambda_runtime import LambdaService
from .moto_world import Credentials, MotoWorld


class TwoAccountEventBridge(EventBridge):
    def __init__(self, world: MotoWorld, lambdas: LambdaService, operators: dict[str, Credentials],
                 account: str) -> None:
        super().__init__(world, lambdas, operators[account])
        self.operators = operators
        self.account = account

    @contextlib.contextmanager
    def in_account(self, account: str) -> Iterator[None]:
        """Reads and deliveries as EventBridge of `account`."""
        was = self.account
        self.account, self.credentials = account, self.operators[account]
        try:
            yield
        finally:
            self.account, self.credentials = was, self.operators[was]

    def _forward(self, rule: dict[str, Any], target: dict[str, Any], payload: Any, region: str) -> list[Delivery]:
        bus_arn = target["Arn"]
        receiver = bus_arn.split(":")[4]
        if receiver == self.account:
            return super()._forward(rule, target, payload, region)
        problem = self._forward_role_problem(target.get("RoleArn"), rule["Arn"], bus_arn)
        if not problem:
            with self.in_account(receiver):
                problem = self.bus_policy_problem(bus_arn, rule["Arn"].split(":")[4], payload)
        if problem:
            return [self._dead_letter(rule, target, payload, region, "NO_PERMISSIONS", problem)]
        _, _, _, bus_region, _, resource = bus_arn.split(":", 5)
        with self.in_account(receiver):
            delivered = self.deliver(payload, bus_region, resource.split("/", 1)[1])
        return [Delivery(rule["Arn"], bus_arn, "forwarded")] + delivered

    def bus_policy_problem(self, bus_arn: str, sender: str, event: dict[str, Any]) -> str:
        """Why the bus's policy does not let account `sender` put `event` on it ('' when
        it does). Read with the bus owner's credentials."""
        region, name = bus_arn.split(":")[3], bus_arn.split("/", 1)[1]
        described = self._client("events", region).describe_event_bus(Name=name)
        policy = json.loads(described.get("Policy") or "{}")
        for statement in _values(policy.get("Statement")):
            if (statement.get("Effect") == "Allow"
                    and "events:PutEvents" in _values(statement.get("Action"))
                    and bus_arn in _values(statement.get("Resource"))
                    and _names_account(statement.get("Principal"), sender)
                    and _event_conditions_hold(statement.get("Condition", {}), event)):
                return ""
        return f"the policy of {bus_arn} does not let account {sender} put a {event.get('source')} " \
               f"'{event.get('detail-type')}' event on it"


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _names_account(principal: Any, account: str) -> bool:
    if principal == "*":
        return False  # an open bus is not what tooling mode deploys
    aws = _values(principal.get("AWS")) if isinstance(principal, dict) else []
    return any(p in (account, f"arn:aws:iam::{account}:root") for p in aws)


def _event_conditions_hold(conditions: dict[str, Any], event: dict[str, Any]) -> bool:
    """The condition keys EventBridge documents for PutEvents on a bus policy, evaluated
    for one event; any other key or operator does not hold (the stricter reading)."""
    fields = {"events:source": event.get("source"), "events:detail-type": event.get("detail-type")}
    for operator, keys in conditions.items():
        if operator not in ("StringEquals", "ForAllValues:StringEquals", "ForAnyValue:StringEquals"):
            return False
        for key, values in keys.items():
            if key.lower() not in fields or fields[key.lower()] not in _values(values):
                return False
    return True
