"""The README's Deploy section, run verbatim against moto, then the deployed function at
work under IAM enforcement.

The deployment made by the README (infra/examples/complete, in a scratch copy of the
repository) is shared by the tests of this file, which run in order: the manual event of
the README, an account created later (rule -> queue -> function), a replay, the daily
sweep (schedule -> state machine -> function, looping over continuations), two sweeps at
once, a sweep whose function keeps failing, the roles of the schedule and the state
machine, offboarding, an event EventBridge cannot queue, Control Tower events from
another Region, the reach of the function role, a permission taken away, an event failed
on every receive, and the queue's poller. The module fixture destroys it at the end.

What runs is the real function (the x86_64 build of the source the arm64 zip was built
from) as a Lambda: exactly the deployed environment, signed with the deployed role's
credentials, while moto enforces IAM. See stage.py for the parts, and the README of the
folder for what moto cannot do and how the gap is closed.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rehearsal.conftest import fact, record
from rehearsal.event_source_mapping import Batch
from rehearsal.lambda_runtime import SERVICE_SET, Invocation
from rehearsal.readme_script import Prompt, TerminalRun, deploy_blocks, run_in_terminal, section, shell_blocks
from rehearsal.stage import ORGANIZATION, Stage
from rehearsal.step_functions import wait_for_execution
from rehearsal.terraform import Terraform, resource_kinds

COMPLETE = "infra/examples/complete"
FUNCTION = "tfc-onboarder"
MANUAL_ACCOUNT = "444455556666"  # the account events/manual.json names
EVENTS = Path(__file__).resolve().parents[2] / "events"
APPROVAL = r"Only 'yes' will be accepted to approve\.\s*\n\s*Enter a value: "
APPLY_DONE = r"Apply complete! Resources: \d+ added"
DOCTOR_CHECKS = ["credentials", "cloudtrail", "event rules", "terraform cloud", "access roles", "role policies"]
# Each read doctor needs beyond what onboarding needs, and the check that stops working
# without it.
DOCTOR_READS = {
    "cloudtrail:DescribeTrails": "cloudtrail",
    "cloudtrail:GetTrailStatus": "cloudtrail",
    "cloudtrail:GetEventSelectors": "cloudtrail",
    "events:ListRuleNamesByTarget": "event rules",
    "events:DescribeRule": "event rules",
}


@dataclass
class Deployment:
    tf: Terraform
    run: TerminalRun
    outputs: dict[str, Any]
    ready_queue_url: str
    trail_arn: str
    # Member accounts onboarded so far, as the tests go.
    onboarded: list[str] = field(default_factory=list)


def sample(name: str, account: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text().replace("444455556666", account))


def _ready_event_observer(stage: Stage) -> str:
    """A queue subscribed to the function's ready events on the default bus."""
    sqs = stage.world.client("sqs", stage.operator)
    url = sqs.create_queue(QueueName="rehearsal-ready-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = stage.world.client("events", stage.operator)
    events.put_rule(Name="rehearsal-ready-events", EventPattern=json.dumps({"source": ["tfc-onboarder"]}))
    events.put_targets(Rule="rehearsal-ready-events", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def _organization_trail(stage: Stage) -> str:
    """The trail a Control Tower landing zone has, for the README's step 0 to find."""
    stage.world.client("s3", stage.operator).create_bucket(Bucket="aws-controltower-logs-rehearsal")
    cloudtrail = stage.world.client("cloudtrail", stage.operator)
    trail = cloudtrail.create_trail(
        Name="aws-controltower-BaselineCloudTrail", S3BucketName="aws-controltower-logs-rehearsal",
        IsMultiRegionTrail=True, IncludeGlobalServiceEvents=True,
    )
    cloudtrail.put_event_selectors(
        TrailName=trail["TrailARN"],
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
    )
    # A landing zone's trail logs (a new trail does not until started).
    cloudtrail.start_logging(Name="aws-controltower-BaselineCloudTrail")
    return trail["TrailARN"]


@pytest.fixture(scope="module")
def deployment(stage: Stage, deployment_zip: Path) -> Iterator[Deployment]:
    stage.fresh_organization()
    stage.world.create_member_account("team-payments-prod", account_id=MANUAL_ACCOUNT)
    ready_queue = _ready_event_observer(stage)
    trail_arn = _organization_trail(stage)
    stage.prepare_root_module(COMPLETE, [None, "control_tower"])

    script = "".join(deploy_blocks(stage.scratch / "README.md"))
    prompts = [
        Prompt(re.compile(r"var\.tfe_organization\n(?:.*\n)*?\s*Enter a value: "), ORGANIZATION),
        Prompt(re.compile(APPROVAL), "yes"),
        Prompt(re.compile(r"HCP Terraform API token: "), stage.token),
    ]
    run = run_in_terminal(
        script, stage.scratch, stage.base_env(), prompts,
        # A first arm64 build of every dependency takes most of this on 2 cores.
        timeout=40 * 60, log_file=stage.work_dir / "readme-deploy.log", watch=(APPLY_DONE,),
    )
    record("README Deploy section (build, init, apply, secret, invoke)", run.seconds)
    if APPLY_DONE in run.seen and APPROVAL in run.seen:
        record("README: terraform apply (from 'yes' to 'Apply complete')", run.seen[APPLY_DONE] - run.seen[APPROVAL])
    assert run.returncode == 0, f"the README's Deploy section failed (exit {run.returncode}):\n{run.output[-8000:]}"

    tf = Terraform(stage.scratch / COMPLETE, {**stage.base_env(), "TF_IN_AUTOMATION": "1"}, stage.terraform_binary)
    outputs = {k: v["value"] for k, v in json.loads(tf.run("output", "-json").stdout).items()}
    resources = tf.state_resources()
    fact("README deployment: resources applied", f"{len(resources)}: {json.dumps(resource_kinds(resources))}")
    yield Deployment(tf, run, outputs, ready_queue, trail_arn)

    started = time.monotonic()
    tf.run("destroy", "-auto-approve", "-input=false", f"-var=tfe_organization={ORGANIZATION}")
    record("README deployment: terraform destroy", time.monotonic() - started)
    assert tf.state_resources() == []
    assert stage.world.client("lambda", stage.operator).list_functions()["Functions"] == []


def _ready_events(stage: Stage, queue_url: str) -> list[dict[str, Any]]:
    sqs = stage.world.client("sqs", stage.operator)
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _member_iam(stage: Stage, account: str) -> Any:
    credentials = stage.world.assume_unchecked(f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole")
    return stage.world.client("iam", credentials)


def _logged_reports(invocation: Invocation) -> list[dict[str, Any]]:
    """The reports the function logged (one per account it handled), from its JSON log."""
    found = []
    for line in invocation.logs.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("message") in ("onboarding report", "offboarding report"):
            found.append(json.loads(entry["report"]))
    return found


def _drain_one(stage: Stage, event: dict[str, Any]) -> Batch:
    """The events queue's poller hands the queued `event` to the function, alone."""
    assert stage.event_sources
    (batch,) = stage.event_sources.drain()
    invocation = batch.invocation
    assert invocation.invocation_type == "RequestResponse" and invocation.kind == "response", invocation.describe()
    (record,) = invocation.event["Records"]
    assert json.loads(record["body"]) == event and record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == batch.queue_arn and batch.queue_arn.endswith(f":{FUNCTION}-events")
    return batch


def _deliver_once(stage: Stage, event: dict[str, Any], expected_rule: str, region: str = "us-east-1") -> Batch:
    """`event` must match exactly `expected_rule` among the deployed rules, be queued by it,
    and reach the function through the queue's event source mapping."""
    assert stage.eventbridge
    matched = [rule["Name"] for rule in stage.eventbridge.matching_rules(event, region)]
    assert matched == [expected_rule], f"the deployed patterns matched {matched}"
    (delivery,) = stage.eventbridge.deliver(event, region)
    assert delivery.outcome == "queued", delivery
    return _drain_one(stage, event)


def _queued_report(stage: Stage, event: dict[str, Any], expected_rule: str) -> tuple[Batch, dict[str, Any]]:
    batch = _deliver_once(stage, event, expected_rule)
    assert batch.failed == [], batch.invocation.describe()
    assert batch.invocation.response == {"batchItemFailures": []}
    (report,) = _logged_reports(batch.invocation)
    return batch, report


# ---------------------------------------------------------------------------------------


def test_readme_deploy_section_ran_verbatim(stage: Stage, deployment: Deployment):
    run = deployment.run
    assert len(run.answered) == 3, f"prompts answered: {run.answered}"
    assert stage.token not in run.output, "the token was echoed to the terminal"
    # Step 0 found the landing zone's trail and what it records.
    assert f"{deployment.trail_arn} (home Region us-east-1, organization trail: False, all Regions: True)" in run.output
    # Step 5: the manual event onboarded the account it names.
    report = json.loads((stage.scratch / COMPLETE / "out.json").read_text())
    assert report["account_id"] == MANUAL_ACCOUNT and report["outcome"] == "onboarded", report
    invocation = next(i for i in stage.lambdas.invocations if i.event == json.loads((EVENTS / "manual.json").read_text()))
    assert invocation.invocation_type == "RequestResponse" and invocation.deployed_architecture == "arm64"

    iam = _member_iam(stage, MANUAL_ACCOUNT)
    provider_arn = f"arn:aws:iam::{MANUAL_ACCOUNT}:oidc-provider/app.terraform.io"
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)["ClientIDList"] == ["aws.workload.identity"]
    for phase in ("plan", "apply"):
        trust = iam.get_role(RoleName=f"terraform-cloud-{phase}")["Role"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Condition"]["StringLike"]["app.terraform.io:sub"] == (
            f"organization:{ORGANIZATION}:project:landing-zone:workspace:*:run_phase:{phase}"
        )
    # Step 4: the deployed function's doctor found everything in place, reading only.
    doctor = json.loads((stage.scratch / COMPLETE / "doctor.json").read_text())
    assert doctor["ok"] is True, json.dumps(doctor, indent=2)
    assert [(c["check"], c["status"]) for c in doctor["checks"]] == [
        (name, "pass") for name in DOCTOR_CHECKS
    ], json.dumps(doctor, indent=2)

    variables = stage.fake.varsets()[f"aws-{MANUAL_ACCOUNT}"]
    assert variables["TFC_AWS_PROVIDER_AUTH"] == "true"
    assert variables["TFC_AWS_PLAN_ROLE_ARN"] == f"arn:aws:iam::{MANUAL_ACCOUNT}:role/terraform-cloud-plan"
    assert variables["TFC_AWS_APPLY_ROLE_ARN"] == f"arn:aws:iam::{MANUAL_ACCOUNT}:role/terraform-cloud-apply"

    ready = _ready_events(stage, deployment.ready_queue_url)
    assert [(e["detail-type"], e["detail"]["account_id"]) for e in ready] == [("Account Onboarded", MANUAL_ACCOUNT)]
    deployment.onboarded.append(MANUAL_ACCOUNT)
    # Step 6: the dashboard's address.
    assert f"https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name={FUNCTION}" in run.output


def test_the_function_runs_with_exactly_the_deployed_environment_and_role(stage: Stage, deployment: Deployment):
    deployed = stage.world.client("lambda", stage.operator).get_function_configuration(FunctionName=FUNCTION)
    variables = deployed["Environment"]["Variables"]
    (environment,) = [e for pool in stage.lambdas._pools.values() for e in pool if e.reusable]
    pid = environment.process.pid
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    running = dict(item.decode().split("=", 1) for item in raw if item)
    platform = set(stage.lambdas.platform_env)
    # The deployed variables, unchanged, and nothing else but what Lambda itself sets and
    # what stands for AWS here (its endpoint, the trust store of the local CA).
    assert {k: v for k, v in running.items() if k not in SERVICE_SET | platform} == variables
    assert not (SERVICE_SET | platform) & set(variables)
    assert variables["TFE_TOKEN_SECRET_ID"] == deployment.outputs["secret_arn"]
    assert "TFE_TOKEN" not in running
    assert stage.token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()

    role_credentials = type(stage.operator)(running["AWS_ACCESS_KEY_ID"], running["AWS_SECRET_ACCESS_KEY"], running["AWS_SESSION_TOKEN"])
    identity = stage.world.client("sts", role_credentials).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{FUNCTION}/{FUNCTION}"
    assert deployed["Role"] == f"arn:aws:iam::123456789012:role/{FUNCTION}"


def test_the_token_comes_from_the_deployed_secret(stage: Stage, deployment: Deployment):
    secret = stage.world.client("secretsmanager", stage.operator).get_secret_value(SecretId=deployment.outputs["secret_arn"])
    assert secret["SecretString"] == stage.token
    assert deployment.outputs["secret_arn"].split(":secret:")[1].startswith("tfc-onboarder/tfe-api-token-")
    # The first invocation started cold and read the secret; it was accepted by the fake.
    assert stage.lambdas.invocations[0].cold_start
    assert stage.fake.varsets(), "nothing reached Terraform Cloud"


def test_a_new_account_is_onboarded_through_the_deployed_rule_and_queue(stage: Stage, deployment: Deployment):
    account = stage.world.create_member_account("team-data-dev")
    batch, report = _queued_report(stage, sample("create-account-result.json", account), f"{FUNCTION}-create-account-result")
    assert report["account_id"] == account and report["outcome"] == "onboarded", report
    assert not batch.invocation.cold_start, "the warm execution environment should have been reused"
    assert f"aws-{account}" in stage.fake.varsets()
    deployment.onboarded.append(account)
    ready = _ready_events(stage, deployment.ready_queue_url)
    assert [(e["source"], e["detail-type"], e["detail"]["account_id"]) for e in ready] == [
        ("tfc-onboarder", "Account Onboarded", account)
    ]

    # EventBridge delivers at least once: the same event again changes nothing.
    _, again = _queued_report(stage, sample("create-account-result.json", account), f"{FUNCTION}-create-account-result")
    assert again["outcome"] == "unchanged", again
    assert all(change["action"] == "unchanged" for change in again["changes"]), again["changes"]
    _ready_events(stage, deployment.ready_queue_url)


# ---------------------------------------------------------------------------------------
# The daily sweep: EventBridge Scheduler -> Step Functions -> the function, in a loop


def _sweep_invocations(stage: Stage, since: int) -> list[Invocation]:
    return [i for i in stage.lambdas.invocations[since:] if i.event.get("action") == "reconcile"]


def _wait(stage: Stage, execution_arn: str) -> dict[str, Any]:
    return wait_for_execution(stage.world, stage.operator, execution_arn)


def _fire_sweep(stage: Stage) -> dict[str, Any]:
    assert stage.scheduler
    fired = stage.scheduler.fire(f"{FUNCTION}-sweep")
    assert fired.dead_letter is None, fired.dead_letter
    return _wait(stage, fired.execution_arn)


def _role_policy(stage: Stage, role: str) -> tuple[Any, str, dict[str, Any]]:
    iam = stage.world.client("iam", stage.operator)
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    return iam, name, iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def test_the_daily_sweep_loops_over_continuations_until_the_organization_is_done(stage: Stage, deployment: Deployment):
    """The deployed schedule starts the deployed state machine, which invokes the function
    with each continuation it returned until none is left. The invocation budget is shrunk
    so that one invocation cannot finish the organization: a function timeout of 33 s
    leaves 3 s before the 30 s reserve, Terraform Cloud answers in 1 s, and one account runs
    at a time (an operator's change of the function's configuration, undone afterwards)."""
    swept = [stage.world.create_member_account(f"team-swept-{i}") for i in range(4)]
    everyone = deployment.onboarded + swept
    lam = stage.world.client("lambda", stage.operator)
    deployed = lam.get_function_configuration(FunctionName=FUNCTION)
    shrunk = dict(deployed["Environment"]["Variables"], ONBOARD_CONCURRENCY="1")
    lam.update_function_configuration(FunctionName=FUNCTION, Timeout=33, Environment={"Variables": shrunk})
    stage.fake.latency = 1.0
    before = len(stage.lambdas.invocations)
    started = time.monotonic()
    try:
        execution = _fire_sweep(stage)
    finally:
        stage.fake.latency = 0.0
        lam.update_function_configuration(FunctionName=FUNCTION, Timeout=deployed["Timeout"],
                                          Environment={"Variables": deployed["Environment"]["Variables"]})
    record("daily sweep over continuations (budget shrunk)", time.monotonic() - started)
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    invocations = _sweep_invocations(stage, before)
    fact("daily sweep with a shrunk budget: invocations, accounts per invocation",
         [len(invocations), [len(_logged_reports(i)) for i in invocations]])

    # Three continuations or more, each passed back as the function returned it.
    assert len(invocations) >= 3 and output["invocations"] == len(invocations), output
    assert all(i.kind == "response" for i in invocations), [i.describe() for i in invocations]
    passed = [None] + [i.response["continuation"] for i in invocations[:-1]]
    assert [i.event for i in invocations] == [{"action": "reconcile", "brief": True, "continuation": c} for c in passed]
    assert None not in passed[1:] and invocations[-1].response["continuation"] is None
    assert all(len(json.dumps(i.response)) < 1024 for i in invocations), "the brief answer stays small"

    # Every account exactly once, as the reports logged by the function and the fake say.
    reached = [r["account_id"] for i in invocations for r in _logged_reports(i)]
    assert sorted(reached) == sorted(everyone), reached
    assert output["totals"] == {
        "accounts_seen": len(everyone), "onboarded": len(swept), "unchanged": len(deployment.onboarded),
        "planned": 0, "skipped": 0, "failed": 0,
    }, output
    varsets = stage.fake.varsets()
    assert all(varsets[f"aws-{account}"]["TFC_AWS_PROVIDER_AUTH"] == "true" for account in everyone)
    ready = _ready_events(stage, deployment.ready_queue_url)
    assert sorted(e["detail"]["account_id"] for e in ready) == sorted(swept)
    deployment.onboarded += swept


def test_only_one_sweep_runs_at_a_time(stage: Stage, deployment: Deployment):
    """The schedule's start and an operator's start (the README's command) at the same
    moment: the older one sweeps, the other ends at once and names it."""
    assert stage.scheduler
    (command,) = shell_blocks(section((stage.scratch / "README.md").read_text(encoding="utf-8"), "Reconcile sweep", 3))
    before = len(stage.lambdas.invocations)
    by_hand = subprocess.run(["bash", "-c", command], cwd=stage.scratch / COMPLETE, env=stage.base_env(),
                             capture_output=True, text=True, timeout=120, check=False)
    fired = stage.scheduler.fire(f"{FUNCTION}-sweep")
    assert by_hand.returncode == 0, by_hand.stderr
    manual_arn = json.loads(by_hand.stdout)["executionArn"]
    scheduled, manual = _wait(stage, fired.execution_arn), _wait(stage, manual_arn)
    assert (scheduled["status"], manual["status"]) == ("SUCCEEDED", "SUCCEEDED"), (scheduled, manual)
    outputs = {scheduled["executionArn"]: json.loads(scheduled["output"]), manual_arn: json.loads(manual["output"])}
    (skipped,) = [arn for arn, output in outputs.items() if "skipped" in output]
    (swept,) = set(outputs) - {skipped}
    assert (swept, skipped) == (manual_arn, scheduled["executionArn"]), "the older one sweeps"
    assert outputs[skipped]["running"] == swept
    assert outputs[swept]["totals"]["accounts_seen"] == len(deployment.onboarded)
    assert len(_sweep_invocations(stage, before)) == 1, "one sweep, one invocation"


def test_a_sweep_whose_function_keeps_failing_fails_visibly_after_its_retries(stage: Stage, deployment: Deployment):
    """Terraform Cloud is down (every request answers 503): each invocation fails
    (retryable, once its client gave up; ONBOARD_RETRY_BASE_MS is lowered so that takes
    well under a second), the state machine retries it with backoff (sweep_retry_attempts),
    then the execution fails with the function's error, and the deployed alarm watches
    exactly that: ExecutionsFailed of this state machine."""
    lam = stage.world.client("lambda", stage.operator)
    deployed = lam.get_function_configuration(FunctionName=FUNCTION)["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName=FUNCTION, Environment={"Variables": dict(deployed, ONBOARD_RETRY_BASE_MS="10")})
    before = len(stage.lambdas.invocations)
    stage.clock.pauses.clear()
    stage.fake.down = True
    try:
        execution = _fire_sweep(stage)
    finally:
        stage.fake.down = False
        lam.update_function_configuration(FunctionName=FUNCTION, Environment={"Variables": deployed})
    assert execution["status"] == "FAILED", execution
    assert execution["error"] == "Retryable.VariableSet", execution
    assert "503" in execution["cause"], execution["cause"]
    invocations = _sweep_invocations(stage, before)
    assert [i.error_type for i in invocations] == ["Retryable.VariableSet"] * 4, [i.describe() for i in invocations]
    # Three retries, each paused at most as the backoff allows (60 s doubling, full jitter).
    retries = [seconds for kind, seconds in stage.clock.pauses if kind == "retry"]
    assert len(retries) == 3 and all(0 <= p <= 60 * 2**n for n, p in enumerate(retries)), retries
    fact("failing sweep: retry pauses asked for (s)", [round(p, 1) for p in retries])

    (alarm,) = stage.world.client("cloudwatch", stage.operator).describe_alarms(
        AlarmNames=[f"{FUNCTION}-sweep-failed"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/States", "ExecutionsFailed", "Sum")
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": execution["stateMachineArn"]}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Period"]) == ("GreaterThanThreshold", 0, 300)


@pytest.mark.parametrize(("action", "error"), [
    ("lambda:InvokeFunction", "Lambda.AccessDeniedException"),
    ("states:ListExecutions", "Sfn.AccessDeniedException"),
])
def test_the_state_machine_role_needs_each_of_its_permissions(stage: Stage, deployment: Deployment, action: str, error: str):
    iam, name, document = _role_policy(stage, f"{FUNCTION}-sweep")
    before = len(stage.lambdas.invocations)
    iam.put_role_policy(RoleName=f"{FUNCTION}-sweep", PolicyName=name, PolicyDocument=json.dumps(_without(document, action)))
    try:
        execution = _fire_sweep(stage)
    finally:
        iam.put_role_policy(RoleName=f"{FUNCTION}-sweep", PolicyName=name, PolicyDocument=json.dumps(document))
    assert (execution["status"], execution["error"]) == ("FAILED", error), execution
    assert f"not authorized to perform: {action}" in execution["cause"], execution["cause"]
    assert _sweep_invocations(stage, before) == []


def test_the_schedule_role_needs_each_of_its_permissions(stage: Stage, deployment: Deployment):
    """Without states:StartExecution the start fails and the schedule's dead-letter queue
    keeps it (sent with the same role); without sqs:SendMessage as well, it is lost."""
    assert stage.scheduler
    role = f"{FUNCTION}-sweep-schedule"
    iam, name, document = _role_policy(stage, role)
    no_start = _without(document, "states:StartExecution")
    try:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(no_start))
        fired = stage.scheduler.fire(f"{FUNCTION}-sweep")
        # Without sqs:SendMessage too, nothing is left of the policy.
        assert _without(no_start, "sqs:SendMessage")["Statement"] == []
        iam.delete_role_policy(RoleName=role, PolicyName=name)
        with pytest.raises(Exception, match="AccessDenied"):
            stage.scheduler.fire(f"{FUNCTION}-sweep")
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    assert fired.execution_arn == "" and fired.dead_letter, fired
    assert fired.dead_letter["attributes"]["ERROR_CODE"] == "AccessDeniedException"
    sqs = stage.world.client("sqs", stage.operator)
    url = deployment.outputs["events_dlq_url"]
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]).get("Messages", [])
    assert message["MessageAttributes"]["SCHEDULE_ARN"]["StringValue"] == fired.schedule_arn
    assert "states:StartExecution" in message["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


# ---------------------------------------------------------------------------------------


def test_a_closed_account_is_offboarded(stage: Stage, deployment: Deployment):
    _, report = _queued_report(stage, sample("close-account-result.json", MANUAL_ACCOUNT), f"{FUNCTION}-close-account-result")
    assert report["outcome"] == "offboarded", report
    remaining = stage.fake.varsets().get(f"aws-{MANUAL_ACCOUNT}", {})
    assert not any(key.startswith("TFC_AWS_") for key in remaining), remaining
    ready = _ready_events(stage, deployment.ready_queue_url)
    assert [(e["detail-type"], e["detail"]["account_id"]) for e in ready] == [("Account Offboarded", MANUAL_ACCOUNT)]


def test_an_event_that_cannot_be_queued_is_kept_in_the_dead_letter_queue(stage: Stage, deployment: Deployment):
    """EventBridge sends an event straight to the target's dead-letter queue when the
    events queue's policy refuses the rule. The deployed dead-letter queue's policy must
    admit the rule, or the event would be lost."""
    assert stage.eventbridge
    sqs = stage.world.client("sqs", stage.operator)
    events_url = deployment.outputs["events_queue_url"]
    kept = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    refusing = json.loads(kept)
    (statement,) = refusing["Statement"]
    statement["Condition"]["ArnEquals"]["aws:SourceArn"] = [
        arn for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"] if not arn.endswith("create-account-result")
    ]
    sqs.set_queue_attributes(QueueUrl=events_url, Attributes={"Policy": json.dumps(refusing)})
    account = stage.world.create_member_account("team-lost-event")
    event = sample("create-account-result.json", account)
    try:
        (delivery,) = stage.eventbridge.deliver(event, "us-east-1")
        assert delivery.outcome == "dead-lettered"
    finally:
        sqs.set_queue_attributes(QueueUrl=events_url, Attributes={"Policy": kept})
    assert stage.event_sources and stage.event_sources.drain() == [], "nothing was queued"
    url = deployment.outputs["events_dlq_url"]
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]).get("Messages", [])
    assert json.loads(message["Body"]) == event
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
    assert message["MessageAttributes"]["RULE_ARN"]["StringValue"] == deployment.outputs["rule_arns"]["create_account_result"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_control_tower_events_are_forwarded_from_the_home_region(stage: Stage, deployment: Deployment):
    tf = deployment.tf
    started = time.monotonic()
    tf.run("apply", "-auto-approve", "-input=false", f"-var=tfe_organization={ORGANIZATION}",
           "-var=control_tower_home_region=eu-west-1")
    record("complete example: apply adding Control Tower forwarding", time.monotonic() - started)
    added = re.search(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed", tf.steps[-1].output)
    fact("Control Tower update: added, changed, destroyed", added.groups() if added else tf.steps[-1].output[-500:])

    # Enrolled by Control Tower: AWSControlTowerExecution only, so the function has to
    # go past the first name of the deployed list.
    account = stage.world.create_member_account("team-enrolled", roles=("AWSControlTowerExecution",))
    event = sample("control-tower-create-managed-account.json", account)
    event["region"] = event["detail"]["awsRegion"] = "eu-west-1"
    assert stage.eventbridge
    assert [r["Name"] for r in stage.eventbridge.matching_rules(event, "eu-west-1")] == [f"{FUNCTION}-control-tower-forward"]
    forwarded, queued = stage.eventbridge.deliver(event, "eu-west-1")
    assert forwarded.outcome == "forwarded" and forwarded.target_arn.endswith(":us-east-1:123456789012:event-bus/default")
    assert queued.rule_arn.endswith(f":rule/{FUNCTION}-control-tower") and queued.outcome == "queued"
    batch = _drain_one(stage, event)
    assert batch.failed == []
    (report,) = _logged_reports(batch.invocation)
    assert report["account_id"] == account and report["outcome"] == "onboarded", report
    iam = stage.world.client("iam", stage.world.assume_unchecked(f"arn:aws:iam::{account}:role/AWSControlTowerExecution"))
    roles = {role["RoleName"] for role in iam.list_roles()["Roles"]}
    assert "OrganizationAccountAccessRole" not in roles and {"terraform-cloud-plan", "terraform-cloud-apply"} <= roles
    _ready_events(stage, deployment.ready_queue_url)


def test_the_function_role_reaches_only_this_organization(stage: Stage, deployment: Deployment):
    """moto ignores condition keys; the harness supplies aws:ResourceOrgID for
    sts:AssumeRole, so the deployed condition is evaluated: a role of the same name in an
    account outside the organization stays out of reach."""
    credentials = stage.world.service_assumes(
        f"arn:aws:iam::123456789012:role/{FUNCTION}", "lambda.amazonaws.com", "reach-check"
    )
    sts = stage.world.client("sts", credentials)
    inside = stage.world.create_member_account("team-inside")
    sts.assume_role(RoleArn=f"arn:aws:iam::{inside}:role/OrganizationAccountAccessRole", RoleSessionName="check")
    # The same role name, trusting the management account, in an account of no
    # organization: only the aws:ResourceOrgID condition keeps the function out.
    stage.world.create_role_outside("999988887777", "OrganizationAccountAccessRole")
    with pytest.raises(sts.exceptions.ClientError) as denied:
        sts.assume_role(RoleArn="arn:aws:iam::999988887777:role/OrganizationAccountAccessRole", RoleSessionName="check")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "sts:AssumeRole on resource: arn:aws:iam::999988887777:role/OrganizationAccountAccessRole" in str(denied.value)


def _failed_message_logged(batch: Batch) -> str:
    for line in batch.invocation.logs.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("message", "").startswith("queued event failed"):
            return f"{entry['error_type']}: {entry['error']}"
    raise AssertionError(f"no failure logged: {batch.invocation.logs[-3000:]}")


def test_a_removed_permission_breaks_the_path_that_needs_it(stage: Stage, deployment: Deployment):
    """Without organizations:DescribeAccount the queued event fails, is named in the batch
    response, and is received again (after the visibility timeout) until its last
    receive; then it is in the events-failed queue, with its body, for the operator to
    send back once the permission is restored."""
    assert stage.event_sources
    iam, name, original = _role_policy(stage, FUNCTION)
    reduced = copy.deepcopy(original)
    for statement in reduced["Statement"]:
        if isinstance(statement["Action"], list) and "organizations:DescribeAccount" in statement["Action"]:
            statement["Action"].remove("organizations:DescribeAccount")
    assert reduced != original
    account = stage.world.create_member_account("team-denied")
    event = sample("create-account-result.json", account)
    receives = []
    iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(reduced))
    try:
        receives.append(_deliver_once(stage, event, f"{FUNCTION}-create-account-result"))
        while stage.event_sources.expire_in_flight():
            receives += stage.event_sources.drain()
    finally:
        iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(original))
    # maximum_retry_attempts (2) + 1 receives, each failing the one message.
    assert [len(b.failed) for b in receives] == [1, 1, 1], [b.invocation.describe() for b in receives]
    denied = _failed_message_logged(receives[0])
    fact("without organizations:DescribeAccount", denied)
    assert "AccessDenied" in denied and "organizations:DescribeAccount" in denied, denied
    assert stage.token not in denied and all(stage.token not in b.invocation.logs for b in receives)
    assert f"aws-{account}" not in stage.fake.varsets()

    sqs = stage.world.client("sqs", stage.operator)
    failed_url = deployment.outputs["events_failed_queue_url"]
    (message,) = sqs.receive_message(QueueUrl=failed_url).get("Messages", [])
    assert json.loads(message["Body"]) == event
    # With the permission back, the operator sends it back and it goes through.
    sqs.send_message(QueueUrl=deployment.outputs["events_queue_url"], MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=failed_url, ReceiptHandle=message["ReceiptHandle"])
    restored = _drain_one(stage, event)
    assert restored.failed == [] and _logged_reports(restored.invocation)[0]["outcome"] == "onboarded"
    _ready_events(stage, deployment.ready_queue_url)


