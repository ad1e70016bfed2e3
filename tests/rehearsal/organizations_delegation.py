"""Organizations' resource-based delegation policy, which moto 5.2.5 lacks.

moto has no PutResourcePolicy, and answers a member account's Organizations reads from the
member's own (empty) backend. AWS Organizations instead lets a member read the organization
only where the organization's delegation policy allows it (AWS Organizations API reference:
PutResourcePolicy, DescribeResourcePolicy, DeleteResourcePolicy; the user guide's "Delegated
administrator for AWS Organizations"). This module emulates that, strictly:

- Put/Describe/DeleteResourcePolicy: the management account only (a member gets
  AccessDeniedException, an account outside any organization
  AWSOrganizationsNotInUseException). Content must be JSON (InvalidInputException) of at most
  40,000 characters (ConstraintViolationException, POLICY_CONTENT_LIMIT_EXCEEDED: the
  reference names both exceptions without saying which answers which; this is the stricter
  split). Put replaces the organization's one policy, keeping its id and tags; Describe and
  Delete without one: ResourcePolicyNotFoundException. The policy is taggable by its rp- id
  (TagResource, UntagResource, ListTagsForResource), as the Terraform provider reads its tags.
- A member account's read (Describe*, List*): DescribeOrganization is always allowed, as for
  every member. Any other is allowed only when an Allow statement of the delegation policy
  matches the caller (Principal AWS: the caller's account, as id or root ARN, or its principal
  ARN), the action (IAM wildcards), the resource (the ARN of the account, OU, root, policy or
  resource policy named; "*" for an action without a resource type) and every condition
  (aws:PrincipalArn, aws:PrincipalAccount with ArnEquals, ArnLike, StringEquals, StringLike;
  any other key or operator does not hold); an explicit Deny wins. Allowed: answered from the
  management account's backend, as if it had asked. Otherwise AccessDeniedException (HTTP
  400), "You don't have permissions to access this resource.". Writes from members are moto's.
- The identity half (the caller's own policy) is moto's IAM enforcement; `resource_arn` gives
  it the same resource ARN for a member as for the management account.
"""

from __future__ import annotations

import json
import random
import re
import string
from typing import Any

from moto.core.exceptions import ServiceException
from moto.organizations import utils as org_utils
from moto.organizations.models import OrganizationsBackend, organizations_backends
from moto.organizations.responses import OrganizationsResponse

from rehearsal.moto_world import _conditions_hold, _listed

DENIED = "You don't have permissions to access this resource."
MAX_CONTENT = 40_000
# Reads a member makes without the delegation policy (every member may describe its organization),
# and the resource policy calls, which only the management account may make at all.
_OWN_ANSWER = {"DescribeOrganization", "DescribeResourcePolicy"}
# The request field naming the resource, for the read actions that have a resource type
# (IAM Service Authorization Reference, AWS Organizations); every other read has none.
_RESOURCE_PARAMS = {
    "DescribeAccount": "AccountId",
    "DescribeOrganizationalUnit": "OrganizationalUnitId",
    "DescribePolicy": "PolicyId",
    "DescribeEffectivePolicy": "TargetId",
    "ListParents": "ChildId",
    "ListChildren": "ParentId",
    "ListAccountsForParent": "ParentId",
    "ListOrganizationalUnitsForParent": "ParentId",
    "ListPoliciesForTarget": "TargetId",
    "ListTargetsForPolicy": "PolicyId",
    "ListTagsForResource": "ResourceId",
    "ListDelegatedServicesForAccount": "AccountId",
}
_CONDITION_KEYS = {"aws:principalarn", "aws:principalaccount"}
# The organization's one policy, by organization id: a fresh organization starts without one.
_POLICIES: dict[str, _ResourcePolicy] = {}


class _Error(ServiceException):
    pass


