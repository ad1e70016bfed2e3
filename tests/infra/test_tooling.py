"""Tooling mode, offline: the management account's part (infra/management), the
root module's tooling bus and its policy, and the examples of both parts.

The broker role and the organization's delegation policy are what a security
team reviews, so their documents are checked statement by statement; the
Organizations actions are compared with the calls the Rust code makes, so that
a new call cannot ship without its permission.
"""

from __future__ import annotations

import re

import pytest

from child_modules import dead_letter_queue, module_calls, moved_blocks
from hcl_model import INFRA_DIR, REPO_ROOT, Module, load_file, load_module, policy_statements

MANAGEMENT_DIR = INFRA_DIR / "management"


@pytest.fixture(scope="module")
def management() -> Module:
    return load_module(MANAGEMENT_DIR)


def _organizations_calls() -> set[str]:
    """Every Organizations operation the function and its doctor call, from the source."""
    source = (REPO_ROOT / "src" / "aws" / "organizations.rs").read_text(encoding="utf-8")
    calls = set(re.findall(r"self\s*\.client\s*\.(\w+)\(\)", source))
    assert calls, "no Organizations call found in src/aws/organizations.rs"
    # Nothing else calls Organizations: every other module goes through this one.
    for path in (REPO_ROOT / "src").rglob("*.rs"):
        if path.name != "organizations.rs":
            assert not re.search(r"organizations\s*\.\s*\w+\(\)\s*\.send\(\)", path.read_text(encoding="utf-8")), path
    return {"organizations:" + "".join(part.title() for part in call.split("_")) for call in calls}


def _statement(statements: list[dict], sid: str) -> dict:
    (found,) = [s for s in statements if s.get("sid") == sid]
    return found


# ---------------------------------------------------------------------------
# The broker role
# ---------------------------------------------------------------------------


def test_the_broker_trusts_only_the_tooling_function_role(management: Module):
    (trust,) = policy_statements(management.data_source("aws_iam_policy_document", "broker_trust"))
    assert trust["actions"] == ["sts:AssumeRole"]
    assert trust.get("effect", "Allow") == "Allow"
    assert trust["principals"] == [
        {"type": "AWS", "identifiers": ["${local.tooling_account_root}"]}
    ]
    (condition,) = trust["condition"]
    assert condition == {
        "test": "ArnEquals", "variable": "aws:PrincipalArn",
        "values": "${local.tooling_principals}",
    }
    assert management.locals["tooling_account_root"] == "arn:${local.partition}:iam::${local.tooling_account_id}:root"
    assert management.locals["tooling_principals"] == "${concat([var.tooling_role_arn], var.operator_role_arns)}"
    assert management.variables["operator_role_arns"]["default"] == []
    assert management.locals["tooling_account_id"] == '${split(":", var.tooling_role_arn)[4]}'
    role = management.resource("aws_iam_role", "broker")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.broker_trust.json}"
    assert role["max_session_duration"] == 3600, "a chained session lasts at most an hour"
    assert role["name"] == "${local.broker_role_name}"
    assert management.locals["broker_role_name"] == '${coalesce(var.broker_role_name, "${var.name}-broker")}'


def test_the_broker_may_only_assume_the_access_roles(management: Module):
    (assume,) = policy_statements(management.data_source("aws_iam_policy_document", "broker"), management)
    assert assume["sid"] == "AssumeAccessRolesInMemberAccounts"
    assert assume.get("effect", "Allow") == "Allow" and assume["for_each"] is None
    # No Organizations action of any kind: the reads go through the delegation policy.
    assert assume["actions"] == ["sts:AssumeRole"]
    assert assume["resources"] == '${[for role in var.access_role_names : "arn:${local.partition}:iam::*:role/${role}"]}'
    (condition,) = assume["condition"]
    assert condition == {"test": "StringEquals", "variable": "aws:ResourceOrgID", "values": ["${local.organization_id}"]}
    assert management.locals["organization_id"] == "${data.aws_organizations_organization.this.id}"
    policy = management.resource("aws_iam_role_policy", "broker")
    assert policy["role"] == "${aws_iam_role.broker.id}"
    assert set(management.resources_of_type("aws_iam_role_policy")) == {"broker"}  # and module.forward_role's
    assert not management.resources_of_type("aws_iam_role_policy_attachment")