def test_the_queue_is_read_by_lambda_with_the_function_role_and_never_by_the_code(stage: Stage, deployment: Deployment):
    """The function role's SQS permissions are Lambda's poller's: without
    sqs:ReceiveMessage the event stays queued (the stalled-queue alarm's case), and the
    function's own credentials never make an SQS call."""
    assert stage.eventbridge and stage.event_sources
    iam, name, original = _role_policy(stage, FUNCTION)
    account = stage.world.create_member_account("team-polled")
    event = sample("create-account-result.json", account)
    (delivery,) = stage.eventbridge.deliver(event, "us-east-1")
    assert delivery.outcome == "queued"
    iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(_without(original, "sqs:ReceiveMessage")))
    try:
        with pytest.raises(Exception, match="AccessDenied"):
            stage.event_sources.drain()
    finally:
        iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(original))
    assert _drain_one(stage, event).failed == []
    _ready_events(stage, deployment.ready_queue_url)

    function_keys = {
        dict(item.decode().split("=", 1) for item in Path(f"/proc/{e.process.pid}/environ").read_bytes().split(b"\0") if item)
        .get("AWS_ACCESS_KEY_ID")
        for pool in stage.lambdas._pools.values() for e in pool if e.reusable
    }
    assert function_keys and None not in function_keys
    used_by_code = {(r.service, r.action) for r in stage.world.requests if r.access_key_id in function_keys}
    assert ("organizations", "DescribeAccount") in used_by_code, "the function's own calls are recorded"
    assert not {service for service, _ in used_by_code} & {"sqs"}, used_by_code