class _ResourcePolicy:
    def __init__(self, org: Any, partition: str, content: str) -> None:
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
        self.id = f"rp-{suffix}"
        self.arn = f"arn:{partition}:organizations::{org.master_account_id}:resourcepolicy/{org.id}/{self.id}"
        self.content = content
        self.tags: dict[str, str] = {}

    def describe(self) -> dict[str, Any]:
        return {"ResourcePolicy": {"ResourcePolicySummary": {"Id": self.id, "Arn": self.arn}, "Content": self.content}}


def organization_backend(account: str, partition: str) -> OrganizationsBackend | None:
    """The backend of the management account of `account`'s organization, None outside any."""
    members = organizations_backends.master_accounts
    if account in members:
        management, partition = members[account]
        return organizations_backends[management][partition]
    backend = organizations_backends[account][partition]
    return backend if backend.org is not None else None


def resource_arn(action: str, params: dict[str, Any], backend: OrganizationsBackend | None, partition: str) -> str:
    """The ARN of the resource `action` names, in the organization of `backend`; "*" for an
    action without a resource type."""
    key = _RESOURCE_PARAMS.get(action)
    target = params.get(key) if key else None
    if not target or backend is None or backend.org is None:
        return "*"
    org = backend.org
    if target.startswith("rp-"):
        policy = _POLICIES.get(org.id)
        return policy.arn if policy and policy.id == target else \
            f"arn:{partition}:organizations::{org.master_account_id}:resourcepolicy/{org.id}/{target}"
    if target.startswith("p-"):
        policy = next((p for p in backend.policies if p.id == target), None)
        return policy.arn if policy else \
            f"arn:{partition}:organizations::{org.master_account_id}:policy/{org.id}/*/{target}"
    if target.startswith("ou-"):
        template = org_utils.OU_ARN_FORMAT
    elif target.startswith("r-"):
        template = org_utils.ROOT_ARN_FORMAT
    else:
        template = org_utils.ACCOUNT_ARN_FORMAT
    return template.format(partition, org.master_account_id, org.id, target)


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: * and ? only (fnmatch would read [ ] too)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _matches(statement: dict[str, Any], caller_names: set[str], action: str, resource: str,
             context: dict[str, str]) -> bool:
    if any(key in statement for key in ("NotPrincipal", "NotAction", "NotResource")):
        # Not emulated: such a statement never allows, and always denies (the stricter reading).
        return statement.get("Effect") == "Deny"
    principal = statement.get("Principal", {})
    aws = set(_listed(principal.get("AWS", []))) if isinstance(principal, dict) else set()
    if not aws & caller_names:
        return False
    if not any(_glob(a, action, case_sensitive=False) for a in _listed(statement.get("Action", []))):
        return False
    if not any(r == "*" or _glob(r, resource) for r in _listed(statement.get("Resource", []))):
        return False
    conditions = statement.get("Condition", {})
    if any(key.lower() not in _CONDITION_KEYS for tests in conditions.values() for key in tests):
        return False
    return _conditions_hold(conditions, context)


