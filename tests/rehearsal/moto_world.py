"""moto, served from this process, with the corrections the rehearsal needs to trust it.

`MotoWorld` serves every AWS API on 127.0.0.1 (moto's own WSGI app, in a thread) and
sets up an organization the way AWS would have it. Running in-process lets the harness
replace the parts of moto that cannot work here (Lambda invoke runs the real binary, see
lambda_runtime.py) and correct the ones that are more lenient than AWS:

- IAM is enforced on demand (`enforcing()`), and its denials reach the SDKs in the
  shape AWS uses for that service: JSON `AccessDeniedException` for JSON protocols,
  `<ErrorResponse>` with 403 for the query protocols (STS, IAM). moto answers with an
  `<Errors>` document every SDK reads as an unknown error.
- moto's signature check hashes a re-encoded form instead of the body as sent (the
  Rust SDK's IAM CreateRole fails it), and the header map as the payload of a request
  without a body (Lambda's GetFunction from Terraform fails it). It is given the bytes
  the client signed.
- moto checks most actions against resource `*`, so a statement scoped to an ARN never
  matches. The actions the function uses get their real resource: the account, OU or
  root of Organizations calls, the secret of GetSecretValue, the bus of PutEvents, the
  trail of GetTrailStatus and GetEventSelectors, the rule of DescribeRule (and the
  account's rules for ListRuleNamesByTarget).
- moto ignores condition keys. `aws:ResourceOrgID` is supplied for sts:AssumeRole (the
  organization of the account holding the role, empty outside any organization), so
  the function role's condition on it is evaluated.
- A schedule-only rule matches no event (moto lets it match every PutEvents).
- A function keeps its LoggingConfig (moto drops it, so every plan would show a change).
- moto names IAM actions after the API operation; Lambda's `Invoke` is authorized as
  `lambda:InvokeFunction`, as IAM does. Lambda's Invoke and Step Functions' calls are
  checked against the function, state machine or execution they name.
- A service assuming a role (`service_assumes`) is checked against the trust policy's
  conditions on the keys it supplies (`aws:SourceArn`, `aws:SourceAccount`), as AWS does.
- A queue's RedrivePolicy comes back as compact JSON, as AWS writes it (moto adds spaces,
  and every plan would show a change to it).
- moto runs an SQS event source mapping itself, inside SendMessage: one message per
  invocation, without the function's role, ignoring partial batch responses. That is
  switched off; Lambda's pollers are event_source_mapping.py's.
- Organizations has the organization's resource-based delegation policy
  (Put/Describe/DeleteResourcePolicy, taggable), and a member account's reads are
  allowed only where that policy allows them, answered from the management account's
  Organizations (organizations_delegation.py). moto answers them from the member's
  own empty backend, and has no delegation policy at all.
- Faults moto cannot produce (a throttled Organizations call) are injected on demand
  (`inject_error`), and every request is recorded with the key that signed it
  (`requests`), so a test can tell who called what.

Step Functions and EventBridge Scheduler have corrections of their own (step_functions.py).

Everything else is moto 5.2.5 as released. The patches are applied once per process and
only change behaviour while a MotoWorld runs.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

import boto3
import botocore.config
import requests

MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
ORG_ACCESS_ROLE = "OrganizationAccountAccessRole"

# Managed policies (AdministratorAccess, ReadOnlyAccess) exist only when moto loads them,
# and it reads this when it creates each account's IAM backend.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
# Account switching through AssumeRole only works without a fixed account.
os.environ.pop("MOTO_ACCOUNT_ID", None)

from moto import settings  # noqa: E402
from moto.core import authorization  # noqa: E402
from moto.core.exceptions import (  # noqa: E402
    AccessDeniedError,
    AuthFailureError,
    InvalidClientTokenIdError,
    SignatureDoesNotMatchError,
)
from moto.awslambda import models as lambda_models  # noqa: E402
from moto.awslambda.responses import LambdaResponse  # noqa: E402
from moto.cloudtrail.responses import CloudTrailResponse  # noqa: E402
from moto.events import models as events_models  # noqa: E402
from moto.events.responses import EventsHandler  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.organizations import models as org_models  # noqa: E402
from moto.organizations import utils as org_utils  # noqa: E402
from moto.organizations.responses import OrganizationsResponse  # noqa: E402
from moto.secretsmanager.responses import SecretsManagerResponse  # noqa: E402
from moto.stepfunctions.responses import StepFunctionResponse  # noqa: E402
from werkzeug.exceptions import HTTPException  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        values = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values


# moto's own test credentials; they work only while IAM is not enforced.
UNCHECKED = Credentials("testing", "testing")


RAW_BODY = "rehearsal.raw_body"


class _KeepRawBody:
    """WSGI middleware: keeps the bytes of a form-encoded body as sent. moto only keeps
    the parsed form, and re-encodes it to check a signature, which disagrees with any
    client that percent-encodes differently from botocore (the Rust SDK on IAM's
    CreateRole, for one)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length and (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            environ[RAW_BODY] = body
        return self.app(environ, start_response)


class _Server(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = _KeepRawBody(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@dataclass(frozen=True)
class Request:
    service: str
    action: str
    access_key_id: str
    resource: str


@dataclass
class _Fault:
    service: str
    action: str
    code: str
    message: str
    times: int


class MotoWorld:
    """One moto server on 127.0.0.1 for the whole process (moto's state is global)."""

    def __init__(self) -> None:
        _install_patches()
        self._server = _Server(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.region = "us-east-1"
        _WORLD["current"] = self

    @property
    def requests(self) -> list[Request]:
        """Every request moto authorized (or refused), in order, with the key that signed it."""
        return list(_REQUESTS)

    def inject_error(self, service: str, action: str, code: str, message: str, times: int) -> None:
        """The next `times` calls of a JSON-protocol `service:action` answer the error `code`
        (HTTP 400), as AWS answers a throttled or failed call."""
        _FAULTS.append(_Fault(service, action, code, message, times))

    def clear_faults(self) -> None:
        _FAULTS.clear()

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every resource of every account (enforcement is switched off too)."""
        self.relax_iam()
        _FAULTS.clear()
        _REQUESTS.clear()
        requests.post(f"{self.url}/moto-api/reset", timeout=60).raise_for_status()

    # -- clients -------------------------------------------------------------------

    def client(self, service: str, credentials: Credentials = UNCHECKED, region: str | None = None) -> Any:
        return boto3.client(
            service,
            region_name=region or self.region,
            endpoint_url=self.url,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            # Every fault must reach the caller once, never be retried away.
            config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}),
        )

    # -- IAM enforcement ----------------------------------------------------------

    def enforce_iam(self) -> None:
        """From now on every request must be signed by a known identity and allowed."""
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        authorization.ActionAuthenticatorMixin.request_count = 0

    def relax_iam(self) -> None:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")

    @property
    def enforcing_iam(self) -> bool:
        return settings.INITIAL_NO_AUTH_ACTION_COUNT == 0

    @contextlib.contextmanager
    def iam_relaxed(self) -> Iterator[None]:
        was = self.enforcing_iam
        self.relax_iam()
        try:
            yield
        finally:
            if was:
                self.enforce_iam()

    # -- the organization -----------------------------------------------------------

    def create_operator(self, name: str = "operator", account: str = MANAGEMENT_ACCOUNT) -> Credentials:
        """An IAM user with AdministratorAccess in `account`: the person who deploys there.
        Created while IAM is not enforced."""
        with self.iam_relaxed():
            credentials = UNCHECKED if account == MANAGEMENT_ACCOUNT else \
                self.assume_unchecked(f"arn:aws:iam::{account}:role/{ORG_ACCESS_ROLE}")
            iam = self.client("iam", credentials)
            iam.create_user(UserName=name)
            iam.attach_user_policy(UserName=name, PolicyArn=ADMINISTRATOR_ACCESS)
            key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def create_organization(self) -> str:
        with self.iam_relaxed():
            org = self.client("organizations").create_organization(FeatureSet="ALL")
        return org["Organization"]["Id"]

    def create_member_account(self, name: str, account_id: str | None = None,
                              roles: tuple[str, ...] = (ORG_ACCESS_ROLE,)) -> str:
        """A member account as AWS makes it: `roles` trust the management account and
        have AdministratorAccess, as OrganizationAccountAccessRole has in an account
        created through Organizations (moto creates it bare, and IAM enforcement would
        rightly deny everything done through it). An account Control Tower enrolled
        has AWSControlTowerExecution instead."""
        with self.iam_relaxed(), _fixed_account_id(account_id):
            status = self.client("organizations").create_account(
                AccountName=name, Email=f"{name}-{uuid.uuid4().hex[:8]}@example.com"
            )["CreateAccountStatus"]
            account = status["AccountId"]
            iam = self.client("iam", self.assume_unchecked(f"arn:aws:iam::{account}:role/{ORG_ACCESS_ROLE}"))
            trust = json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:root"}}]})
            for role in roles:
                if role != ORG_ACCESS_ROLE:
                    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
                iam.attach_role_policy(RoleName=role, PolicyArn=ADMINISTRATOR_ACCESS)
            if ORG_ACCESS_ROLE not in roles:
                iam.delete_role(RoleName=ORG_ACCESS_ROLE)
        return account

    def create_role_outside(self, account: str, role: str) -> None:
        """A role in an account of no organization, trusting the management account."""
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:root"}}]})
        with self.iam_relaxed():
            # moto hands out keys of any account while IAM is not enforced.
            iam = self.client("iam", self.assume_unchecked(f"arn:aws:iam::{account}:role/bootstrap"))
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)

    def assume_unchecked(self, role_arn: str, session: str = "rehearsal") -> Credentials:
        """Credentials of a role, through moto's STS, while IAM is not enforced."""
        with self.iam_relaxed():
            creds = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def service_assumes(self, role_arn: str, service: str, session: str,
                        context: dict[str, str] | None = None) -> Credentials:
        """What a service (Lambda, Step Functions, EventBridge Scheduler) does with a role it
        is given: it checks that the role's trust policy names it, under the conditions the
        policy puts on the keys the service supplies in `context` (aws:SourceArn,
        aws:SourceAccount), then assumes the role as itself, outside the caller's IAM."""
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        account = role_arn.split(":")[4]
        role = iam_backends[account]["aws"].get_role(role_arn.split("/")[-1])
        trust = json.loads(role.assume_role_policy_document)
        if not _trusts_service(trust, service, context or {}):
            raise PermissionError(
                f"the trust policy of {role_arn} does not let {service} assume it with {context or {}}: {trust}"
            )
        assumed = sts_backends[account]["aws"].assume_role(
            region_name=self.region, role_session_name=session, role_arn=role_arn,
            policy=None, duration=3600, external_id=None,
        )
        return Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# The condition operators trust policies of this project use; any other one fails closed.
_CONDITIONS = {
    "StringEquals": lambda actual, expected: actual == expected,
    "ArnEquals": lambda actual, expected: actual == expected,
    "ArnLike": lambda actual, expected: fnmatch.fnmatchcase(actual, expected),
    "StringLike": lambda actual, expected: fnmatch.fnmatchcase(actual, expected),
}


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """Every operator and key must hold; a key the caller does not supply fails it, as for
    AWS's operators without IfExists."""
    keys = {key.lower(): value for key, value in context.items()}
    for operator, tests in conditions.items():
        compare = _CONDITIONS.get(operator)
        if compare is None:
            return False
        for key, expected in tests.items():
            actual = keys.get(key.lower())
            if actual is None or not any(compare(actual, value) for value in _listed(expected)):
                return False
    return True


def _trusts_service(trust: dict[str, Any], service: str, context: dict[str, str]) -> bool:
    for statement in _listed(trust.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principals = statement.get("Principal", {}).get("Service", [])
        if ("sts:AssumeRole" in _listed(statement.get("Action", [])) and service in _listed(principals)
                and _conditions_hold(statement.get("Condition", {}), context)):
            return True
    return False


@contextlib.contextmanager
def _fixed_account_id(account_id: str | None) -> Iterator[None]:
    """moto draws member account ids at random; the rehearsal needs the one the sample
    events name."""
    if account_id is None:
        yield
        return
    original = org_utils.make_random_account_id
    org_utils.make_random_account_id = lambda: account_id
    try:
        yield
    finally:
        org_utils.make_random_account_id = original


# ---------------------------------------------------------------------------------------
# Patches
# ---------------------------------------------------------------------------------------

_PATCHED = False
_PATCH_LOCK = threading.Lock()
_WORLD: dict[str, MotoWorld] = {}
_REQUESTS: list[Request] = []
_FAULTS: list[_Fault] = []
# Services whose API is REST with JSON bodies: no X-Amz-Target, and any content type.
_REST_JSON_SERVICES = {"lambda", "scheduler"}
# IAM's name for an action where moto takes the API operation's.
_IAM_ACTIONS = {"lambda:Invoke": "lambda:InvokeFunction"}


def _install_patches() -> None:
    global _PATCHED
    # Imported here: it builds on this module's condition evaluation.
    from rehearsal import organizations_delegation
    with _PATCH_LOCK:
        if _PATCHED:
            return
        _patch_denials()
        _patch_signature_check()
        _patch_resources()
        _patch_assume_role()
        _patch_schedule_rules()
        _patch_lambda_logging_config()
        _patch_action_names()
        _patch_faults()
        _patch_sqs_event_source_mappings()
        _patch_sqs_redrive_policy()
        organizations_delegation.install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        _PATCHED = True


class _ShapedDenial(HTTPException):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(description=body)
        self.code = status


# Codes of the errors a JSON-protocol service returns for moto's query-style ones.
_JSON_CODES = {
    "AccessDenied": "AccessDeniedException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "AuthFailure": "UnrecognizedClientException",
}


def _patch_denials() -> None:
    original = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

    def authenticate_and_authorize(self: Any, resource: str = "*") -> None:
        _REQUESTS.append(Request(_signing_service(self.headers), self._get_action(), _access_key_id(self.headers), resource))
        raw = self.normalized_request.environ.get(RAW_BODY)
        parsed_body = self.raw_body
        if raw and not parsed_body:
            self.raw_body = raw  # what the signature covers
        try:
            original(self, resource)
        except (AccessDeniedError, SignatureDoesNotMatchError, InvalidClientTokenIdError, AuthFailureError) as error:
            message = error.message
            if isinstance(error, AccessDeniedError) and resource != "*":
                message += f" on resource: {resource}"
            rest_json = _signing_service(self.headers) in _REST_JSON_SERVICES
            json_protocol = rest_json or bool(self.headers.get("X-Amz-Target")) or "json" in (self.headers.get("Content-Type") or "")
            if json_protocol:
                code = _JSON_CODES[error.error_type]
                self.response_headers["Content-Type"] = "application/x-amz-json-1.1"
                self.response_headers["x-amzn-ErrorType"] = code
                # JSON protocols answer an authorization failure with 400, an
                # authentication failure with 403; REST-JSON ones (Lambda) both with 403.
                status = 400 if code == "AccessDeniedException" and not rest_json else 403
                raise _ShapedDenial(status, json.dumps({"__type": code, "message": message})) from None
            self.response_headers["Content-Type"] = "text/xml"
            body = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{escape(error.error_type)}</Code><Message>{escape(message)}</Message>"
                f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            )
            raise _ShapedDenial(403, body) from None
        finally:
            self.raw_body = parsed_body

    authorization.ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authenticate_and_authorize


def _signing_service(headers: Any) -> str:
    scope = (headers.get("Authorization") or "").split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else ""


def _access_key_id(headers: Any) -> str:
    return (headers.get("Authorization") or "").split("Credential=", 1)[-1].split("/", 1)[0]


def _patch_action_names() -> None:
    original = access_control.IAMRequestBase.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._action = _IAM_ACTIONS.get(self._action, self._action)

    access_control.IAMRequestBase.__init__ = init


def _patch_sqs_event_source_mappings() -> None:
    from moto.sqs.models import Queue

    # A queue never holds a mapping to run, whatever Lambda's backend registers in it.
    Queue.lambda_event_source_mappings = property(lambda self: {}, lambda self, value: None)


def _patch_sqs_redrive_policy() -> None:
    from moto.sqs.models import Queue

    original = Queue.attributes

    def attributes(self: Any) -> dict[str, Any]:
        result = original.fget(self)
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    Queue.attributes = property(attributes)


def _patch_faults() -> None:
    """Injected errors answer before moto looks at the request, as AWS throttles a call
    before evaluating it."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        service, action = _signing_service(self.headers), self._get_action()
        for fault in _FAULTS:
            if (fault.service, fault.action) == (service, action) and fault.times > 0:
                fault.times -= 1
                body = json.dumps({"__type": fault.code, "message": fault.message})
                return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": fault.code}, body
        return original(self)

    BaseResponse.call_action = call_action


def _patch_signature_check() -> None:
    """moto recomputes a signature over `body or data`, and for a REST request without a
    body (a GET such as Lambda's GetFunction) its `data` is the header map: it then
    hashes a payload nobody signed and refuses the request. Such a request's payload is
    empty. (Form posts keep moto's way: their body is only in `data`.)"""
    original = access_control.IAMRequestBase._create_aws_request

    def create_aws_request(self: Any) -> Any:
        request = original(self)
        if not self._body and self._method in ("GET", "HEAD", "DELETE"):
            request.data = b""
        return request

    access_control.IAMRequestBase._create_aws_request = create_aws_request


def _patch_resources() -> None:
    from rehearsal import organizations_delegation

    def organizations_resource(self: OrganizationsResponse) -> str:
        # A member's read names the organization's resource too (organizations_delegation.py).
        backend = organizations_delegation.organization_backend(self.current_account, self.partition)
        return organizations_delegation.resource_arn(self._get_action(), self.request_params, backend, self.partition)

    def secretsmanager_resource(self: SecretsManagerResponse) -> str:
        secret_id = self._get_param("SecretId")
        secret = self.backend.secrets.get(secret_id) if secret_id else None
        # A secret that does not exist is still checked against what was asked for.
        return secret.arn if secret is not None else (secret_id or "*")

    def events_resource(self: EventsHandler) -> str:
        action = self._get_action()
        rules = f"arn:{self.partition}:events:{self.region}:{self.current_account}:rule"
        if action == "DescribeRule":
            bus = self._get_param("EventBusName") or "default"
            bus = bus.rsplit("/", 1)[-1]
            name = self._get_param("Name")
            return f"{rules}/{name}" if bus == "default" else f"{rules}/{bus}/{name}"
        if action == "ListRuleNamesByTarget":
            # A listing is checked against the rules it may list.
            return f"{rules}/*"
        if action != "PutEvents":
            return "*"
        buses = {entry.get("EventBusName") or "default" for entry in self._get_param("Entries") or []}
        if len(buses) != 1:
            return "*"
        (bus,) = buses
        if bus.startswith("arn:"):
            return bus
        return f"arn:{self.partition}:events:{self.region}:{self.current_account}:event-bus/{bus}"

    def lambda_resource(self: Any) -> str:
        if self._get_action() != "Invoke":
            return "*"
        name = unquote(self.path.split("/functions/", 1)[-1].split("/", 1)[0])
        if name.startswith("arn:"):
            return name.split(":$")[0] if ":$" in name else name
        return f"arn:{self.partition}:lambda:{self.region}:{self.current_account}:function:{name}"

    def stepfunctions_resource(self: Any) -> str:
        for key in ("executionArn", "stateMachineArn"):
            arn = self._get_param(key)
            if arn:
                return arn
        return "*"

    def cloudtrail_resource(self: CloudTrailResponse) -> str:
        key = {"GetTrailStatus": "Name", "GetEventSelectors": "TrailName"}.get(self._get_action())
        trail = self._get_param(key) if key else None
        if not trail:
            return "*"  # DescribeTrails has no resource type
        if trail.startswith("arn:"):
            return trail
        return f"arn:{self.partition}:cloudtrail:{self.region}:{self.current_account}:trail/{trail}"

    OrganizationsResponse._determine_resource = organizations_resource
    CloudTrailResponse._determine_resource = cloudtrail_resource
    SecretsManagerResponse._determine_resource = secretsmanager_resource
    EventsHandler._determine_resource = events_resource
    LambdaResponse._determine_resource = lambda_resource
    StepFunctionResponse._determine_resource = stepfunctions_resource


def _organization_of(account_id: str) -> str:
    """The id of the organization `account_id` belongs to, or '' outside any."""
    members = org_models.organizations_backends.master_accounts
    if account_id in members:
        master, partition = members[account_id]
        org = org_models.organizations_backends[master][partition].org
        return org.id if org else ""
    org = org_models.organizations_backends[account_id]["aws"].org
    return org.id if org else ""


def _trusted_by(role: Any, caller_arn: str) -> bool:
    """Whether `role`'s trust policy lets the IAM principal `caller_arn` (an assumed-role
    session or a user) call sts:AssumeRole: an Allow statement naming the caller's
    account root, its role or user, or "*", whose conditions hold. Of the conditions
    only `aws:PrincipalArn` is evaluated (the broker role of tooling mode names the
    function's role with it); a statement with any other condition does not count, the
    stricter reading."""
    partition, account = caller_arn.split(":")[1], caller_arn.split(":")[4]
    names = {"*", f"arn:{partition}:iam::{account}:root", account}
    kind, _, rest = caller_arn.split(":", 5)[5].partition("/")
    # aws:PrincipalArn of a role session is the role's ARN (as IAM has it, path included).
    principal_arn = caller_arn
    if kind == "assumed-role":
        principal_arn = f"arn:{partition}:iam::{account}:role/{rest.split('/')[0]}"
        names.add(principal_arn)
    else:
        names.add(caller_arn)
    statements = json.loads(role.assume_role_policy_document).get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        principal = statement.get("Principal", {})
        aws = principal.get("AWS", []) if isinstance(principal, dict) else principal
        if (statement.get("Effect") == "Allow" and "sts:AssumeRole" in (actions if isinstance(actions, list) else [actions])
                and names & set(aws if isinstance(aws, list) else [aws])
                and _principal_conditions_hold(statement.get("Condition", {}), principal_arn)):
            return True
    return False


def _principal_conditions_hold(conditions: dict[str, Any], principal_arn: str) -> bool:
    """Every condition is on aws:PrincipalArn, and `principal_arn` satisfies it."""
    import fnmatch

    for operator, keys in conditions.items():
        glob = {"StringEquals": False, "ArnEquals": False, "StringLike": True, "ArnLike": True}.get(operator)
        if glob is None or not isinstance(keys, dict):
            return False
        for key, values in keys.items():
            values = values if isinstance(values, list) else [values]
            if key.lower() != "aws:principalarn":
                return False
            if not any(fnmatch.fnmatchcase(principal_arn, v) if glob else principal_arn == v for v in values):
                return False
    return True


def _patch_assume_role() -> None:
    """sts:AssumeRole as AWS decides it: the caller's policies must allow it (with
    aws:ResourceOrgID, the organization of the role's account, '' outside any), the
    role must exist, and its trust policy must name the caller. moto checks the trust
    only for roles of the caller's own account, and crashes on a service principal."""
    from moto.iam.models import iam_backends

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action == "sts:GetCallerIdentity":
            return
        assume = self._action == "sts:AssumeRole" and resource.startswith("arn:")
        context = {"aws:ResourceOrgID": _organization_of(resource.split(":")[4])} if assume else None
        permitted = False
        for policy in self._access_key.collect_policies():
            result = access_control.IAMPolicy(policy).is_action_permitted(self._action, resource, None, context)
            if result == access_control.PermissionResult.DENIED:
                self._raise_access_denied()
            if result == access_control.PermissionResult.PERMITTED:
                permitted = True
        if permitted and assume:
            partition, account = resource.split(":")[1], resource.split(":")[4]
            try:
                role = iam_backends[account][partition].get_role_by_arn(resource)
            except Exception:  # moto's NotFound: AWS answers AccessDenied, not "no such role"
                role = None
            permitted = role is not None and _trusted_by(role, self._access_key.arn)
        if not permitted:
            self._raise_access_denied()

    access_control.IAMRequestBase.check_action_permitted = check_action_permitted


def _patch_schedule_rules() -> None:
    original = events_models.Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        # A rule with only a schedule never matches an event.
        if self.scheduled_expression and not self.event_pattern.get_pattern():
            return
        original(self, original_event, transform_input)

    events_models.Rule.send_to_targets = send_to_targets


def _patch_lambda_logging_config() -> None:
    function = lambda_models.LambdaFunction
    original_init = function.__init__
    original_get = function.get_configuration
    original_update = function.update_configuration

    def init(self: Any, account_id: str, spec: dict[str, Any], region: str, version: Any = 1) -> None:
        original_init(self, account_id, spec, region, version)
        self.logging_config = spec.get("LoggingConfig")

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config = original_get(self, on_create)
        # What Lambda answers: its defaults filled in.
        config["LoggingConfig"] = {
            "LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}",
            **(getattr(self, "logging_config", None) or {}),
        }
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            self.logging_config = config_updates["LoggingConfig"]
        return original_update(self, config_updates)

    function.__init__ = init
    function.get_configuration = get_configuration
    function.update_configuration = update_configuration