def _without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    """The policy with `action` taken out (and any statement left without an action)."""
    reduced = copy.deepcopy(policy)
    kept = []
    for statement in reduced["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action]
        if statement["Action"]:
            kept.append(statement)
    reduced["Statement"] = kept
    assert reduced != policy, f"{action} is not in the deployed policy"
    return reduced


def _doctor(stage: Stage) -> dict[str, Any]:
    before = len(stage.lambdas.invocations)
    stage.world.client("lambda", stage.operator).invoke(
        FunctionName=FUNCTION, Payload=json.dumps({"action": "doctor"}).encode()
    )
    assert len(stage.lambdas.invocations) == before + 1
    invocation = stage.lambdas.invocations[-1]
    assert invocation.kind == "response", invocation.describe()
    return invocation.response


def test_doctor_needs_each_of_its_reads_and_nothing_more(stage: Stage, deployment: Deployment):
    """doctor under IAM enforcement with the deployed role: everything passes, and taking
    out any one of the reads it added to the policy fails the check that needs it, naming
    the action to allow."""
    healthy = _doctor(stage)
    assert healthy["ok"] is True, json.dumps(healthy, indent=2)
    assert [c["check"] for c in healthy["checks"] if c["status"] == "pass"] == DOCTOR_CHECKS
    varsets_before = stage.fake.varsets()

    iam, name, original = _role_policy(stage, FUNCTION)
    outcomes = {}
    try:
        for action, check in DOCTOR_READS.items():
            iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(_without(original, action)))
            answer = _doctor(stage)
            failed = {c["check"]: c for c in answer["checks"] if c["status"] == "fail"}
            assert answer["ok"] is False and list(failed) == [check], json.dumps(answer, indent=2)
            text = json.dumps(failed[check])
            assert "AccessDenied" in text and f"allow {action}" in failed[check]["fix"], text
            outcomes[action] = failed[check]["summary"]
    finally:
        iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(original))
    fact("doctor without each of its reads", json.dumps(outcomes, indent=2))
    assert _doctor(stage)["ok"] is True
    assert stage.fake.varsets() == varsets_before, "doctor changed Terraform Cloud"