def test_the_broker_assumes_what_the_single_account_function_assumes(management: Module, module: Module):
    """The broker's grant is the single-account function's, moved: the same statement, word
    for word, so that the two layouts cannot drift apart."""
    broker = policy_statements(management.data_source("aws_iam_policy_document", "broker"), management)
    function = policy_statements(module.data_source("aws_iam_policy_document", "lambda"), module)
    moved = {k: v for k, v in _statement(function, "AssumeAccessRolesInMemberAccounts").items() if k != "for_each"}
    kept = {k: v for k, v in _statement(broker, "AssumeAccessRolesInMemberAccounts").items() if k != "for_each"}
    assert kept == moved


# ---------------------------------------------------------------------------
# The delegation policy
# ---------------------------------------------------------------------------


def _delegation(management: Module) -> list[dict]:
    return policy_statements(management.data_source("aws_iam_policy_document", "delegation"), management)


def _organizations_statements(statements: list[dict]) -> list[tuple[str, frozenset[str], tuple[str, ...]]]:
    """Sid, actions and resources of the statements granting organizations:* actions, with
    the organization's ARNs written the same way whichever module computed them."""
    found = []
    for statement in statements:
        actions = frozenset(statement["actions"])
        if any(a.startswith("organizations:") for a in actions):
            resources = tuple(r.replace("${data.aws_organizations_organization.this.master_account_id}", "<management>")
                              .replace("${local.account_id}", "<management>") for r in statement["resources"])
            found.append((statement["sid"], actions, resources))
    return found


def test_the_delegation_policy_grants_exactly_the_function_roles_organizations_statements(
        management: Module, module: Module):
    delegation = _delegation(management)
    function = policy_statements(module.data_source("aws_iam_policy_document", "lambda"), module)
    assert _organizations_statements(delegation) == _organizations_statements(function)
    assert len(delegation) == 2 and {a for s in delegation for a in s["actions"]} == _organizations_calls()
    # Both read the same module, given the management account: its own id here, the one
    # DescribeOrganization names in the root module (checked against management_role_arn there).
    call = management.module_call("organizations_reads")
    assert call["source"] == "../modules/organizations-reads"
    assert call["management_account_id"] == "${local.account_id}"
    assert module.module_call("organizations_reads")["source"] == "./modules/organizations-reads"


def test_the_delegation_policy_names_exactly_the_tooling_account_and_roles(management: Module):
    for statement in _delegation(management):
        assert statement.get("effect", "Allow") == "Allow"
        assert statement["for_each"] == "${module.organizations_reads.statements}"
        # Exactly the tooling account as principal...
        assert statement["principals"] == [
            {"type": "AWS", "identifiers": ["${local.tooling_account_root}"]}
        ]
        # ...and of its principals, exactly the function's role and the operators' roles:
        # the ones the broker trusts.
        (condition,) = statement["condition"]
        assert condition == {
            "test": "ArnEquals", "variable": "aws:PrincipalArn",
            "values": "${local.tooling_principals}",
        }
    (trust,) = policy_statements(management.data_source("aws_iam_policy_document", "broker_trust"))
    assert [trust["principals"], trust["condition"]] == [_delegation(management)[0]["principals"],
                                                         _delegation(management)[0]["condition"]]


