"""The module's examples through the real Terraform CLI and hashicorp/aws provider, against
moto: formatted, valid, planned, applied, stable, and destroyed without leftovers."""

from __future__ import annotations

import json
import subprocess
import time

from rehearsal.conftest import fact, record
from rehearsal.stage import REPO_ROOT, Stage
from rehearsal.terraform import find_terraform, resource_kinds

MINIMAL = "infra/examples/minimal"
COMPLETE = "infra/examples/complete"
ROLE_NAMES_DEFAULT = "OrganizationAccountAccessRole,AWSControlTowerExecution"


def test_terraform_files_are_formatted():
    completed = subprocess.run(
        [find_terraform(), "fmt", "-check", "-recursive", "-diff", "infra"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, f"run `terraform fmt -recursive infra`:\n{completed.stdout}{completed.stderr}"


def test_minimal_example_applies_with_the_defaults_and_destroys(stage: Stage, deployment_zip):
    org_id = stage.fresh_organization()
    tf = stage.terraform(MINIMAL, [None])
    tf.run("init", "-input=false")
    tf.run("validate")
    tf.run("plan", "-input=false", "-var", "tfe_organization=rehearsal-org", "-out", "plan.bin")
    started = time.monotonic()
    tf.run("apply", "-input=false", "plan.bin")
    record("minimal example: apply", time.monotonic() - started)
    # A second plan must find nothing to change: no attribute the provider reads back
    # differently from what the module wrote.
    again = tf.run("plan", "-input=false", "-detailed-exitcode", "-var", "tfe_organization=rehearsal-org", check=False)
    assert again.returncode == 0, f"the second plan is not empty:\n{tf.steps[-1].output[-6000:]}"

    resources = tf.state_resources()
    fact("minimal example: resources", resource_kinds(resources))
    operator = stage.operator
    lam = stage.world.client("lambda", operator)
    config = lam.get_function_configuration(FunctionName="tfc-onboarder")
    env = config["Environment"]["Variables"]
    assert env["ONBOARD_ACCESS_ROLE_NAMES"] == ROLE_NAMES_DEFAULT
    assert "ONBOARD_ACCESS_ROLE_NAME" not in env and "ONBOARD_CONTROL_TOWER_ROLE_NAME" not in env
    assert env["TFE_TOKEN_SECRET_ID"].split(":secret:")[1].startswith("tfc-onboarder/tfe-api-token-")
    assert config["Architectures"] == ["arm64"]

    iam = stage.world.client("iam", operator)
    (policy_name,) = iam.list_role_policies(RoleName="tfc-onboarder")["PolicyNames"]
    document = iam.get_role_policy(RoleName="tfc-onboarder", PolicyName=policy_name)["PolicyDocument"]
    (assume,) = [s for s in document["Statement"] if s["Action"] == "sts:AssumeRole"]
    assert sorted(assume["Resource"]) == [
        "arn:aws:iam::*:role/AWSControlTowerExecution", "arn:aws:iam::*:role/OrganizationAccountAccessRole",
    ]
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": org_id}}

    assert config["Timeout"] == 360
    assert env["TFE_RATE_LIMIT"] == "14", "28 requests per second split between 2 containers"

    events = stage.world.client("events", operator)
    rules = {r["Name"]: r for r in events.list_rules()["Rules"]}
    assert set(rules) == {
        "tfc-onboarder-create-account-result", "tfc-onboarder-close-account-result", "tfc-onboarder-remove-account",
    }
    sqs = stage.world.client("sqs", operator)
    queue = {name: sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=f"tfc-onboarder-{name}")["QueueUrl"],
                                            AttributeNames=["All"])["Attributes"]
             for name in ("events", "events-failed", "events-dlq")}
    assert all(attributes["SqsManagedSseEnabled"] == "true" for attributes in queue.values())
    assert queue["events"]["VisibilityTimeout"] == str(6 * 360)
    assert json.loads(queue["events"]["RedrivePolicy"]) == {"deadLetterTargetArn": queue["events-failed"]["QueueArn"], "maxReceiveCount": 3}
    for name in ("events", "events-dlq"):
        (statement,) = json.loads(queue[name]["Policy"])["Statement"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}, name
        assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(r["Arn"] for r in rules.values()), name
    for name in rules:
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert target["Arn"] == queue["events"]["QueueArn"], name
        assert target["DeadLetterConfig"] == {"Arn": queue["events-dlq"]["QueueArn"]}, name
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}, name
    (mapping,) = lam.list_event_source_mappings()["EventSourceMappings"]
    assert mapping["FunctionArn"] == config["FunctionArn"]
    assert mapping["EventSourceArn"] == queue["events"]["QueueArn"] and mapping["BatchSize"] == 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    machine = stage.world.client("stepfunctions", operator).describe_state_machine(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:tfc-onboarder-sweep")
    assert machine["roleArn"] == "arn:aws:iam::123456789012:role/tfc-onboarder-sweep" and machine["type"] == "STANDARD"
    schedule = stage.world.client("scheduler", operator).get_schedule(Name="tfc-onboarder-sweep")
    assert schedule["ScheduleExpression"] == "rate(1 day)" and schedule["Target"]["Arn"] == machine["stateMachineArn"]
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": queue["events-dlq"]["QueueArn"]}

    alarms = stage.world.client("cloudwatch", operator).describe_alarms()["MetricAlarms"]
    failed = {a["Dimensions"][0]["Value"] for a in alarms if a["MetricName"] == "FailedInvocations"}
    assert failed == set(rules)
    depth = {a["Dimensions"][0]["Value"] for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible"}
    assert depth == {"tfc-onboarder-failures", "tfc-onboarder-events-failed", "tfc-onboarder-events-dlq"}
    sweeps = {a["MetricName"]: a["Dimensions"] for a in alarms if a["Namespace"] == "AWS/States"}
    assert sweeps == {metric: [{"Name": "StateMachineArn", "Value": machine["stateMachineArn"]}]
                      for metric in ("ExecutionsFailed", "ExecutionsTimedOut")}
    (own,) = [a for a in alarms if a["Namespace"] == "TfcOnboarder"]
    assert own["MetricName"] == "Onboardings"
    assert {d["Name"]: d["Value"] for d in own["Dimensions"]} == {"FunctionName": "tfc-onboarder", "Outcome": "failed"}
    cloudwatch = stage.world.client("cloudwatch", operator)
    assert [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]] == ["tfc-onboarder"]
    widgets = json.loads(cloudwatch.get_dashboard(DashboardName="tfc-onboarder")["DashboardBody"])["widgets"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(a["AlarmArn"] for a in alarms)

    started = time.monotonic()
    tf.run("destroy", "-auto-approve", "-input=false", "-var", "tfe_organization=rehearsal-org")
    record("minimal example: destroy", time.monotonic() - started)
    assert tf.state_resources() == []
    assert lam.list_functions()["Functions"] == []
    assert events.list_rules()["Rules"] == []
    assert stage.world.client("stepfunctions", operator).list_state_machines()["stateMachines"] == []
    assert stage.world.client("scheduler", operator).list_schedules()["Schedules"] == []
    assert stage.world.client("sqs", operator).list_queues().get("QueueUrls", []) == []
    assert cloudwatch.list_dashboards()["DashboardEntries"] == []


def test_complete_example_plans_every_option(stage: Stage, deployment_zip):
    """Control Tower in another Region and a new trail, planned (the trail and its bucket
    lifecycle hang moto on apply, so they are planned, not applied)."""
    stage.fresh_organization()
    tf = stage.terraform(COMPLETE, [None, "control_tower"])
    tf.run("init", "-input=false")
    tf.run("validate")
    tf.run("plan", "-input=false", "-out", "plan.bin", "-var", "tfe_organization=rehearsal-org",
           "-var", "control_tower_home_region=eu-west-1", "-var", "create_cloudtrail=true")
    plan = json.loads(tf.run("show", "-json", "plan.bin").stdout)
    planned = [c["address"] for c in plan["resource_changes"] if c["change"]["actions"] == ["create"]]
    kinds = resource_kinds(planned)
    fact("complete example with Control Tower and a trail: planned", kinds)
    assert kinds["aws_cloudtrail"] == 1
    forwarding = {a.split(".", 2)[2] for a in planned if "control_tower_forward" in a or ".control_tower_alarms." in a}
    assert forwarding == {
        "aws_cloudwatch_event_rule.control_tower_forward[0]", "aws_cloudwatch_event_target.control_tower_forward[0]",
        "module.control_tower_forward_role[0].aws_iam_role.this",
        "module.control_tower_forward_role[0].aws_iam_role_policy.this",
        "module.control_tower_forward_dlq[0].aws_sqs_queue.this",
        "module.control_tower_forward_dlq[0].aws_sqs_queue_policy.this[0]",
        'module.control_tower_alarms.aws_cloudwatch_metric_alarm.this["control-tower-forward-failed-invocations"]',
        'module.control_tower_alarms.aws_cloudwatch_metric_alarm.this["ct-forward-dlq-not-empty"]',
    }


def test_a_partial_secret_arn_is_refused_at_plan_time(stage: Stage, deployment_zip):
    stage.fresh_organization()
    root = stage.scratch / "rehearsal-partial-secret-arn"
    root.mkdir(exist_ok=True)
    (root / "main.tf").write_text(
        'provider "aws" {\n  region = "us-east-1"\n}\n\n'
        'module "tfc_onboarder" {\n  source = "../infra"\n'
        '  providers = {\n    aws               = aws\n    aws.control_tower = aws\n  }\n'
        '  lambda_zip_path  = "${path.module}/../target/lambda/tfc-onboarder/bootstrap.zip"\n'
        '  tfe_organization = "rehearsal-org"\n'
        '  # The name only, without the six characters Secrets Manager appends.\n'
        '  existing_token_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tfc-onboarder/tfe-api-token"\n'
        "}\n"
    )
    tf = stage.terraform(root.name, [None])
    tf.run("init", "-input=false")
    refused = tf.run("plan", "-input=false", check=False)
    # Terraform wraps long messages; compare the words.
    output = " ".join(tf.steps[-1].output.split())
    assert refused.returncode == 1, output[-3000:]
    assert "existing_token_secret_arn must be the secret's complete ARN" in output, output[-3000:]
    assert "aws secretsmanager describe-secret" in output