def test_the_deployed_dashboard_graphs_what_the_deployed_function_wrote(stage: Stage, deployment: Deployment):
    """tests/metrics.rs holds the dashboard template against everything the function writes;
    here, the dashboard Terraform deployed (in the deployed names) against the metrics the
    deployed function wrote in its log during this rehearsal."""
    cloudwatch = stage.world.client("cloudwatch", stage.operator)
    body = json.loads(cloudwatch.get_dashboard(DashboardName=FUNCTION)["DashboardBody"])
    assert deployment.outputs["dashboard_url"] == (
        f"https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name={FUNCTION}"
    )
    graphed: dict[tuple[str, str, frozenset[str]], set[str | None]] = {}
    for widget in body["widgets"]:
        properties = widget["properties"]
        if widget["type"] == "metric":
            assert properties["region"] == "us-east-1"
            for row in properties["metrics"]:
                names = [v for v in row if isinstance(v, str)]
                dimensions = dict(zip(names[2::2], names[3::2]))
                assert dimensions["FunctionName"] == FUNCTION, row
                graphed.setdefault((names[0], names[1], frozenset(dimensions)), set()).add(dimensions.get("Outcome"))
        elif widget["type"] == "log":
            assert properties["query"].startswith(f"SOURCE '/aws/lambda/{FUNCTION}' |"), properties
        elif widget["type"] == "alarm":
            alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{FUNCTION}-")["MetricAlarms"]
            assert sorted(properties["alarms"]) == sorted(a["AlarmArn"] for a in alarms)
            assert f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{FUNCTION}-onboarding-failures" in properties["alarms"]

    written = []
    for line in stage.lambdas.all_logs().splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            written.append(document)
    assert written, "the deployed function wrote no metrics"
    outcomes = set()
    for document in written:
        assert document["FunctionName"] == FUNCTION
        for directive in document["_aws"]["CloudWatchMetrics"]:
            (keys,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                identity = (directive["Namespace"], metric["Name"], frozenset(keys))
                assert identity in graphed, f"{identity} is written but not on the deployed dashboard"
                if "Outcome" in keys:
                    assert document["Outcome"] in graphed[identity], document
                    outcomes.add(document["Outcome"])
    # What this rehearsal went through: onboardings, a replay, the sweep, the permission test.
    assert {"onboarded", "unchanged", "failed"} <= outcomes, outcomes
    assert any("SweepAccountsTotal" in d for d in written)
    fact("metric documents the deployed function wrote", f"{len(written)}, outcomes {sorted(outcomes)}")


def test_the_token_never_reached_a_log(stage: Stage, deployment: Deployment):
    logs = stage.lambdas.all_logs()
    assert logs, "no function logs were captured"
    assert stage.token not in logs
    assert stage.token not in deployment.run.output
    fact("function invocations in the rehearsal", len(stage.lambdas.invocations))
