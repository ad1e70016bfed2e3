"""Tooling mode, rehearsed with two moto accounts: the README's "Deploy from a tooling
account" run verbatim (the tooling part with the tooling account's credentials, then
infra/management with the management account's), then the deployed pieces at work under
IAM enforcement.

Management is moto's default account; the tooling account is a member account created
through Organizations, deployed to by an operator of its own (AWS CLI profiles `tooling`
and `management`). moto checks no trust policy conditions and no bus policy, and has no
Organizations delegation policy, so the harness does: `aws:PrincipalArn` in the broker's
trust (moto_world.py), the delegation policy for a member account's Organizations reads
(organizations_delegation.py), the tooling bus's policy for the forwarded events
(two_accounts.py).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rehearsal.conftest import fact, record
from rehearsal.event_source_mapping import Batch, EventSourceMappings
from rehearsal.moto_world import MANAGEMENT_ACCOUNT, Credentials
from rehearsal.readme_script import Prompt, TerminalRun, run_in_terminal, section, shell_blocks
from rehearsal.stage import ORGANIZATION, Stage
from rehearsal.terraform import Terraform, resource_kinds
from rehearsal.two_accounts import TwoAccountEventBridge

TOOLING = "infra/examples/tooling"
MANAGEMENT = "infra/examples/management"
SECTION = "Deploy from a tooling account"
FUNCTION = "tfc-onboarder"
BROKER = "tfc-onboarder-broker"
DELEGATION = "module.tfc_onboarder_management.aws_organizations_resource_policy.delegation[0]"
EVENTS = Path(__file__).resolve().parents[2] / "events"
APPROVAL = r"Only 'yes' will be accepted to approve\.\s*\n\s*Enter a value: "
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass
class TwoAccounts:
    tooling: str
    tooling_operator: Credentials
    run: TerminalRun
    tooling_tf: Terraform
    management_tf: Terraform
    outputs: dict[str, Any]
    bridge: TwoAccountEventBridge
    # The tooling account's events queue, drained into the function.
    event_sources: EventSourceMappings

    @property
    def broker_arn(self) -> str:
        return f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/{BROKER}"

    @property
    def function_role_arn(self) -> str:
        return f"arn:aws:iam::{self.tooling}:role/{FUNCTION}"


def sample(name: str, account: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text().replace("444455556666", account))


def _profiles(stage: Stage, operators: dict[str, Credentials]) -> dict[str, str]:
    """The operator's two AWS CLI profiles, and a shell environment whose credentials come
    only from them."""
    (stage.work_dir / "aws-credentials").write_text("".join(
        f"[{name}]\naws_access_key_id = {c.access_key_id}\naws_secret_access_key = {c.secret_access_key}\n"
        for name, c in operators.items()
    ))
    (stage.work_dir / "aws-config").write_text("".join(f"[profile {name}]\n" for name in operators))
    return {k: v for k, v in stage.base_env().items() if k not in CREDENTIAL_VARIABLES}


@pytest.fixture(scope="module")
def two_accounts(stage: Stage, deployment_zip: Path) -> Iterator[TwoAccounts]:
    stage.fresh_organization()
    tooling = stage.world.create_member_account("tooling")
    tooling_operator = stage.world.create_operator(name="tooling-operator", account=tooling)
    env = _profiles(stage, {"management": stage.operator, "tooling": tooling_operator})
    stage.prepare_root_module(TOOLING, [None])
    stage.prepare_root_module(MANAGEMENT, [None, "control_tower"])

    script = "".join(shell_blocks(section((stage.scratch / "README.md").read_text(encoding="utf-8"), SECTION)))
    prompts = [
        Prompt(re.compile(r"var\.tfe_organization\n(?:.*\n)*?\s*Enter a value: "), ORGANIZATION),
        Prompt(re.compile(APPROVAL), "yes"),
        Prompt(re.compile(r"HCP Terraform API token: "), stage.token),
    ]
    run = run_in_terminal(script, stage.scratch, env, prompts, timeout=30 * 60,
                          log_file=stage.work_dir / "readme-tooling.log")
    record("README tooling section (two applies, secret, doctor)", run.seconds)
    assert run.returncode == 0, f"the README's {SECTION} section failed (exit {run.returncode}):\n{run.output[-8000:]}"

    automation = {**env, "TF_IN_AUTOMATION": "1"}
    tooling_tf = Terraform(stage.scratch / TOOLING, {**automation, "AWS_PROFILE": "tooling"}, stage.terraform_binary)
    management_tf = Terraform(stage.scratch / MANAGEMENT, {**automation, "AWS_PROFILE": "management"},
                              stage.terraform_binary)
    outputs = {k: v["value"] for k, v in json.loads(tooling_tf.run("output", "-json").stdout).items()}
    outputs |= {k: v["value"] for k, v in json.loads(management_tf.run("output", "-json").stdout).items()}
    # A second plan of either part finds nothing to change.
    for tf, variables in (
        (tooling_tf, [f"-var=tfe_organization={ORGANIZATION}", f"-var=management_account_id={MANAGEMENT_ACCOUNT}"]),
        (management_tf, _management_vars(outputs)),
    ):
        again = tf.run("plan", "-input=false", "-detailed-exitcode", *variables, check=False)
        assert again.returncode == 0, f"the second plan is not empty:\n{tf.steps[-1].output[-6000:]}"
    # The management part wrote the organization's delegation policy: its output, word for word.
    written = stage.world.client("organizations", stage.operator).describe_resource_policy()["ResourcePolicy"]
    assert json.loads(written["Content"]) == json.loads(outputs["delegation_policy"])
    assert written["ResourcePolicySummary"]["Id"] in management_tf.run("state", "show", DELEGATION).stdout
    fact("tooling mode: tooling part", json.dumps(resource_kinds(tooling_tf.state_resources())))
    fact("tooling mode: management part", json.dumps(resource_kinds(management_tf.state_resources())))
    bridge = TwoAccountEventBridge(stage.world, stage.lambdas,
                                   {MANAGEMENT_ACCOUNT: stage.operator, tooling: tooling_operator}, MANAGEMENT_ACCOUNT)
    event_sources = EventSourceMappings(stage.world, stage.lambdas, tooling_operator)
    yield TwoAccounts(tooling, tooling_operator, run, tooling_tf, management_tf, outputs, bridge, event_sources)

    started = time.monotonic()
    management_tf.run("destroy", "-auto-approve", "-input=false", *_management_vars(outputs))
    tooling_tf.run("destroy", "-auto-approve", "-input=false", f"-var=tfe_organization={ORGANIZATION}",
                   f"-var=management_account_id={MANAGEMENT_ACCOUNT}")
    record("tooling mode: destroy both parts", time.monotonic() - started)
    assert management_tf.state_resources() == [] and tooling_tf.state_resources() == []


def _logged(batch: Batch, messages: tuple[str, ...]) -> list[dict[str, Any]]:
    """The JSON log entries of the batch's invocation with one of `messages`."""
    found = []
    for line in batch.invocation.logs.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("message", "").startswith(messages):
            found.append(entry)
    return found