def delegated(policy: _ResourcePolicy | None, caller_arn: str, principal_arn: str, action: str, resource: str) -> bool:
    """Whether the delegation policy lets the caller (signing as `caller_arn`, whose
    aws:PrincipalArn is `principal_arn`) make `action` on `resource`."""
    if policy is None:
        return False
    partition, account = caller_arn.split(":")[1], caller_arn.split(":")[4]
    names = {account, f"arn:{partition}:iam::{account}:root", principal_arn}
    context = {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": account}
    statements = _listed(json.loads(policy.content).get("Statement", []))
    matching = [s for s in statements if _matches(s, names, f"organizations:{action}", resource, context)]
    if any(s.get("Effect") == "Deny" for s in matching):
        return False
    return any(s.get("Effect") == "Allow" for s in matching)


def _caller(response: OrganizationsResponse) -> tuple[str, str]:
    """The caller's ARN and its aws:PrincipalArn (a role session's is its role's, path included)."""
    from moto.iam import access_control
    from moto.sts.models import sts_backends

    account, partition = response.current_account, response.partition
    key = response.access_key
    for assumed in sts_backends[account][partition].assumed_roles:
        if assumed.access_key_id == key:
            return assumed.arn, assumed.role_arn
    try:
        arn = access_control.create_access_key(account, partition, key, response.headers).arn
    except Exception:  # an unknown key: only the account is known
        arn = f"arn:{partition}:iam::{account}:root"
    return arn, arn


def _backend(self: OrganizationsResponse) -> OrganizationsBackend:
    own = organizations_backends[self.current_account][self.partition]
    action = self._get_action()
    member = own.org is None and self.current_account in organizations_backends.master_accounts
    if not member or action in _OWN_ANSWER or not action.startswith(("Describe", "List")):
        return own
    management = organization_backend(self.current_account, self.partition)
    resource = resource_arn(action, self.request_params, management, self.partition)
    caller_arn, principal_arn = _caller(self)
    if not delegated(_POLICIES.get(management.org.id), caller_arn, principal_arn, action, resource):
        raise _Error("AccessDeniedException", DENIED)
    return management


def _management_policy(self: OrganizationsResponse) -> tuple[Any, _ResourcePolicy | None]:
    backend = organizations_backends[self.current_account][self.partition]
    if backend.org is None:
        if self.current_account in organizations_backends.master_accounts:
            raise _Error("AccessDeniedException", DENIED)
        raise _Error("AWSOrganizationsNotInUseException",
                     "Your account is not a member of an organization.")
    return backend.org, _POLICIES.get(backend.org.id)


def put_resource_policy(self: OrganizationsResponse) -> str:
    org, policy = _management_policy(self)
    content = self._get_param("Content")
    if not isinstance(content, str) or not content:
        raise _Error("InvalidInputException", "You provided a value that does not match the required pattern.")
    if len(content) > MAX_CONTENT:
        raise _Error("ConstraintViolationException", "POLICY_CONTENT_LIMIT_EXCEEDED: the policy is larger than 40,000 characters.")
    try:
        json.loads(content)
    except ValueError:
        raise _Error("InvalidInputException", "The provided policy document is not valid JSON.") from None
    if policy is None:
        policy = _POLICIES[org.id] = _ResourcePolicy(org, self.partition, content)
    policy.content = content
    policy.tags.update({tag["Key"]: tag["Value"] for tag in self._get_param("Tags") or []})
    return json.dumps(policy.describe())


def describe_resource_policy(self: OrganizationsResponse) -> str:
    _, policy = _management_policy(self)
    if policy is None:
        raise _Error("ResourcePolicyNotFoundException", "We can't find a resource policy request with the parameter that you specified.")
    return json.dumps(policy.describe())


def delete_resource_policy(self: OrganizationsResponse) -> str:
    org, policy = _management_policy(self)
    if policy is None:
        raise _Error("ResourcePolicyNotFoundException", "We can't find a resource policy request with the parameter that you specified.")
    del _POLICIES[org.id]
    return "{}"


def install() -> None:
    """Patch moto's Organizations (once per process)."""
    OrganizationsResponse.organizations_backend = property(_backend)
    OrganizationsResponse.put_resource_policy = put_resource_policy
    OrganizationsResponse.describe_resource_policy = describe_resource_policy
    OrganizationsResponse.delete_resource_policy = delete_resource_policy

    original = OrganizationsBackend._get_resource_for_tagging

    def resource_for_tagging(self: OrganizationsBackend, resource_id: str) -> Any:
        if not resource_id.startswith("rp-"):
            return original(self, resource_id)
        policy = _POLICIES.get(self.org.id) if self.org else None
        if policy is None or policy.id != resource_id:
            raise _Error("TargetNotFoundException", "You specified a target that doesn't exist.")
        return policy

    OrganizationsBackend._get_resource_for_tagging = resource_for_tagging
