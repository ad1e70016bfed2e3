"""infra/modules/dead-letter-queue, the one dead-letter queue both parts of the
module use, and what each part passes it.

Each part once declared its queues and their policies itself; the moved
blocks keep every queue of an existing deployment in place (a destroy and
create would lose the messages it holds).
"""

from __future__ import annotations

import pytest

from child_modules import DEAD_LETTER_QUEUE_DIR, dead_letter_queue, module_calls, moved_blocks
from hcl_model import INFRA_DIR, Module, load_module, policy_statements

MANAGEMENT_DIR = INFRA_DIR / "management"


@pytest.fixture(scope="module")
def dlq() -> Module:
    return load_module(DEAD_LETTER_QUEUE_DIR)


@pytest.fixture(scope="module")
def management() -> Module:
    return load_module(MANAGEMENT_DIR)


def test_the_queue_keeps_what_it_holds_14_days_encrypted(dlq: Module):
    queue = dlq.resource("aws_sqs_queue", "this")
    assert queue["name"] == "${var.name}"
    assert queue["message_retention_seconds"] == 14 * 24 * 3600
    # Encrypted either way: SSE-SQS without a CMK, KMS with one (the provider refuses both).
    assert queue["kms_master_key_id"] == "${var.kms_key_arn}"
    assert queue["sqs_managed_sse_enabled"] == "${var.kms_key_arn == null ? true : null}"
    assert dlq.variables["kms_key_arn"]["default"] is None
    assert queue["tags"] == "${var.tags}"
    assert "provider" not in queue, "the caller passes the provider of the queue's Region"


def test_only_the_named_service_may_send_and_only_for_the_named_sources(dlq: Module):
    document = dlq.data_source("aws_iam_policy_document", "this")
    (statement,) = policy_statements(document)
    assert statement["effect"] == "Allow"
    assert statement["actions"] == ["sqs:SendMessage"]
    assert statement["resources"] == ["${aws_sqs_queue.this.arn}"]
    assert statement["principals"] == [{"type": "Service", "identifiers": ["${var.senders.principal}"]}]
    (condition,) = statement["condition"]
    assert (condition["test"], condition["variable"]) == ("ArnEquals", "aws:SourceArn")
    assert condition["values"] == "${var.senders.source_arns}"
    policy = dlq.resource("aws_sqs_queue_policy", "this")
    assert policy["queue_url"] == "${aws_sqs_queue.this.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.this[0].json}"
    # Without senders no policy at all: the account's own IAM principals only.
    for body in (document, policy):
        assert body["count"] == "${var.senders == null ? 0 : 1}"
    assert dlq.variables["senders"]["default"] is None


def test_the_module_gives_what_its_callers_read(dlq: Module):
    assert {name: body["value"] for name, body in dlq.outputs.items()} == {
        "arn": "${aws_sqs_queue.this.arn}",
        "name": "${aws_sqs_queue.this.name}",
        "url": "${aws_sqs_queue.this.url}",
    }


EVENTS = "events.amazonaws.com"

# Every dead-letter queue of each part: its name in AWS (unchanged from the
# resources of earlier versions), what encrypts it, who may send and for
# what, and the Region (provider) it is in.
ROOT_QUEUES = {
    "events_failed": ("${var.name}-events-failed", "${var.kms_key_arn}", None, None),
    "failures": ("${var.name}-failures", "${var.kms_key_arn}", None, None),
    "events_dlq": (
        "${var.name}-events-dlq",
        "${var.kms_key_arn}",
        {
            "sid": "OnlyTheseRulesSendUndeliveredEvents",
            "principal": EVENTS,
            "source_arns": "${[for key in sort(keys(local.enabled_event_rules)) : aws_cloudwatch_event_rule.account[key].arn]}",
        },
        None,
    ),
    # kms_key_arn is a key of the function's Region, useless in the Control Tower home Region.
    "control_tower_forward_dlq": (
        "${var.name}-ct-forward-dlq",
        None,
        {
            "sid": "OnlyTheForwardRuleSendsUndeliveredEvents",
            "principal": EVENTS,
            "source_arns": ["${aws_cloudwatch_event_rule.control_tower_forward[0].arn}"],
        },
        "${aws.control_tower}",
    ),
}

