"""Offline checks of the sweep's state machine and schedule (infra/sweep.tf and its ASL
template) and of the events queue the rules feed (infra/queue.tf): what each is wired to,
the bounds that keep them from running away, and roles that allow exactly what they use.

The definition is run for real in the deploy rehearsal (tests/rehearsal/test_sweep.py)."""

from __future__ import annotations

import re

import pytest

from child_modules import dead_letter_queue
from hcl_model import Module, policy_statements
from sweep_definition import render, template_names

STATE_MACHINE_ARN = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.sweep_name}"
SCHEDULE_ARN = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/default/${local.sweep_name}"
# The function's errors that the same request would repeat.
NON_RETRYABLE = ["NonRetryable.InvalidEvent", "NonRetryable.ListAccounts", "NonRetryable.VariableSet"]


@pytest.fixture(scope="module")
def definition() -> dict:
    return render()


def _states(definition: dict) -> dict[str, dict]:
    return definition["States"]


def _successors(state: dict) -> set[str]:
    found = {state["Next"]} if "Next" in state else set()
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    if "Default" in state:
        found.add(state["Default"])
    found |= {catch["Next"] for catch in state.get("Catch", [])}
    return found


# ---------------------------------------------------------------------------
# The definition
# ---------------------------------------------------------------------------


def test_the_template_gets_exactly_what_it_interpolates(module: Module):
    call = module.locals["sweep_definition"]
    assert call.startswith('${templatefile("${path.module}/sweep.asl.json.tftpl", {')
    passed = set(re.findall(r"[{,] ?([a-z_]+) = ", call))
    assert passed == template_names()
    for fragment in (
        "function_arn = aws_lambda_function.this.arn",
        "task_timeout_seconds = var.timeout + 30",
        "retry_attempts = var.sweep_retry_attempts",
        "retry_interval_seconds = var.sweep_retry_interval_seconds",
        "max_invocations = var.sweep_max_invocations",
        "partition = local.partition",
    ):
        assert fragment in call, fragment


def test_every_state_is_reachable_and_every_path_ends(definition: dict):
    states = _states(definition)
    reachable, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        assert name in states, f"a transition goes to {name}, which does not exist"
        reachable.add(name)
        todo.extend(_successors(states[name]))
    assert reachable == set(states), f"unreachable: {set(states) - reachable}"
    for name, state in states.items():
        ends = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        assert ends or _successors(state), f"{name} leads nowhere"


def test_the_loop_is_bounded(definition: dict):
    states = _states(definition)
    # The one way back is from MoreToDo to Sweep, and only under the bound.
    back_edges = {(name, nxt) for name, state in states.items() for nxt in _successors(state) if nxt == "Sweep"}
    assert back_edges == {("ResumeFromInput", "Sweep"), ("FromTheStart", "Sweep"), ("MoreToDo", "Sweep")}
    choices = states["MoreToDo"]["Choices"]
    bound, no_progress, loop, failed = choices
    assert bound["Next"] == "TooManyInvocations"
    assert {"Variable": "$.invocations", "NumericGreaterThanEquals": 100} in bound["And"]
    assert no_progress["Next"] == "NoProgress"
    assert {"Variable": "$.last.accounts_seen", "NumericEquals": 0} in no_progress["And"]
    assert loop == {"Variable": "$.continuation", "IsNull": False, "Next": "Sweep"}
    assert failed == {"Variable": "$.totals.failed", "NumericGreaterThan": 0, "Next": "AccountsFailed"}
    assert states["MoreToDo"]["Default"] == "Swept"
    assert states["Count"]["Parameters"]["invocations.$"] == "States.MathAdd($.invocations, 1)"
    assert definition["TimeoutSeconds"] == 82800
    assert render({"max_invocations": 7})["States"]["MoreToDo"]["Choices"][0]["And"][1]["NumericGreaterThanEquals"] == 7


