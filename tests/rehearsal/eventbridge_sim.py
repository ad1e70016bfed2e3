"""EventBridge's side of delivery, which moto does not do for Lambda targets.

AWS services (Organizations through CloudTrail, Control Tower) put their events on the
default bus themselves; nobody can PutEvents with an `aws.*` source. So the harness
plays EventBridge: it reads the deployed rules and targets back from moto, matches the
event with the project's pattern matcher (tests/infra/eventbridge.py; moto 5.2.5 has no
TestEventPattern), and does what EventBridge does for each target:

- an SQS queue (the module's events queue): send the event as the message body, but only
  if the queue's policy lets events.amazonaws.com send to it for this rule (moto checks
  no resource policy); otherwise the event goes to the target's dead-letter queue. The
  queue's event source mapping (event_source_mapping.py) then hands it to the function;
- a Lambda function: invoke it asynchronously, but only if the function's resource
  policy lets events.amazonaws.com invoke it for this rule; otherwise the event goes to
  the target's dead-letter queue;
- an event bus (the Control Tower forwarding rule): check the target's role may be
  assumed by EventBridge and may put events on that bus, then deliver there;
- a dead-letter queue: only if the queue policy lets this rule send to it, with the
  attributes EventBridge adds (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE).

EventBridge Scheduler's schedules are fired by step_functions.Scheduler.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lambda_runtime import Invocation, LambdaService
from .moto_world import Credentials, MotoWorld

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
from eventbridge import matches  # noqa: E402


@dataclass
class Delivery:
    rule_arn: str
    target_arn: str
    # "queued", "invoked", "forwarded" or "dead-lettered"
    outcome: str
    invocation: Invocation | None = None
    error_code: str = ""


class EventBridge:
    def __init__(self, world: MotoWorld, lambdas: LambdaService, credentials: Credentials) -> None:
        self.world = world
        self.lambdas = lambdas
        self.credentials = credentials

    def _client(self, service: str, region: str) -> Any:
        return self.world.client(service, self.credentials, region)

    def rules(self, region: str, bus: str = "default") -> list[dict[str, Any]]:
        events = self._client("events", region)
        found, token = [], None
        while True:
            page = events.list_rules(EventBusName=bus, **({"NextToken": token} if token else {}))
            found += page["Rules"]
            token = page.get("NextToken")
            if not token:
                return found

    def matching_rules(self, event: dict[str, Any], region: str, bus: str = "default") -> list[dict[str, Any]]:
        return [
            rule for rule in self.rules(region, bus)
            if rule.get("State") == "ENABLED" and rule.get("EventPattern")
            and matches(json.loads(rule["EventPattern"]), event)
        ]

    def deliver(self, event: dict[str, Any], region: str, bus: str = "default") -> list[Delivery]:
        """Everything EventBridge does with `event` put on `bus` in `region`."""
        deliveries = []
        for rule in self.matching_rules(event, region, bus):
            deliveries += self._send_to_targets(rule, event, region)
        return deliveries

    def _send_to_targets(self, rule: dict[str, Any], event: dict[str, Any], region: str) -> list[Delivery]:
        events = self._client("events", region)
        deliveries = []
        for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=rule.get("EventBusName", "default"))["Targets"]:
            payload = json.loads(target["Input"]) if target.get("Input") else event
            service = target["Arn"].split(":")[2]
            if service == "sqs":
                deliveries.append(self._queue(rule, target, payload, region))
            elif service == "lambda":
                deliveries.append(self._invoke(rule, target, payload, region))
            elif service == "events":
                deliveries += self._forward(rule, target, payload, region)
            else:
                raise NotImplementedError(f"target {target['Arn']} of {rule['Name']}")
        return deliveries

    def _queue(self, rule: dict[str, Any], target: dict[str, Any], payload: Any, region: str) -> Delivery:
        queue_arn = target["Arn"]
        sqs, url = self._queue_url(queue_arn)
        policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"].get("Policy", "{}"))
        if not _queue_admits(policy, queue_arn, rule["Arn"]):
            problem = f"the policy of {queue_arn} does not let {rule['Arn']} send to it"
            return self._dead_letter(rule, target, payload, region, "NO_PERMISSIONS", problem)
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(payload))
        return Delivery(rule["Arn"], queue_arn, "queued")

    def _queue_url(self, queue_arn: str) -> tuple[Any, str]:
        _, _, _, queue_region, queue_account, queue_name = queue_arn.split(":")
        sqs = self._client("sqs", queue_region)
        return sqs, sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=queue_account)["QueueUrl"]

    def _invoke(self, rule: dict[str, Any], target: dict[str, Any], payload: Any, region: str) -> Delivery:
        function_arn = target["Arn"]
        problem = self._lambda_permission_problem(function_arn, rule["Arn"], region)
        if problem:
            return self._dead_letter(rule, target, payload, region, "NO_PERMISSIONS", problem)
        before = len(self.lambdas.invocations)
        self._client("lambda", region).invoke(
            FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
        (invocation,) = self.lambdas.invocations[before:]
        return Delivery(rule["Arn"], function_arn, "invoked", invocation)

    def _lambda_permission_problem(self, function_arn: str, rule_arn: str, region: str) -> str:
        try:
            policy = json.loads(self._client("lambda", region).get_policy(FunctionName=function_arn)["Policy"])
        except self._client("lambda", region).exceptions.ResourceNotFoundException:
            return f"{function_arn} has no resource policy"
        for statement in policy.get("Statement", []):
            principal = statement.get("Principal", {})
            principal = principal.get("Service") if isinstance(principal, dict) else principal
            source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn") \
                or statement.get("Condition", {}).get("ArnLike", {}).get("aws:SourceArn")
            if (statement.get("Effect") == "Allow" and principal == "events.amazonaws.com"
                    and statement.get("Action") == "lambda:InvokeFunction" and source == rule_arn):
                return ""
        return f"the resource policy of {function_arn} does not let {rule_arn} invoke it"

    def _forward(self, rule: dict[str, Any], target: dict[str, Any], payload: Any, region: str) -> list[Delivery]:
        bus_arn = target["Arn"]
        problem = self._forward_role_problem(target.get("RoleArn"), rule["Arn"], bus_arn)
        if problem:
            return [self._dead_letter(rule, target, payload, region, "NO_PERMISSIONS", problem)]
        _, _, _, bus_region, _, resource = bus_arn.split(":", 5)
        forwarded = Delivery(rule["Arn"], bus_arn, "forwarded")
        return [forwarded] + self.deliver(payload, bus_region, resource.split("/", 1)[1])

    def _forward_role_problem(self, role_arn: str | None, rule_arn: str, bus_arn: str) -> str:
        if not role_arn:
            return f"no role to put events on {bus_arn}"
        from moto.iam.models import iam_backends

        iam = iam_backends[role_arn.split(":")[4]]["aws"]
        role = iam.get_role(role_arn.split("/")[-1])
        trust = json.loads(role.assume_role_policy_document)
        trusted = any(
            s.get("Effect") == "Allow" and s.get("Principal", {}).get("Service") == "events.amazonaws.com"
            and rule_arn in _values(s.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn"))
            for s in trust["Statement"]
        )
        if not trusted:
            return f"EventBridge may not assume {role_arn} for {rule_arn}"
        for name in iam.list_role_policies(role.name):
            _, document = iam.get_role_policy(role.name, name)
            for statement in json.loads(document)["Statement"]:
                if (statement.get("Effect") == "Allow" and "events:PutEvents" in _values(statement.get("Action"))
                        and bus_arn in _values(statement.get("Resource"))):
                    return ""
        return f"{role_arn} may not put events on {bus_arn}"

    def _dead_letter(self, rule: dict[str, Any], target: dict[str, Any], payload: Any, region: str,
                     code: str, message: str) -> Delivery:
        queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not queue_arn:
            raise AssertionError(f"{rule['Name']}: delivery failed ({message}) and the target has no dead-letter queue: the event is lost")
        if queue_arn.split(":")[3] != region:
            raise AssertionError(f"{rule['Name']}: dead-letter queue {queue_arn} is not in the rule's Region {region}")
        sqs, url = self._queue_url(queue_arn)
        policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"].get("Policy", "{}"))
        if not _queue_admits(policy, queue_arn, rule["Arn"]):
            raise AssertionError(f"the policy of {queue_arn} does not let {rule['Arn']} send to it: the event is lost")
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(payload), MessageAttributes={
            "RULE_ARN": {"DataType": "String", "StringValue": rule["Arn"]},
            "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
            "ERROR_CODE": {"DataType": "String", "StringValue": code},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": message},
        })
        return Delivery(rule["Arn"], target["Arn"], "dead-lettered", error_code=code)


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _queue_admits(policy: dict[str, Any], queue_arn: str, rule_arn: str) -> bool:
    for statement in _values(policy.get("Statement")):
        principal = statement.get("Principal", {})
        if (statement.get("Effect") == "Allow"
                and "events.amazonaws.com" in _values(principal.get("Service") if isinstance(principal, dict) else None)
                and "sqs:SendMessage" in _values(statement.get("Action"))
                and queue_arn in _values(statement.get("Resource"))
                and rule_arn in _values(statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn"))):
            return True
    return False
