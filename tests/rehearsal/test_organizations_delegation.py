"""The delegation policy emulation (organizations_delegation.py) against its rules, from the
AWS Organizations API reference, with boto3 as the client: the tooling rehearsal only
exercises the policy infra/management writes, so the rules it does not reach are checked
here. IAM is relaxed, so that only the delegation policy decides a member's read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rehearsal.moto_world import MANAGEMENT_ACCOUNT
from rehearsal.stage import Stage

ROLE = "OrganizationAccountAccessRole"


@pytest.fixture(scope="module")
def world(stage: Stage) -> Iterator[Any]:
    stage.fresh_organization()
    with stage.world.iam_relaxed():
        yield stage.world


def _code(call: Any) -> str:
    with pytest.raises(Exception) as refused:
        call()
    return refused.value.response["Error"]["Code"]


def _member(world: Any, name: str) -> tuple[str, Any]:
    account = world.create_member_account(name)
    credentials = world.assume_unchecked(f"arn:aws:iam::{account}:role/{ROLE}")
    return account, world.client("organizations", credentials)


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_only_the_management_account_manages_the_policy(world: Any):
    management = world.client("organizations")
    assert _code(management.describe_resource_policy) == "ResourcePolicyNotFoundException"
    assert _code(management.delete_resource_policy) == "ResourcePolicyNotFoundException"
    first = management.put_resource_policy(Content=_policy(), Tags=[{"Key": "team", "Value": "platform"}])
    summary = first["ResourcePolicy"]["ResourcePolicySummary"]
    assert summary["Id"].startswith("rp-") and len(summary["Id"]) == 11 and summary["Id"][3:].isalnum()
    organization = management.describe_organization()["Organization"]["Id"]
    assert summary["Arn"] == f"arn:aws:organizations::{MANAGEMENT_ACCOUNT}:resourcepolicy/{organization}/{summary['Id']}"

    # Put replaces the organization's one policy; the policy is taggable by its id.
    replaced = management.put_resource_policy(Content=_policy({"Effect": "Deny"}))["ResourcePolicy"]
    assert replaced["ResourcePolicySummary"] == summary and json.loads(replaced["Content"])["Statement"] == [{"Effect": "Deny"}]
    management.tag_resource(ResourceId=summary["Id"], Tags=[{"Key": "k", "Value": "v"}])
    management.untag_resource(ResourceId=summary["Id"], TagKeys=["team"])
    assert management.list_tags_for_resource(ResourceId=summary["Id"])["Tags"] == [{"Key": "k", "Value": "v"}]
    assert _code(lambda: management.list_tags_for_resource(ResourceId="rp-00000000")) == "TargetNotFoundException"

    # Not JSON, or too long: refused, and the policy stays as it was.
    assert _code(lambda: management.put_resource_policy(Content="not json")) == "InvalidInputException"
    too_long = json.dumps({"Version": "2012-10-17", "Statement": [], "Padding": "x" * 40_000})
    assert _code(lambda: management.put_resource_policy(Content=too_long)) == "ConstraintViolationException"
    assert management.describe_resource_policy()["ResourcePolicy"] == replaced

    # A member may not call any of the three; an account of no organization is told so.
    _, member = _member(world, "policy-member")
    for call in (member.describe_resource_policy, member.delete_resource_policy,
                 lambda: member.put_resource_policy(Content=_policy())):
        assert _code(call) == "AccessDeniedException"
    outside = world.client("organizations", world.assume_unchecked("arn:aws:iam::999988887777:role/bootstrap"))
    assert _code(outside.describe_resource_policy) == "AWSOrganizationsNotInUseException"

    management.delete_resource_policy()
    assert _code(management.describe_resource_policy) == "ResourcePolicyNotFoundException"


def test_a_member_reads_only_what_the_policy_allows(world: Any):
    management = world.client("organizations")
    account, member = _member(world, "reader")
    organization = management.describe_organization()["Organization"]["Id"]
    role_arn = f"arn:aws:iam::{account}:role/{ROLE}"
    accounts = f"arn:aws:organizations::{MANAGEMENT_ACCOUNT}:account/{organization}/*"
    describe = lambda: member.describe_account(AccountId=account)  # noqa: E731
    allow = {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "organizations:DescribeAccount", "Resource": accounts}

    # Every member may describe its organization; nothing else without a policy.
    assert member.describe_organization()["Organization"]["Id"] == organization
    assert _code(describe) == "AccessDeniedException"

    cases = {
        "the account id as principal": (allow, True),
        "the account root, an action wildcard": ({**allow, "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                                  "Action": "organizations:Describe*"}, True),
        "the role as principal, its ARN as condition": ({**allow, "Principal": {"AWS": role_arn},
                                                         "Condition": {"ArnEquals": {"aws:PrincipalArn": role_arn}}}, True),
        "aws:PrincipalAccount": ({**allow, "Condition": {"StringEquals": {"aws:PrincipalAccount": account}}}, True),
        "another role's ARN": ({**allow, "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{account}:role/other*"}}}, False),
        "another account": ({**allow, "Principal": {"AWS": "111122223333"}}, False),
        "another organization's accounts": ({**allow, "Resource": accounts.replace(organization, "o-aaaaaaaaaa")}, False),
        "another action": ({**allow, "Action": "organizations:ListParents"}, False),
        "a condition key not emulated": ({**allow, "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}}, False),
        "Principal *": ({**allow, "Principal": {"AWS": "*"}}, False),
    }
    for what, (statement, allowed) in cases.items():
        management.put_resource_policy(Content=_policy(statement))
        if allowed:
            assert describe()["Account"]["Id"] == account, what
        else:
            assert _code(describe) == "AccessDeniedException", what

    # An explicit Deny wins; an action without a resource type matches only "*".
    management.put_resource_policy(Content=_policy(allow, {**allow, "Effect": "Deny"}))
    assert _code(describe) == "AccessDeniedException"
    listing = {**allow, "Action": "organizations:ListAccounts"}
    management.put_resource_policy(Content=_policy(listing))
    assert _code(member.list_accounts) == "AccessDeniedException"
    management.put_resource_policy(Content=_policy({**listing, "Resource": "*"}))
    # Answered from the management account's Organizations: every account, the management's too.
    listed = {a["Id"] for a in member.list_accounts()["Accounts"]}
    assert {account, MANAGEMENT_ACCOUNT} <= listed
    management.delete_resource_policy()
