"""The README's Deploy section, run verbatim against moto, then the deployed function at
work under IAM enforcement.

The deployment made by the README (infra/examples/complete, in a scratch copy of the
repository) is shared by the tests of this file, which run in order: the manual event of
the README, an account created later, a replay, the daily sweep, offboarding, an event
EventBridge cannot deliver, Control Tower events from another Region, the reach of the
function role, and a permission taken away. The module fixture destroys it at the end.

What runs is the real function (the x86_64 build of the source the arm64 zip was built
from) as a Lambda: exactly the deployed environment, signed with the deployed role's
credentials, while moto enforces IAM. See stage.py for the parts, and the README of the
folder for what moto cannot do and how the gap is closed.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rehearsal.conftest import fact, record
from rehearsal.lambda_runtime import SERVICE_SET, Invocation
from rehearsal.readme_script import Prompt, TerminalRun, deploy_blocks, run_in_terminal
from rehearsal.stage import ORGANIZATION, Stage
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


def _last(stage: Stage) -> Invocation:
    return stage.lambdas.invocations[-1]


def _report(invocation: Invocation) -> dict[str, Any]:
    assert invocation.kind == "response", invocation.describe()
    return invocation.response


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


def _deliver_once(stage: Stage, event: dict[str, Any], expected_rule: str, region: str = "us-east-1") -> Invocation:
    """`event` must match exactly `expected_rule` among the deployed rules, and reach the
    function through it."""
    assert stage.eventbridge
    matched = [rule["Name"] for rule in stage.eventbridge.matching_rules(event, region)]
    assert matched == [expected_rule], f"the deployed patterns matched {matched}"
    (delivery,) = stage.eventbridge.deliver(event, region)
    assert delivery.outcome == "invoked", delivery
    assert delivery.invocation and delivery.invocation.invocation_type == "Event"
    return delivery.invocation


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


def test_a_new_account_is_onboarded_through_the_deployed_rule(stage: Stage, deployment: Deployment):
    account = stage.world.create_member_account("team-data-dev")
    invocation = _deliver_once(stage, sample("create-account-result.json", account), f"{FUNCTION}-create-account-result")
    report = _report(invocation)
    assert report["account_id"] == account and report["outcome"] == "onboarded", report
    assert not invocation.cold_start, "the warm execution environment should have been reused"
    assert f"aws-{account}" in stage.fake.varsets()
    deployment.onboarded.append(account)
    ready = _ready_events(stage, deployment.ready_queue_url)
    assert [(e["source"], e["detail-type"], e["detail"]["account_id"]) for e in ready] == [
        ("tfc-onboarder", "Account Onboarded", account)
    ]

    # EventBridge delivers at least once: the same event again changes nothing.
    again = _report(_deliver_once(stage, sample("create-account-result.json", account), f"{FUNCTION}-create-account-result"))
    assert again["outcome"] == "unchanged", again
    assert all(change["action"] == "unchanged" for change in again["changes"]), again["changes"]
    _ready_events(stage, deployment.ready_queue_url)


def test_the_daily_sweep_fires_with_the_deployed_input(stage: Stage, deployment: Deployment):
    assert stage.eventbridge
    (delivery,) = stage.eventbridge.fire_schedule(f"{FUNCTION}-reconcile", "us-east-1")
    assert delivery.invocation and delivery.invocation.event == {"action": "reconcile"}
    summary = _report(delivery.invocation)
    assert summary["failures"] == [] and "failed" not in summary["counts"], summary
    # Both accounts onboarded so far are found as they should be; the sweep writes nothing.
    assert sorted(summary["unchanged"]) == sorted(deployment.onboarded), summary
    assert summary["counts"] == {"unchanged": len(deployment.onboarded)}, summary
    assert _ready_events(stage, deployment.ready_queue_url) == []


def test_a_closed_account_is_offboarded(stage: Stage, deployment: Deployment):
    invocation = _deliver_once(stage, sample("close-account-result.json", MANUAL_ACCOUNT), f"{FUNCTION}-close-account-result")
    report = _report(invocation)
    assert report["outcome"] == "offboarded", report
    remaining = stage.fake.varsets().get(f"aws-{MANUAL_ACCOUNT}", {})
    assert not any(key.startswith("TFC_AWS_") for key in remaining), remaining
    ready = _ready_events(stage, deployment.ready_queue_url)
    assert [(e["detail-type"], e["detail"]["account_id"]) for e in ready] == [("Account Offboarded", MANUAL_ACCOUNT)]


def test_an_event_the_function_cannot_receive_is_kept_in_the_dead_letter_queue(stage: Stage, deployment: Deployment):
    """EventBridge sends an event straight to the target's dead-letter queue when the
    function's resource policy refuses the rule. The deployed queue policy must admit the
    rule, or the event would be lost."""
    assert stage.eventbridge
    lam = stage.world.client("lambda", stage.operator)
    statement_id = "AllowEventBridge-create-account-result"
    policy = json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])
    (kept,) = [s for s in policy["Statement"] if s["Sid"] == statement_id]
    lam.remove_permission(FunctionName=FUNCTION, StatementId=statement_id)
    account = stage.world.create_member_account("team-lost-event")
    event = sample("create-account-result.json", account)
    try:
        before = len(stage.lambdas.invocations)
        (delivery,) = stage.eventbridge.deliver(event, "us-east-1")
        assert delivery.outcome == "dead-lettered" and len(stage.lambdas.invocations) == before
    finally:
        lam.add_permission(
            FunctionName=FUNCTION, StatementId=statement_id, Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com", SourceArn=kept["Condition"]["ArnLike"]["AWS:SourceArn"],
        )
    sqs = stage.world.client("sqs", stage.operator)
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
    forwarded, invoked = stage.eventbridge.deliver(event, "eu-west-1")
    assert forwarded.outcome == "forwarded" and forwarded.target_arn.endswith(":us-east-1:123456789012:event-bus/default")
    assert invoked.rule_arn.endswith(f":rule/{FUNCTION}-control-tower") and invoked.outcome == "invoked"
    report = _report(invoked.invocation)
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


def test_a_removed_permission_breaks_the_path_that_needs_it(stage: Stage, deployment: Deployment):
    iam = stage.world.client("iam", stage.operator)
    (name,) = iam.list_role_policies(RoleName=FUNCTION)["PolicyNames"]
    original = iam.get_role_policy(RoleName=FUNCTION, PolicyName=name)["PolicyDocument"]
    reduced = copy.deepcopy(original)
    for statement in reduced["Statement"]:
        if isinstance(statement["Action"], list) and "organizations:DescribeAccount" in statement["Action"]:
            statement["Action"].remove("organizations:DescribeAccount")
    assert reduced != original
    account = stage.world.create_member_account("team-denied")
    iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(reduced))
    try:
        denied = _deliver_once(stage, sample("create-account-result.json", account), f"{FUNCTION}-create-account-result")
    finally:
        iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(original))
    assert denied.kind == "error", denied.describe()
    fact("without organizations:DescribeAccount", f"{denied.error_type}: {denied.error_message}")
    assert "AccessDenied" in denied.error_message and "organizations:DescribeAccount" in denied.error_message, denied.describe()
    assert stage.token not in denied.error_message and stage.token not in denied.logs
    assert f"aws-{account}" not in stage.fake.varsets()

    # With the permission back, the same event goes through.
    restored = _report(_deliver_once(stage, sample("create-account-result.json", account), f"{FUNCTION}-create-account-result"))
    assert restored["outcome"] == "onboarded", restored
    _ready_events(stage, deployment.ready_queue_url)


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
    return _report(_last(stage))


def test_doctor_needs_each_of_its_reads_and_nothing_more(stage: Stage, deployment: Deployment):
    """doctor under IAM enforcement with the deployed role: everything passes, and taking
    out any one of the reads it added to the policy fails the check that needs it, naming
    the action to allow."""
    healthy = _doctor(stage)
    assert healthy["ok"] is True, json.dumps(healthy, indent=2)
    assert [c["check"] for c in healthy["checks"] if c["status"] == "pass"] == DOCTOR_CHECKS
    varsets_before = stage.fake.varsets()

    iam = stage.world.client("iam", stage.operator)
    (name,) = iam.list_role_policies(RoleName=FUNCTION)["PolicyNames"]
    original = iam.get_role_policy(RoleName=FUNCTION, PolicyName=name)["PolicyDocument"]
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