def test_the_delegation_policy_is_written_unless_switched_off_and_always_output(management: Module):
    policy = management.resource("aws_organizations_resource_policy", "delegation")
    assert policy["count"] == "${var.manage_delegation_policy ? 1 : 0}"
    assert policy["content"] == "${data.aws_iam_policy_document.delegation.json}"
    variable = management.variables["manage_delegation_policy"]
    assert variable["default"] is True and variable["type"] == "bool" and variable["nullable"] is False
    assert management.outputs["delegation_policy"]["value"] == "${data.aws_iam_policy_document.delegation.json}"
    assert set(management.resources_of_type("aws_organizations_resource_policy")) == {"delegation"}
    assert not management.resources_of_type("aws_organizations_delegated_administrator")


def test_no_organizations_action_outside_the_shared_statements(management: Module, module: Module):
    """Only the organizations-reads module names Organizations actions: not the broker, not
    any other document of either part."""
    for owner in (management, module):
        for (kind, name), body in owner.data.items():
            if kind != "aws_iam_policy_document" or name == "delegation":
                continue
            for statement in policy_statements(body, owner):
                actions = statement["actions"]
                if isinstance(actions, list) and any(a.startswith("organizations:") for a in actions):
                    assert statement["for_each"] == "${module.organizations_reads.statements}", (name, statement)


def test_the_single_account_function_reads_exactly_what_the_code_calls(module: Module):
    statements = policy_statements(module.data_source("aws_iam_policy_document", "lambda"), module)
    reads = {a for s in statements for a in s["actions"] if a.startswith("organizations:")}
    assert reads == _organizations_calls()


def test_the_access_role_names_follow_the_tooling_part(management: Module, module: Module):
    assert management.variables["access_role_names"]["default"] == module.variables["access_role_names"]["default"]


# ---------------------------------------------------------------------------
# Forwarding
# ---------------------------------------------------------------------------


def test_the_forwarding_rules_use_the_root_modules_patterns(management: Module, module: Module):
    (call,) = module_calls(management, "event-patterns").values()
    assert call["source"] == "../modules/event-patterns"
    (root_call,) = module_calls(module, "event-patterns").values()
    assert root_call["source"] == "./modules/event-patterns"
    assert "module.event_patterns.patterns[key]" in management.locals["forward_rules"]
    rule = management.resource("aws_cloudwatch_event_rule", "forward")
    assert rule["for_each"] == "${local.forward_rules}"
    assert rule["event_pattern"] == "${jsonencode(each.value)}"
    assert "event_bus_name" not in rule, "Organizations events arrive on the default bus"
    conditions = [p["condition"] for lc in rule["lifecycle"] for p in lc["precondition"]]
    assert '${var.allow_non_us_east_1 || local.region == "us-east-1"}' in conditions
    assert "${data.aws_organizations_organization.this.master_account_id == local.account_id}" in conditions
    assert "${local.tooling_account_id != local.account_id}" in conditions
    ct = management.resource("aws_cloudwatch_event_rule", "control_tower_forward")
    assert ct["provider"] == "${aws.control_tower}"
    assert ct["event_pattern"] == "${jsonencode(module.event_patterns.patterns.control_tower)}"


@pytest.mark.parametrize("name,dlq", [("forward", "forward_dlq"), ("control_tower_forward", "control_tower_forward_dlq")])
def test_every_forwarding_target_is_the_tooling_bus_with_retries_and_a_dead_letter_queue(management: Module, name, dlq):
    target = management.resource("aws_cloudwatch_event_target", name)
    assert target["arn"] == "${var.tooling_event_bus_arn}"
    assert target["role_arn"] == "${module.forward_role.arn}"
    (retry,) = target["retry_policy"]
    assert retry == {
        "maximum_retry_attempts": "${var.rule_maximum_retry_attempts}",
        "maximum_event_age_in_seconds": "${var.rule_maximum_event_age_in_seconds}",
    }
    (dead_letter,) = target["dead_letter_config"]
    index = "[0]" if name == "control_tower_forward" else ""
    assert dead_letter["arn"] == f"${{module.{dlq}{index}.arn}}"
    # SSE-SQS (the module's default without a CMK): no key policy for EventBridge to need.
    assert "kms_key_arn" not in dead_letter_queue(management, dlq)