def test_the_function_is_asked_for_counts_and_only_those_are_kept(definition: dict):
    sweep = _states(definition)["Sweep"]
    assert sweep["Resource"] == "arn:aws:states:::lambda:invoke"
    assert sweep["Parameters"] == {
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:tfc-onboarder",
        "Payload": {"action": "reconcile", "brief": True, "continuation.$": "$.continuation"},
    }
    # The brief answer's fields (src/report.rs SweepStep), all of them required by the
    # selectors: a missing field fails the step.
    assert set(sweep["ResultSelector"]) == {
        f"{field}.$" for field in
        ("continuation", "accounts_seen", "onboarded", "unchanged", "planned", "skipped", "failed", "failed_accounts")
    }
    assert all(path == f"$.Payload.{key[:-2]}" for key, path in sweep["ResultSelector"].items())
    assert sweep["ResultPath"] == "$.last"
    assert sweep["TimeoutSeconds"] == 390


def test_a_failed_invocation_is_retried_with_backoff_then_fails_visibly(definition: dict):
    sweep = _states(definition)["Sweep"]
    never, backoff = sweep["Retry"]
    assert never["ErrorEquals"] == NON_RETRYABLE and never["MaxAttempts"] == 0
    assert backoff == {
        "ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "BackoffRate": 2, "MaxAttempts": 3,
        "MaxDelaySeconds": 900, "JitterStrategy": "FULL",
    }
    assert sweep["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "SweepFailed"}]
    failed = _states(definition)["SweepFailed"]
    assert failed == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    for name in ("AccountsFailed", "TooManyInvocations", "NoProgress"):
        state = _states(definition)[name]
        assert state["Type"] == "Fail" and state["Error"] == f"Sweep.{name}"
    for name in ("TooManyInvocations", "NoProgress"):
        assert "$.continuation" in _states(definition)[name]["CausePath"], "the cause says where to resume"


def test_only_the_oldest_running_execution_sweeps(definition: dict):
    states = _states(definition)
    listing = states["ListRunningSweeps"]
    assert listing["Resource"] == "arn:aws:states:::aws-sdk:sfn:listExecutions"
    assert listing["Parameters"] == {"StateMachineArn.$": "$$.StateMachine.Id", "StatusFilter": "RUNNING", "MaxResults": 100}
    assert states[definition["StartAt"]]["Type"] == "Wait"
    assert states["FindOldestRunning"]["Parameters"]["me.$"] == "$$.Execution.Id"
    (oldest,) = states["OldestIsThisOne"]["Choices"]
    assert oldest == {"Variable": "$.running.oldest", "StringEqualsPath": "$.running.me", "Next": "Resume"}
    assert states["OldestIsThisOne"]["Default"] == "AnotherSweepIsRunning"
    assert states["AnotherSweepIsRunning"].get("End") is True


# ---------------------------------------------------------------------------
# State machine, schedule and their roles
# ---------------------------------------------------------------------------


def test_state_machine(module: Module):
    machine = module.resource("aws_sfn_state_machine", "sweep")
    assert machine["name"] == "${local.sweep_name}"
    assert machine["type"] == "STANDARD", "an express workflow stops after 5 minutes"
    assert machine["role_arn"] == "${aws_iam_role.sweep.arn}"
    assert machine["definition"] == "${local.sweep_definition}"
    assert machine["depends_on"] == ["${aws_iam_role_policy.sweep}"]
    assert module.locals["sweep_name"] == "${var.name}-sweep"
    assert module.locals["sweep_state_machine_arn"] == STATE_MACHINE_ARN


def _only_statement(module: Module, document: str) -> list[dict]:
    statements = policy_statements(module.data_source("aws_iam_policy_document", document))
    for statement in statements:
        assert statement.get("effect", "Allow") == "Allow"
        assert "*" not in statement["resources"], f"{document}: {statement}"
    return statements


def test_the_state_machine_role_allows_exactly_what_its_tasks_call(module: Module, definition: dict):
    calls = {
        "arn:aws:states:::lambda:invoke": "lambda:InvokeFunction",
        "arn:aws:states:::aws-sdk:sfn:listExecutions": "states:ListExecutions",
    }
    used = {calls[s["Resource"]] for s in _states(definition).values() if s["Type"] == "Task"}
    statements = _only_statement(module, "sweep")
    granted = {a for s in statements for a in s["actions"]}
    assert granted == used
    resources = {s["actions"][0]: s["resources"] for s in statements}
    assert resources == {
        "lambda:InvokeFunction": ["${aws_lambda_function.this.arn}"],
        "states:ListExecutions": ["${local.sweep_state_machine_arn}"],
    }
    policy = module.resource("aws_iam_role_policy", "sweep")
    assert policy["role"] == "${aws_iam_role.sweep.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.sweep.json}"


@pytest.mark.parametrize(
    ("document", "service", "source_arn"),
    [("sweep_assume_role", "states.amazonaws.com", "${local.sweep_state_machine_arn}"),
     ("scheduler_assume_role", "scheduler.amazonaws.com", "${local.sweep_schedule_arn}")],
)
def test_each_role_trusts_only_its_own_resource(module: Module, document: str, service: str, source_arn: str):
    (statement,) = policy_statements(module.data_source("aws_iam_policy_document", document))
    assert statement["actions"] == ["sts:AssumeRole"]
    assert statement["principals"] == [{"type": "Service", "identifiers": [service]}]
    conditions = {c["variable"]: (c["test"], c["values"]) for c in statement["condition"]}
    assert conditions == {
        "aws:SourceAccount": ("StringEquals", ["${local.account_id}"]),
        "aws:SourceArn": ("ArnEquals", [source_arn]),
    }
    assert module.locals["sweep_schedule_arn"] == SCHEDULE_ARN


def test_the_schedule_starts_the_state_machine_and_keeps_what_it_could_not(module: Module):
    schedule = module.resource("aws_scheduler_schedule", "sweep")
    assert schedule["count"] == "${var.reconcile_schedule == null ? 0 : 1}"
    assert schedule["schedule_expression"] == "${var.reconcile_schedule}"
    assert schedule["flexible_time_window"] == [{"mode": "OFF"}]
    assert "group_name" not in schedule, "the schedule ARN the trust names is in the default group"
    (target,) = schedule["target"]
    assert target["arn"] == "${aws_sfn_state_machine.sweep.arn}"
    assert target["role_arn"] == "${aws_iam_role.scheduler[0].arn}"
    assert target["input"] == "${jsonencode({})}"
    assert target["retry_policy"] == [{
        "maximum_retry_attempts": "${var.rule_maximum_retry_attempts}",
        "maximum_event_age_in_seconds": "${var.rule_maximum_event_age_in_seconds}",
    }]
    assert target["dead_letter_config"] == [{"arn": "${module.events_dlq.arn}"}]

    statements = policy_statements(module.data_source("aws_iam_policy_document", "scheduler"))
    by_action = {a: s for s in statements for a in s["actions"]}
    assert set(by_action) == {"states:StartExecution", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey"}
    assert by_action["states:StartExecution"]["resources"] == ["${aws_sfn_state_machine.sweep.arn}"]
    assert by_action["sqs:SendMessage"]["resources"] == ["${module.events_dlq.arn}"]
    assert by_action["kms:Decrypt"]["for_each"] == "${var.kms_key_arn == null ? [] : [var.kms_key_arn]}"
    for name in ("scheduler_assume_role", "scheduler"):
        assert module.data_source("aws_iam_policy_document", name)["count"] == "${var.reconcile_schedule == null ? 0 : 1}"
    for kind in ("aws_iam_role", "aws_iam_role_policy"):
        assert module.resource(kind, "scheduler")["count"] == "${var.reconcile_schedule == null ? 0 : 1}"


def test_the_sweep_alarms_watch_the_state_machine(module: Module):
    alarms = module.locals["alarms"]
    for name, metric in (("sweep-failed", "ExecutionsFailed"), ("sweep-timed-out", "ExecutionsTimedOut")):
        assert f"{name} = {{" in alarms, name
        assert (f'namespace = "AWS/States", metric = "{metric}", '
                "dimensions = {StateMachineArn = aws_sfn_state_machine.sweep.arn}") in alarms, name


# ---------------------------------------------------------------------------
# Events queue
# ---------------------------------------------------------------------------


def test_the_events_queue_outlives_outages_and_gives_up_into_its_own_queue(module: Module):
    queue = module.resource("aws_sqs_queue", "events")
    assert queue["message_retention_seconds"] == 14 * 24 * 3600
    assert queue["visibility_timeout_seconds"] == "${local.events_visibility_timeout_seconds}"
    assert module.locals["events_visibility_timeout_seconds"] == "${6 * var.timeout}"
    assert queue["redrive_policy"] == (
        "${jsonencode({deadLetterTargetArn = module.events_failed.arn, maxReceiveCount = local.events_max_receive_count})}"
    )
    assert module.locals["events_max_receive_count"] == "${var.maximum_retry_attempts + 1}"
    assert queue["kms_master_key_id"] == "${var.kms_key_arn}"
    assert queue["sqs_managed_sse_enabled"] == "${var.kms_key_arn == null ? true : null}"
    # Kept 14 days and encrypted by the dead-letter-queue module (test_dead_letter_queue.py),
    # with the same key; SQS redrive needs no queue policy.
    failed = dead_letter_queue(module, "events_failed")
    assert failed["kms_key_arn"] == "${var.kms_key_arn}"
    assert "senders" not in failed


def test_only_the_rules_may_queue_events(module: Module):
    (statement,) = policy_statements(module.data_source("aws_iam_policy_document", "events"))
    assert statement["actions"] == ["sqs:SendMessage"]
    assert statement["resources"] == ["${aws_sqs_queue.events.arn}"]
    assert statement["principals"] == [{"type": "Service", "identifiers": ["events.amazonaws.com"]}]
    (condition,) = statement["condition"]
    assert (condition["test"], condition["variable"]) == ("ArnEquals", "aws:SourceArn")
    assert condition["values"] == "${[for key in sort(keys(local.enabled_event_rules)) : aws_cloudwatch_event_rule.account[key].arn]}"
    policy = module.resource("aws_sqs_queue_policy", "events")
    assert policy["queue_url"] == "${aws_sqs_queue.events.id}"


def test_the_function_drains_the_queue_at_a_bounded_concurrency(module: Module):
    mapping = module.resource("aws_lambda_event_source_mapping", "events")
    assert mapping["event_source_arn"] == "${aws_sqs_queue.events.arn}"
    assert mapping["function_name"] == "${aws_lambda_function.this.arn}"
    assert mapping["batch_size"] == 10
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["scaling_config"] == [{"maximum_concurrency": "${var.event_max_concurrency}"}]
    assert mapping["depends_on"] == ["${aws_iam_role_policy.lambda}"]


def test_the_containers_together_stay_within_the_budget(module: Module):
    assert module.locals["tfe_rate_limit"] == "${floor(var.tfe_requests_per_second / var.event_max_concurrency)}"
    for containers in range(2, 31):
        for budget in range(containers, 31):  # smaller budgets are refused, below
            assert containers * (budget // containers) <= budget <= 30
    assert 2 * (28 // 2) == 28, "the defaults use the whole default budget"


def test_a_budget_too_small_for_the_containers_is_refused_at_plan(module: Module):
    (lifecycle,) = module.resource("aws_lambda_function", "this")["lifecycle"]
    (precondition,) = lifecycle["precondition"]
    assert precondition["condition"] == "${local.tfe_rate_limit >= 1}"
    assert "tfe_requests_per_second" in precondition["error_message"]


def test_the_queue_alarms(module: Module):
    alarms = module.locals["alarms"]
    for watched in (
        'events-failed-not-empty = {',
        'metric = "ApproximateNumberOfMessagesVisible", dimensions = {QueueName = module.events_failed.name}',
        'events-queue-stalled = {',
        'metric = "ApproximateAgeOfOldestMessage", dimensions = {QueueName = aws_sqs_queue.events.name}, '
        'statistic = "Maximum", threshold = local.events_visibility_timeout_seconds * local.events_max_receive_count + 900}',
    ):
        assert watched in alarms, watched
