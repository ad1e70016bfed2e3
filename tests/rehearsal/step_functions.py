"""Step Functions and EventBridge Scheduler as AWS runs them, on moto's interpreter.

moto 5.2.5 executes Amazon States Language when its configuration asks for it
(`stepfunctions.execute_state_machine`, switched on by `install`), with LocalStack's
interpreter. The corrections:

- `ValidateStateMachineDefinition` and `ListStateMachineVersions` are missing; the
  hashicorp/aws provider calls both before creating a state machine (and retries the first
  for minutes). They are answered: the definition goes through moto's own parser, and there
  are no versions (the module publishes none).
- A task's AWS call is made by moto with fixed keys, to `localhost` on moto's default port.
  Here it is made the way Step Functions makes it: with the state machine's role, assumed
  as `states.amazonaws.com` (the trust policy must name the service, and its
  `aws:SourceArn`/`aws:SourceAccount` conditions are evaluated against the state machine),
  so moto's IAM enforcement checks the role's policy on every call; a Lambda task reaches
  moto's Invoke, which runs the real binary (lambda_runtime.py).
- AWS SDK integrations take and return the API's fields in PascalCase (Step Functions'
  documentation); moto passes the names to boto as written and returns boto's. Both are
  mapped through botocore's model of the operation. Their errors are named
  `<Service>.<error code>`, with an `Exception` suffix (the documentation again); moto
  names an error the SDK does not model `<Service>.<Service>Exception`.
- `StartExecution` without a name gets a generated one, as in AWS (moto names it `None`).
- Time: retry pauses and Wait states are compressed by `Clock.factor`, and every pause the
  definition asked for is recorded (`Clock.pauses`), so a test can check the backoff
  without waiting for it.

EventBridge Scheduler stores schedules in moto and never fires them: `Scheduler.fire` does
what the service does at the scheduled time (see there).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import ClientError

from .moto_world import Credentials, MotoWorld

_INSTALLED: dict[str, Any] = {}


@dataclass
class Clock:
    """Compressed time for the interpreter's pauses."""

    factor: float = 1.0
    pauses: list[tuple[str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pause(self, kind: str, seconds: float, wait: Any = time.sleep) -> None:
        with self._lock:
            self.pauses.append((kind, float(seconds)))
        if seconds > 0:
            wait(seconds * self.factor)


class _RetrierTime:
    """What moto's retrier sees as the `time` module."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.pause("retry", seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@dataclass(frozen=True)
class _ExecutionCredentials:
    """What a task runs with: the execution's role, and the state machine assuming it."""

    role_arn: str
    state_machine_arn: str


def install(world: MotoWorld) -> Clock:
    """Once per process: the corrections above, for `world`."""
    if "clock" in _INSTALLED:
        return _INSTALLED["clock"]
    from moto.core.config import default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    clock = Clock()
    _patch_missing_actions()
    _patch_aws_sdk_names()
    _patch_task_credentials(world)
    _patch_execution_names()
    _patch_time(clock)
    _INSTALLED["clock"] = clock
    return clock


def _patch_missing_actions() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> ActionResult:
        try:
            StepFunctionsParserBackend._validate_definition(definition=self._get_param("definition"))
        except Exception as error:  # moto's InvalidDefinition
            message = getattr(error, "message", str(error))
            return ActionResult({"result": "FAIL", "truncated": False, "diagnostics": [
                {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": message, "location": "/"}
            ]})
        return ActionResult({"result": "OK", "diagnostics": [], "truncated": False})

    def list_state_machine_versions(self: Any) -> ActionResult:
        return ActionResult({"stateMachineVersions": []})

    StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition
    StepFunctionResponse.list_state_machine_versions = list_state_machine_versions


def _patch_aws_sdk_names() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    models: dict[str, Any] = {}

    def operation(task: Any) -> Any:
        service = task._get_boto_service_name()
        action = task._get_boto_service_action()
        model = models.get(service) or models.setdefault(service, botocore.session.get_session().get_service_model(service))
        (name,) = [n for n in model.operation_names if botocore.xform_name(n) == action]
        return model.operation_model(name)

    def normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                             service_action_name: str | None = None) -> None:
        self._to_boto_request(parameters, operation(self).input_shape)

    def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                           service_action_name: str | None = None) -> None:
        self._from_boto_response(response, operation(self).output_shape)

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        failure = original_from_error(self, env, ex)
        if isinstance(ex, ClientError):
            code = ex.response["Error"]["Code"]
            name = f"{self._normalise_service_error_name(self.resource.api_name)}.{code}"
            name += "" if name.endswith("Exception") else "Exception"
            failure.error_name = CustomErrorName(name)
            failure.event_details["taskFailedEventDetails"]["error"] = name
        return failure

    original_from_error = StateTaskServiceAwsSdk._from_error
    StateTaskServiceAwsSdk._normalise_parameters = normalise_parameters
    StateTaskServiceAwsSdk._normalise_response = normalise_response
    StateTaskServiceAwsSdk._from_error = from_error


def _patch_task_credentials(world: MotoWorld) -> None:
    import sys

    # Imported first so that every module holding boto_client_for is loaded.
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory  # noqa: F401
    import moto.stepfunctions.parser.models  # noqa: F401
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask

    original = StateTask._eval_state_credentials

    def eval_state_credentials(self: Any, env: Any) -> Any:
        credentials = original(self, env)
        machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
        return _ExecutionCredentials(credentials.role_arn, machine)

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if not isinstance(state_credentials, _ExecutionCredentials):
            raise RuntimeError(f"a Step Functions task called {service} without the execution's role")
        assumed = world.service_assumes(
            state_credentials.role_arn, "states.amazonaws.com", "stepfunctions",
            {"aws:SourceArn": state_credentials.state_machine_arn,
             "aws:SourceAccount": state_credentials.state_machine_arn.split(":")[4]},
        )
        return world.client(service, assumed, region)

    StateTask._eval_state_credentials = eval_state_credentials
    # Every module of the interpreter imported the function by name.
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for"):
            module.boto_client_for = client_for


def _patch_execution_names() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution


def _patch_time(clock: Clock) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    retrier_decl.time = _RetrierTime(clock)

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        clock.pause("wait", wait_seconds, env.program_state_event.wait)

    WaitFunction._wait_interval = wait_interval


# ---------------------------------------------------------------------------------------
# Executions
# ---------------------------------------------------------------------------------------


def wait_for_execution(world: MotoWorld, credentials: Credentials, execution_arn: str,
                       timeout: float = 300) -> dict[str, Any]:
    sfn = world.client("stepfunctions", credentials)
    give_up = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > give_up:
            raise TimeoutError(f"{execution_arn} still running after {timeout} s")
        time.sleep(0.2)


def history(world: MotoWorld, credentials: Credentials, execution_arn: str) -> list[dict[str, Any]]:
    sfn = world.client("stepfunctions", credentials)
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


# ---------------------------------------------------------------------------------------
# EventBridge Scheduler
# ---------------------------------------------------------------------------------------


@dataclass
class Fired:
    schedule_arn: str
    execution_arn: str = ""
    # The dead-letter event, when the target could not be invoked.
    dead_letter: dict[str, Any] | None = None


class Scheduler:
    """What EventBridge Scheduler does when a schedule comes due: it assumes the target's
    role as `scheduler.amazonaws.com` (trust and its conditions checked, with aws:SourceArn
    the schedule), invokes the target with the target's input using that role (so moto's
    IAM enforcement checks the role's policy), and when the invocation fails, sends the
    dead-letter event to the target's dead-letter queue with the same role. Retries are
    not simulated: a failure goes to the dead-letter queue at once."""

    def __init__(self, world: MotoWorld, credentials: Credentials) -> None:
        self.world = world
        self.credentials = credentials

    def fire(self, name: str, group: str = "default", region: str | None = None) -> Fired:
        region = region or self.world.region
        schedule = self.world.client("scheduler", self.credentials, region).get_schedule(Name=name, GroupName=group)
        if schedule.get("State", "ENABLED") != "ENABLED":
            raise AssertionError(f"schedule {name} is {schedule['State']}")
        target = schedule["Target"]
        account = schedule["Arn"].split(":")[4]
        role = self.world.service_assumes(
            target["RoleArn"], "scheduler.amazonaws.com", f"schedule-{name}",
            {"aws:SourceArn": schedule["Arn"], "aws:SourceAccount": account},
        )
        service = target["Arn"].split(":")[2]
        if service != "states":
            raise NotImplementedError(f"schedule target {target['Arn']}")
        fired = Fired(schedule["Arn"])
        try:
            fired.execution_arn = self.world.client("stepfunctions", role, region).start_execution(
                stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=target.get("Input", "{}"),
            )["executionArn"]
        except ClientError as error:
            fired.dead_letter = self._dead_letter(schedule, role, region, error)
        return fired

    def _dead_letter(self, schedule: dict[str, Any], role: Credentials, region: str, error: ClientError) -> dict[str, Any]:
        target = schedule["Target"]
        queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not queue_arn:
            raise AssertionError(f"{schedule['Name']}: {error} and no dead-letter queue: the start is lost") from error
        _, _, _, queue_region, queue_account, queue_name = queue_arn.split(":")
        # The service knows the queue by its ARN; the harness looks its URL up as the operator.
        url = self.world.client("sqs", self.credentials, queue_region).get_queue_url(
            QueueName=queue_name, QueueOwnerAWSAccountId=queue_account)["QueueUrl"]
        sqs = self.world.client("sqs", role, queue_region)
        code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
        event = {"schedule_arn": schedule["Arn"], "target_arn": target["Arn"], "input": target.get("Input")}
        attributes = {
            "ERROR_CODE": code, "ERROR_MESSAGE": message, "EXECUTION_ID": str(uuid.uuid4()),
            "RETRY_ATTEMPTS": "0", "SCHEDULE_ARN": schedule["Arn"], "TARGET_ARN": target["Arn"],
        }
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event), MessageAttributes={
            key: {"DataType": "String", "StringValue": value} for key, value in attributes.items()
        })
        return {"body": event, "attributes": attributes}