def test_nothing_the_forwarding_rules_keep_goes_unnoticed(management: Module):
    alarms = management.locals["alarms"]
    assert 'for key in keys(local.forward_rules) : "forward-${replace(key, "_", "-")}-failed-invocations" => {' in alarms
    assert 'dimensions = {RuleName = aws_cloudwatch_event_rule.forward[key].name}' in alarms
    assert 'dimensions = {QueueName = module.forward_dlq.name}' in alarms
    ct = management.locals["control_tower_alarms"]
    assert ct.startswith("${local.control_tower_elsewhere ? {")
    assert "aws_cloudwatch_event_rule.control_tower_forward[0].name" in ct and "control_tower_forward_dlq[0].name" in ct
    # The alarms are the metric-alarms module's, one call a Region (test_metric_alarms.py);
    # no threshold given: the module's 0, the first occurrence.
    assert "threshold" not in alarms and "threshold" not in ct
    assert moved_blocks(MANAGEMENT_DIR / "alarms.tf") == {
        ("${aws_cloudwatch_metric_alarm.forward}", "${module.alarms.aws_cloudwatch_metric_alarm.this}"),
        ("${aws_cloudwatch_metric_alarm.control_tower_forward}", "${module.control_tower_alarms.aws_cloudwatch_metric_alarm.this}"),
    }


def test_the_forwarding_role_puts_on_exactly_the_tooling_bus(management: Module):
    # The role is the event-forward-role module's (test_event_forward_role.py): assumed only
    # by the given rules of this account, PutEvents only on the given bus.
    role = module_calls(management, "event-forward-role")["forward_role"]
    assert role["name"] == "${var.name}-forward"
    assert role["account_id"] == "${local.account_id}"
    assert role["bus"] == {"sid": "PutOnTheToolingBusOnly", "arn": "${var.tooling_event_bus_arn}"}
    assert role["rules"]["sid"] == "EventBridgeForwardRules"
    assert "aws_cloudwatch_event_rule.forward[key].arn" in role["rules"]["arns"]
    assert "aws_cloudwatch_event_rule.control_tower_forward[*].arn" in role["rules"]["arns"]
    assert moved_blocks(MANAGEMENT_DIR / "main.tf", "aws_iam_role") == {
        ("${aws_iam_role.forward}", "${module.forward_role.aws_iam_role.this}"),
        ("${aws_iam_role_policy.forward}", "${module.forward_role.aws_iam_role_policy.this}"),
    }


def test_the_management_part_is_documented(management: Module):
    readme = (MANAGEMENT_DIR / "README.md").read_text(encoding="utf-8")
    for name in list(management.variables) + list(management.outputs):
        assert f"`{name}`" in readme, f"infra/management/README.md does not document `{name}`"
    for name, body in management.variables.items():
        assert body.get("type") and len(body.get("description", "")) >= 10, name
    # Which of the two delegations, why, and the one-policy caveat with its way out.
    for words in ("aws:PrincipalArn", "external id", "**delegation", "RegisterDelegatedAdministrator",
                  "One policy per organization", "manage_delegation_policy = false", "delegation_policy"):
        assert words in readme, words


# ---------------------------------------------------------------------------
# The root module in tooling mode
# ---------------------------------------------------------------------------


def test_tooling_mode_is_off_by_default(module: Module):
    assert module.variables["management_role_arn"]["default"] is None
    assert module.locals["tooling_mode"] == "${var.management_role_arn != null}"
    assert module.locals["account_event_bus_name"] == (
        '${local.tooling_mode ? aws_cloudwatch_event_bus.organization[0].name : "default"}'
    )
    for kind, name in (
        ("aws_cloudwatch_event_bus", "organization"),
        ("aws_cloudwatch_event_bus_policy", "organization"),
    ):
        assert module.resource(kind, name)["count"] == "${local.tooling_mode ? 1 : 0}"