def _report(batch: Batch) -> dict[str, Any]:
    """The one report of a batch that succeeded."""
    assert batch.failed == [] and batch.invocation.response == {"batchItemFailures": []}, batch.invocation.describe()
    (entry,) = _logged(batch, ("onboarding report", "offboarding report"))
    return json.loads(entry["report"])


def _deliver(setup: TwoAccounts, event: dict[str, Any]) -> Batch:
    """`event` put on the management account's default bus by Organizations: it must match
    exactly one forwarding rule, cross to the tooling bus (role and bus policy checked), match
    exactly one rule there, be queued, and reach the function through the tooling account's
    event source mapping."""
    bridge = setup.bridge
    forwarding = [r["Name"] for r in bridge.matching_rules(event, "us-east-1")]
    assert len(forwarding) == 1 and forwarding[0].startswith(f"{FUNCTION}-forward-"), forwarding
    deliveries = bridge.deliver(event, "us-east-1")
    assert [d.outcome for d in deliveries] == ["forwarded", "queued"], deliveries
    assert deliveries[0].target_arn == setup.outputs["tooling_event_bus_arn"]
    assert deliveries[1].target_arn.split(":")[4] == setup.tooling
    (batch,) = setup.event_sources.drain()
    (record_,) = batch.invocation.event["Records"]
    assert json.loads(record_["body"]) == event
    assert batch.invocation.function_name.endswith(FUNCTION)
    return batch


