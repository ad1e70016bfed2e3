"""infra/modules/event-forward-role, the role an EventBridge rule puts events on
another bus with, for both parts of the module; what each part gives it is
tested with that part (test_infra.py, test_tooling.py)."""

from __future__ import annotations

import pytest

from hcl_model import INFRA_DIR, Module, load_module, policy_statements


@pytest.fixture(scope="module")
def role() -> Module:
    return load_module(INFRA_DIR / "modules" / "event-forward-role")


def test_only_the_given_rules_of_this_account_may_assume_the_role(role: Module):
    body = role.resource("aws_iam_role", "this")
    assert body["name"] == "${var.name}"
    assert body["assume_role_policy"] == "${data.aws_iam_policy_document.assume_role.json}"
    (trust,) = policy_statements(role.data_source("aws_iam_policy_document", "assume_role"))
    assert trust["sid"] == "${var.rules.sid}"
    assert trust["effect"] == "Allow"
    assert trust["actions"] == ["sts:AssumeRole"]
    assert trust["principals"] == [{"type": "Service", "identifiers": ["events.amazonaws.com"]}]
    conditions = {c["variable"]: (c["test"], c["values"]) for c in trust["condition"]}
    assert conditions == {
        "aws:SourceAccount": ("StringEquals", ["${var.account_id}"]),
        "aws:SourceArn": ("ArnEquals", "${var.rules.arns}"),
    }


def test_the_role_may_only_put_events_on_the_given_bus(role: Module):
    (put,) = policy_statements(role.data_source("aws_iam_policy_document", "this"))
    assert put["sid"] == "${var.bus.sid}"
    assert put["effect"] == "Allow"
    assert put["actions"] == ["events:PutEvents"]
    assert put["resources"] == ["${var.bus.arn}"]
    policy = role.resource("aws_iam_role_policy", "this")
    assert policy["role"] == "${aws_iam_role.this.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.this.json}"
    assert set(role.resources) == {("aws_iam_role", "this"), ("aws_iam_role_policy", "this")}
    assert role.outputs["arn"]["value"] == "${aws_iam_role.this.arn}"