def test_the_tooling_bus_admits_exactly_the_forwarded_events_of_the_management_account(module: Module):
    (statement,) = policy_statements(module.data_source("aws_iam_policy_document", "organization_bus"))
    assert statement["actions"] == ["events:PutEvents"]
    assert statement["resources"] == ["${aws_cloudwatch_event_bus.organization[0].arn}"]
    assert statement["principals"] == [
        {"type": "AWS", "identifiers": ["arn:${local.partition}:iam::${local.management_account_id}:root"]}
    ]
    conditions = {c["variable"]: c for c in statement["condition"]}
    # The documented form (EventBridge user guide, "Send events to a custom bus in a
    # different account").
    assert conditions["events:source"]["test"] == "ForAllValues:StringEquals"
    assert conditions["events:source"]["values"] == "${local.forwarded_sources}"
    assert conditions["events:detail-type"]["test"] == "StringEquals"
    assert conditions["events:detail-type"]["values"] == "${local.forwarded_detail_types}"
    assert module.locals["management_account_id"] == (
        '${local.tooling_mode ? split(":", var.management_role_arn)[4] : local.account_id}'
    )


def test_the_forwarded_sources_and_detail_types_are_those_of_the_patterns(module: Module):
    patterns = load_module(INFRA_DIR / "modules" / "event-patterns").locals["patterns"]
    sources = {s for p in patterns.values() for s in p["source"]}
    detail_types = {d for p in patterns.values() for d in p["detail-type"]}
    assert sources == {"aws.organizations", "aws.controltower"}
    assert detail_types == {"AWS Service Event via CloudTrail", "AWS API Call via CloudTrail"}
    expression = module.locals["forwarded_patterns"]
    for key in patterns:
        assert key in expression, key


def test_tooling_mode_refuses_what_belongs_to_the_management_account(module: Module):
    bus = module.resource("aws_cloudwatch_event_bus", "organization")
    conditions = [p["condition"] for lc in bus["lifecycle"] for p in lc["precondition"]]
    assert "${local.management_account_id != local.account_id}" in conditions
    assert "${!var.create_cloudtrail}" in conditions
    assert '${split(":", var.management_role_arn)[1] == local.partition}' in conditions


def test_the_broker_arn_is_validated(module: Module):
    (validation,) = module.variables["management_role_arn"]["validation"]
    pattern = re.search(r'regex\("(.+)", var\.management_role_arn\)', validation["condition"]).group(1)
    pattern = pattern.encode().decode("unicode_escape")
    for good in ("arn:aws:iam::111122223333:role/tfc-onboarder-broker", "arn:aws-us-gov:iam::111122223333:role/p/b"):
        assert re.fullmatch(pattern, good), good
    for bad in ("tfc-onboarder-broker", "arn:aws:iam::1111:role/b", "arn:aws:iam::111122223333:user/b", "arn:aws:iam::111122223333:role/"):
        assert not re.fullmatch(pattern, bad), bad


# ---------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------


def test_the_two_examples_fit_together():
    tooling = load_file(INFRA_DIR / "examples" / "tooling" / "main.tf")
    management = load_file(INFRA_DIR / "examples" / "management" / "main.tf")
    (root_call,) = [body for block in tooling["module"] for body in block.values()]
    assert root_call["source"] == "../.."
    # The broker's name is the management part's default, <name>-broker.
    assert root_call["management_role_arn"].endswith(":role/tfc-onboarder-broker")
    (management_call,) = [body for block in management["module"] for body in block.values()]
    assert management_call["source"] == "../../management"
    tooling_outputs = {name for block in tooling["output"] for name in block}
    assert {"role_arn", "tooling_event_bus_arn", "function_name", "secret_arn"} <= tooling_outputs
    management_variables = {name for block in management["variable"] for name in block}
    assert {"tooling_role_arn", "tooling_event_bus_arn"} <= management_variables
    providers = {p.get("alias"): p for block in management["provider"] for p in [block["aws"]]}
    assert providers[None]["region"] == "us-east-1"