def _member_iam(stage: Stage, account: str) -> Any:
    return stage.world.client("iam", stage.world.assume_unchecked(f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"))


def _denied(call: Any) -> str:
    with pytest.raises(Exception) as refused:
        call()
    error = getattr(refused.value, "response", {}).get("Error", {})
    assert error.get("Code") in ("AccessDenied", "AccessDeniedException"), refused.value
    return str(refused.value)


# ---------------------------------------------------------------------------------------


def test_the_readme_section_ran_verbatim_and_doctor_checks_the_broker(stage: Stage, two_accounts: TwoAccounts):
    run = two_accounts.run
    assert len(run.answered) == 4, f"prompts answered (organization, yes, token, yes): {run.answered}"
    assert stage.token not in run.output, "the token was echoed to the terminal"
    assert two_accounts.outputs["broker_role_arn"] == two_accounts.broker_arn
    assert two_accounts.outputs["role_arn"] == two_accounts.function_role_arn
    # The function was deployed in the tooling account, the broker in the management account.
    tooling_lambda = stage.world.client("lambda", two_accounts.tooling_operator)
    env = tooling_lambda.get_function_configuration(FunctionName=FUNCTION)["Environment"]["Variables"]
    assert env["ONBOARD_MANAGEMENT_ROLE_ARN"] == two_accounts.broker_arn
    assert stage.world.client("lambda", stage.operator).list_functions()["Functions"] == []

    doctor = json.loads((stage.scratch / TOOLING / "doctor.json").read_text())
    statuses = [(c["check"], c["status"]) for c in doctor["checks"]]
    assert statuses == [
        ("credentials", "pass"), ("cloudtrail", "not_checked"), ("event rules", "not_checked"),
        ("terraform cloud", "pass"), ("access roles", "pass"), ("role policies", "pass"),
    ], json.dumps(doctor, indent=2)
    assert doctor["ok"] is True
    credentials = doctor["checks"][0]["summary"]
    assert "broker session" in credentials and MANAGEMENT_ACCOUNT in credentials and BROKER in credentials, credentials
    fact("tooling mode: doctor credentials", credentials)


def test_an_account_event_crosses_to_the_tooling_bus_and_is_onboarded_through_the_broker(
        stage: Stage, two_accounts: TwoAccounts):
    account = stage.world.create_member_account("team-tooling-prod")
    report = _report(_deliver(two_accounts, sample("create-account-result.json", account)))
    assert report["account_id"] == account and report["outcome"] == "onboarded", report
    assert report["access_role"] == "OrganizationAccountAccessRole"
    iam = _member_iam(stage, account)
    assert iam.get_open_id_connect_provider(
        OpenIDConnectProviderArn=f"arn:aws:iam::{account}:oidc-provider/app.terraform.io"
    )["ClientIDList"] == ["aws.workload.identity"]
    assert iam.get_role(RoleName="terraform-cloud")["Role"]["Arn"] == report["role_arn"]
    assert f"aws-{account}" in stage.fake.varsets()

    # Delivered at least once: the same event again changes nothing.
    again = _report(_deliver(two_accounts, sample("create-account-result.json", account)))
    assert again["outcome"] == "unchanged", again

    # Offboarding comes the same way.
    closed = _report(_deliver(two_accounts, sample("close-account-result.json", account)))
    assert closed["outcome"] == "offboarded", closed


def test_the_tooling_bus_admits_only_the_forwarded_events_of_the_management_account(two_accounts: TwoAccounts):
    bridge, bus = two_accounts.bridge, two_accounts.outputs["tooling_event_bus_arn"]
    event = sample("create-account-result.json", "111122223333")
    with bridge.in_account(two_accounts.tooling):
        assert bridge.bus_policy_problem(bus, MANAGEMENT_ACCOUNT, event) == ""
        assert bridge.bus_policy_problem(bus, "999988887777", event), "another account"
        for field, value in (("source", "com.example.orders"), ("detail-type", "Order Placed")):
            assert bridge.bus_policy_problem(bus, MANAGEMENT_ACCOUNT, {**event, field: value}), field
    # Control Tower is not forwarded by this deployment, and not admitted either.
    ct = sample("control-tower-create-managed-account.json", "111122223333")
    with bridge.in_account(two_accounts.tooling):
        assert bridge.bus_policy_problem(bus, MANAGEMENT_ACCOUNT, ct)


def _function_credentials(stage: Stage, setup: TwoAccounts, session: str) -> Credentials:
    return stage.world.service_assumes(setup.function_role_arn, "lambda.amazonaws.com", session)


def test_the_function_role_reaches_the_broker_and_its_delegated_reads_only(stage: Stage, two_accounts: TwoAccounts):
    credentials = _function_credentials(stage, two_accounts, "reach-check")
    sts = stage.world.client("sts", credentials)
    organizations = stage.world.client("organizations", credentials)
    member = stage.world.create_member_account("team-reach")
    # No access role of its own.
    _denied(lambda: sts.assume_role(RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
                                    RoleSessionName="direct"))
    assert sts.assume_role(RoleArn=two_accounts.broker_arn, RoleSessionName="check")["Credentials"]
    # Its reads, from the tooling account, answered by the organization (the delegation policy
    # and its own policy allow them)...
    assert any(a["Id"] == member for a in organizations.list_accounts()["Accounts"])
    assert organizations.describe_account(AccountId=member)["Account"]["Id"] == member
    # ...and nothing else of Organizations: another read, a write.
    _denied(lambda: organizations.list_roots())
    _denied(lambda: organizations.tag_resource(ResourceId=member, Tags=[{"Key": "k", "Value": "v"}]))
    # Another principal of the tooling account, allowed everything by its own policy, is not
    # named by the delegation policy.
    _denied(lambda: stage.world.client("organizations", two_accounts.tooling_operator).describe_account(AccountId=member))


def test_only_the_function_role_may_assume_the_broker(stage: Stage, two_accounts: TwoAccounts):
    """moto checks no trust policy; the harness evaluates the broker's aws:PrincipalArn
    condition, so an administrator of the tooling account (allowed sts:AssumeRole on
    everything by its own policy) is refused, and so is the management account's."""
    for who, credentials in (("tooling administrator", two_accounts.tooling_operator),
                             ("management administrator", stage.operator)):
        message = _denied(lambda: stage.world.client("sts", credentials).assume_role(
            RoleArn=two_accounts.broker_arn, RoleSessionName="not-the-function"))
        assert two_accounts.broker_arn in message, (who, message)


def test_the_broker_can_do_nothing_else(stage: Stage, two_accounts: TwoAccounts):
    function = stage.world.service_assumes(two_accounts.function_role_arn, "lambda.amazonaws.com", "broker-check")
    assumed = stage.world.client("sts", function).assume_role(RoleArn=two_accounts.broker_arn,
                                                                RoleSessionName="broker-check")["Credentials"]
    broker = Credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    member = stage.world.create_member_account("team-broker-check")
    organizations = stage.world.client("organizations", broker)
    iam = stage.world.client("iam", broker)
    sts = stage.world.client("sts", broker)

    # What it is for.
    sts.assume_role(RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="ok")

    # Nothing else: no IAM call of any kind, signed directly with its credentials; no
    # Organizations call, read or write (the function reads with its own role); no other
    # role, in a member account or outside the organization.
    denials = {
        "organizations:DescribeAccount": lambda: organizations.describe_account(AccountId=member),
        "organizations:ListAccounts": lambda: organizations.list_accounts(),
        "iam:ListRoles": lambda: iam.list_roles(),
        "iam:GetRole": lambda: iam.get_role(RoleName="OrganizationAccountAccessRole"),
        "iam:CreateRole": lambda: iam.create_role(RoleName="escalate", AssumeRolePolicyDocument="{}"),
        "organizations:CreateAccount": lambda: organizations.create_account(AccountName="x", Email="x@example.com"),
        "organizations:TagResource": lambda: organizations.tag_resource(ResourceId=member, Tags=[{"Key": "k", "Value": "v"}]),
        "sts:AssumeRole (the tooling function's role)": lambda: sts.assume_role(
            RoleArn=two_accounts.function_role_arn, RoleSessionName="back"),
        "sts:AssumeRole (a member role of another name)": lambda: sts.assume_role(
            RoleArn=f"arn:aws:iam::{member}:role/terraform-cloud", RoleSessionName="other"),
    }
    stage.world.create_role_outside("999988887777", "OrganizationAccountAccessRole")
    denials["sts:AssumeRole (outside the organization)"] = lambda: sts.assume_role(
        RoleArn="arn:aws:iam::999988887777:role/OrganizationAccountAccessRole", RoleSessionName="outside")
    for what, call in denials.items():
        message = _denied(call)
        assert "AccessDenied" in message or "not authorized" in message, (what, message)
    fact("tooling mode: the broker is denied", sorted(denials))


def _failure(batch: Batch) -> str:
    assert len(batch.failed) == 1, batch.invocation.describe()
    (failure,) = _logged(batch, ("queued event failed",))
    return f"{failure['error_type']}: {failure['error']}"


def _redelivered(setup: TwoAccounts) -> dict[str, Any]:
    """The message that failed, received again once its visibility timeout has passed."""
    assert setup.event_sources.expire_in_flight() == 1
    (again,) = setup.event_sources.drain()
    return _report(again)


def test_the_function_role_needs_its_own_permission_too(stage: Stage, two_accounts: TwoAccounts):
    """The delegation policy alone does not let the function read: without
    organizations:DescribeAccount in the function role's own policy the onboarding fails
    with AccessDenied naming that action and the function's role."""
    iam = stage.world.client("iam", two_accounts.tooling_operator)
    (name,) = iam.list_role_policies(RoleName=FUNCTION)["PolicyNames"]
    original = iam.get_role_policy(RoleName=FUNCTION, PolicyName=name)["PolicyDocument"]
    reduced = copy.deepcopy(original)
    for statement in reduced["Statement"]:
        if isinstance(statement["Action"], list) and "organizations:DescribeAccount" in statement["Action"]:
            statement["Action"].remove("organizations:DescribeAccount")
    assert reduced != original
    account = stage.world.create_member_account("team-function-denied")
    iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(reduced))
    try:
        message = _failure(_deliver(two_accounts, sample("create-account-result.json", account)))
    finally:
        iam.put_role_policy(RoleName=FUNCTION, PolicyName=name, PolicyDocument=json.dumps(original))
    fact("tooling mode: function role without organizations:DescribeAccount", message)
    assert "AccessDenied" in message and "organizations:DescribeAccount" in message, message
    assert f"assumed-role/{FUNCTION}/" in message and BROKER not in message, "the denial names the function's role"
    assert f"aws-{account}" not in stage.fake.varsets()

    # With the permission back, the same message, received again, goes through.
    assert _redelivered(two_accounts)["outcome"] == "onboarded"


def test_the_delegation_policy_is_what_lets_the_function_read(stage: Stage, two_accounts: TwoAccounts):
    """Deleted, the function's reads are refused and onboarding fails; infra/management with
    manage_delegation_policy = false writes nothing but outputs the same policy; applied again
    as deployed, it writes the policy back and the same message goes through."""
    management = stage.world.client("organizations", stage.operator)
    written = management.describe_resource_policy()["ResourcePolicy"]["Content"]
    function = stage.world.client("organizations", _function_credentials(stage, two_accounts, "delegation-check"))
    account = stage.world.create_member_account("team-no-delegation")
    assert function.describe_account(AccountId=account)["Account"]["Id"] == account

    management.delete_resource_policy()
    denied = _denied(lambda: function.describe_account(AccountId=account))
    _denied(lambda: function.list_accounts())
    # Every member may describe its organization, with or without the policy.
    assert function.describe_organization()["Organization"]["Id"] == stage.organization_id
    message = _failure(_deliver(two_accounts, sample("create-account-result.json", account)))
    fact("tooling mode: without the delegation policy", message)
    assert "AccessDenied" in message and "organizations:DescribeAccount" in message, message
    assert f"aws-{account}" not in stage.fake.varsets()

    # Not managed: nothing written, the same document output to merge by hand.
    unmanaged = _unmanaged_management_part(stage, two_accounts)
    try:
        assert not [a for a in unmanaged.state_resources() if "aws_organizations_resource_policy" in a]
        _not_found(lambda: management.describe_resource_policy())
        assert json.loads(unmanaged.output("delegation_policy")) == json.loads(written)
    finally:
        unmanaged.run("destroy", "-auto-approve", "-input=false", *_management_vars(two_accounts.outputs))
        shutil.rmtree(unmanaged.directory)

    # Applied again as deployed: the policy is back, and the read and the onboarding work.
    two_accounts.management_tf.run("apply", "-auto-approve", "-input=false", *_management_vars(two_accounts.outputs))
    assert json.loads(management.describe_resource_policy()["ResourcePolicy"]["Content"]) == json.loads(written)
    assert function.describe_account(AccountId=account)["Account"]["Id"] == account
    assert _redelivered(two_accounts)["outcome"] == "onboarded"
    fact("tooling mode: a delegated read without the policy", denied)


def _management_vars(outputs: dict[str, Any]) -> list[str]:
    """The management part's variables, from the tooling part's outputs."""
    return [f"-var=tooling_role_arn={outputs['role_arn']}",
            f"-var=tooling_event_bus_arn={outputs['tooling_event_bus_arn']}"]


def _unmanaged_management_part(stage: Stage, setup: TwoAccounts) -> Terraform:
    """The management example under another name (its rules and roles beside the deployed
    ones), applied with manage_delegation_policy = false."""
    relative = "infra/examples/management-unmanaged-policy"
    directory = stage.scratch / relative
    directory.mkdir(exist_ok=True)
    example = (stage.scratch / MANAGEMENT / "main.tf").read_text(encoding="utf-8")
    managed = "manage_delegation_policy = var.manage_delegation_policy"
    assert managed in example
    (directory / "main.tf").write_text(example.replace(managed, f'{managed}\n  name = "{FUNCTION}-unmanaged"'))
    tf = stage.terraform(relative, [None, "control_tower"])
    tf.run("init", "-input=false")
    tf.run("apply", "-auto-approve", "-input=false", "-var=manage_delegation_policy=false", *_management_vars(setup.outputs))
    return tf


def _not_found(call: Any) -> None:
    with pytest.raises(Exception) as refused:
        call()
    assert getattr(refused.value, "response", {}).get("Error", {}).get("Code") == "ResourcePolicyNotFoundException", refused.value