MANAGEMENT_QUEUES = {
    "forward_dlq": (
        "${var.name}-forward-dlq",
        None,
        {
            "sid": "OnlyTheForwardRulesSendUndeliveredEvents",
            "principal": EVENTS,
            "source_arns": "${[for key in sort(keys(local.forward_rules)) : aws_cloudwatch_event_rule.forward[key].arn]}",
        },
        None,
    ),
    "control_tower_forward_dlq": (
        "${var.name}-forward-ct-dlq",
        None,
        {
            "sid": "OnlyTheForwardRuleSendsUndeliveredEvents",
            "principal": EVENTS,
            "source_arns": ["${aws_cloudwatch_event_rule.control_tower_forward[0].arn}"],
        },
        "${aws.control_tower}",
    ),
}


@pytest.mark.parametrize("part_name", ["root", "management"])
def test_each_part_passes_each_queue_its_name_key_senders_and_region(part_name, module: Module, management: Module):
    part, expected, source = {
        "root": (module, ROOT_QUEUES, "./modules/dead-letter-queue"),
        "management": (management, MANAGEMENT_QUEUES, "../modules/dead-letter-queue"),
    }[part_name]
    calls = module_calls(part, "dead-letter-queue")
    assert set(calls) == set(expected)
    # No queue is declared outside the module any more but the events queue itself.
    assert set(part.resources_of_type("aws_sqs_queue")) <= {"events"}
    for name, (queue_name, key, senders, provider) in expected.items():
        call = dead_letter_queue(part, name)
        assert call["source"] == source, name
        assert call["name"] == queue_name, name
        assert call.get("kms_key_arn") == key, name
        assert call.get("senders") == senders, name
        assert call.get("providers") == (None if provider is None else {"aws": provider}), name
        assert call["tags"] == "${local.tags}", name
    ct = dead_letter_queue(part, "control_tower_forward_dlq")
    assert ct["count"] == {
        "root": "${local.forward_control_tower_events ? 1 : 0}",
        "management": "${local.control_tower_elsewhere ? 1 : 0}",
    }[part_name]


def test_the_queues_of_earlier_versions_keep_their_place():
    assert moved_blocks(INFRA_DIR / "queue.tf") == {
        ("${aws_sqs_queue.events_failed}", "${module.events_failed.aws_sqs_queue.this}"),
        ("${aws_sqs_queue.failures}", "${module.failures.aws_sqs_queue.this}"),
        ("${aws_sqs_queue.events_dlq}", "${module.events_dlq.aws_sqs_queue.this}"),
        ("${aws_sqs_queue_policy.events_dlq}", "${module.events_dlq.aws_sqs_queue_policy.this[0]}"),
        ("${aws_sqs_queue.control_tower_forward_dlq[0]}", "${module.control_tower_forward_dlq[0].aws_sqs_queue.this}"),
        (
            "${aws_sqs_queue_policy.control_tower_forward_dlq[0]}",
            "${module.control_tower_forward_dlq[0].aws_sqs_queue_policy.this[0]}",
        ),
    }
    assert moved_blocks(MANAGEMENT_DIR / "main.tf", "aws_sqs_queue") == {
        ("${aws_sqs_queue.forward_dlq}", "${module.forward_dlq.aws_sqs_queue.this}"),
        ("${aws_sqs_queue_policy.forward_dlq}", "${module.forward_dlq.aws_sqs_queue_policy.this[0]}"),
        ("${aws_sqs_queue.control_tower_forward_dlq[0]}", "${module.control_tower_forward_dlq[0].aws_sqs_queue.this}"),
        (
            "${aws_sqs_queue_policy.control_tower_forward_dlq[0]}",
            "${module.control_tower_forward_dlq[0].aws_sqs_queue_policy.this[0]}",
        ),
    }
