"""Lambda, for real: moto's Invoke runs the deployed function through a Runtime API.

moto would run a function in Docker. `LambdaService.install()` replaces moto's invoke
(`moto.awslambda.models.LambdaFunction.invoke`) with what the Lambda service does:

- it assumes the function's execution role as the Lambda service (the trust policy
  must name lambda.amazonaws.com), so the code signs with that role's credentials;
- it starts the code as a Lambda execution environment: exactly the function's
  environment variables, plus the variables Lambda itself sets, talking to a local
  Lambda Runtime API (2018-06-01) for its events;
- it keeps the environment warm between invocations, and replaces it when the
  function's configuration changes, as Lambda does.

The code that runs is `binary`, not the deployed zip: the zip holds an arm64 `bootstrap`
this x86_64 machine cannot execute, so the x86_64 build of the same source stands in for
it. `Invocation.deployed_architecture` records what the zip held, checked against the
function's `Architectures`.

Anything that reaches moto's Invoke runs this way: `aws lambda invoke`, EventBridge
deliveries made by eventbridge_sim.py, and (for later work) Step Functions tasks.
"""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from moto.awslambda import models as lambda_models

from .moto_world import Credentials, MotoWorld

# Names Lambda sets itself and refuses in a function's configuration.
RESERVED = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}
# Everything the Lambda service puts in an execution environment besides the function's
# own variables.
SERVICE_SET = RESERVED | {"TZ", "LANG", "PATH"}
# Lambda's limit on the environment of a function: 4 KB for all keys and values.
ENVIRONMENT_LIMIT = 4096
ELF_MACHINES = {b"\xb7\x00": "arm64", b"\x3e\x00": "x86_64"}


@dataclass
class Invocation:
    function_name: str
    request_id: str
    event: Any
    invocation_type: str
    # "response", "error" (the function reported one), "init_error", "crashed" or "timeout"
    kind: str = "pending"
    response: Any = None
    error_type: str = ""
    error_message: str = ""
    logs: str = ""
    seconds: float = 0.0
    cold_start: bool = False
    deployed_architecture: str = ""

    def describe(self) -> str:
        if self.kind == "response":
            return json.dumps(self.response)[:2000]
        return f"{self.kind}: {self.error_type}: {self.error_message}\n--- logs ---\n{self.logs[-6000:]}"


class _RuntimeApi(ThreadingHTTPServer):
    """One execution environment's Runtime API."""

    daemon_threads = True

    def __init__(self, function_arn: str, timeout: float) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeHandler)
        self.function_arn = function_arn
        self.timeout = timeout
        self.events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.results: dict[str, tuple[str, Any]] = {}
        self.init_error: tuple[str, str] | None = None
        self.changed = threading.Condition()
        self.closing = False
        self.ready = threading.Event()

    def record(self, request_id: str, result: tuple[str, Any]) -> bool:
        with self.changed:
            if request_id in self.results:
                return False
            self.results[request_id] = result
            self.changed.notify_all()
        return True


class _RuntimeHandler(BaseHTTPRequestHandler):
    server: _RuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # the function's own logs are what matter
        pass

    def _reply(self, status: int, body: bytes = b'{"status":"OK"}', headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802
        if self.path != "/2018-06-01/runtime/invocation/next":
            self._reply(404, b'{"errorType":"NotFound"}')
            return
        self.server.ready.set()
        while True:
            try:
                request_id, event = self.server.events.get(timeout=0.5)
                break
            except queue.Empty:
                if self.server.closing:
                    return
        deadline_ms = int((time.time() + self.server.timeout) * 1000)
        self._reply(200, event, {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.server.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        })

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        parts = self.path.strip("/").split("/")
        if parts[:3] == ["2018-06-01", "runtime", "init"] and parts[3:] == ["error"]:
            error_type, message = _diagnostic(self.headers.get("Lambda-Runtime-Function-Error-Type"), body)
            with self.server.changed:
                self.server.init_error = (error_type, message)
                self.server.changed.notify_all()
            self._reply(202)
            return
        if len(parts) == 5 and parts[:3] == ["2018-06-01", "runtime", "invocation"] and parts[4] in ("response", "error"):
            request_id = parts[3]
            if parts[4] == "response":
                try:
                    result: tuple[str, Any] = ("response", json.loads(body))
                except ValueError:
                    result = ("response", body.decode("utf-8", "replace"))
            else:
                result = ("error", _diagnostic(self.headers.get("Lambda-Runtime-Function-Error-Type"), body))
            if self.server.record(request_id, result):
                self._reply(202)
            else:
                self._reply(400, b'{"errorType":"InvalidRequestID","errorMessage":"already answered"}')
            return
        self._reply(404, b'{"errorType":"NotFound"}')


def _diagnostic(header: str | None, body: bytes) -> tuple[str, str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    return parsed.get("errorType") or header or "", parsed.get("errorMessage") or body.decode("utf-8", "replace")


class _Environment:
    """A started execution environment: the process and its Runtime API."""

    def __init__(self, binary: Path, env: dict[str, str], function_arn: str, timeout: float, log_dir: Path) -> None:
        self.api = _RuntimeApi(function_arn, timeout)
        threading.Thread(target=self.api.serve_forever, daemon=True).start()
        host, port = self.api.server_address[:2]
        self.log_path = Path(tempfile.mkstemp(prefix="lambda-", suffix=".log", dir=log_dir)[1])
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(binary)],
            env={**env, "AWS_LAMBDA_RUNTIME_API": f"{host}:{port}"},
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=log_dir,
        )
        self.timeout = timeout
        self.busy = False
        self.used = False

    def logs_since(self, offset: int) -> str:
        self._log.flush()
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")

    def log_size(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def run(self, invocation: Invocation, event: bytes) -> None:
        offset = self.log_size()
        started = time.monotonic()
        self.api.events.put((invocation.request_id, event))
        deadline = started + self.timeout
        with self.api.changed:
            while True:
                if invocation.request_id in self.api.results:
                    kind, value = self.api.results[invocation.request_id]
                    if kind == "response":
                        invocation.kind, invocation.response = "response", value
                    else:
                        invocation.kind = "error"
                        invocation.error_type, invocation.error_message = value
                    break
                if self.api.init_error:
                    invocation.kind = "init_error"
                    invocation.error_type, invocation.error_message = self.api.init_error
                    break
                if self.process.poll() is not None:
                    invocation.kind, invocation.error_type = "crashed", "Runtime.ExitError"
                    invocation.error_message = f"the runtime exited with status {self.process.returncode}"
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    invocation.kind, invocation.error_type = "timeout", "Sandbox.Timedout"
                    invocation.error_message = f"Task timed out after {self.timeout:.2f} seconds"
                    break
                self.api.changed.wait(min(left, 0.2))
        invocation.seconds = time.monotonic() - started
        # Lambda prints its REPORT line after the response; give the process a moment
        # to flush what it logged for this event.
        time.sleep(0.05)
        invocation.logs = self.logs_since(offset)

    @property
    def reusable(self) -> bool:
        return self.process.poll() is None and self.api.init_error is None

    def close(self) -> None:
        self.api.closing = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.api.shutdown()
        self.api.server_close()
        self._log.close()


@dataclass
class LambdaService:
    """Runs invocations that reach moto's Lambda with the real code."""

    world: MotoWorld
    binary: Path
    # What differs between this machine and AWS, not between functions: the endpoint
    # that stands for AWS, and the trust store that holds the local certificate
    # authority (Lambda's image holds the public ones).
    platform_env: dict[str, str]
    log_dir: Path
    invocations: list[Invocation] = field(default_factory=list)
    # Upper bound on one invocation here, whatever the function's timeout.
    max_seconds: float = 120.0
    _pools: dict[str, list[_Environment]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _original: Any = None

    def install(self) -> None:
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(f"the function binary {self.binary} does not exist or is not executable")
        self._original = lambda_models.LambdaFunction.invoke
        service = self

        def invoke(function: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
            return service._invoke(function, body, request_headers, response_headers)

        lambda_models.LambdaFunction.invoke = invoke

    def uninstall(self) -> None:
        if self._original is not None:
            lambda_models.LambdaFunction.invoke = self._original
            self._original = None
        with self._lock:
            for pool in self._pools.values():
                for environment in pool:
                    environment.close()
            self._pools.clear()

    def all_logs(self) -> str:
        return "".join(invocation.logs for invocation in self.invocations)

    # -- the Lambda service ---------------------------------------------------------

    def _invoke(self, function: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        invocation_type = request_headers.get("X-Amz-Invocation-Type") or request_headers.get("x-amz-invocation-type") or "RequestResponse"
        payload = body.encode() if isinstance(body, str) else (body or b"")
        invocation = Invocation(
            function_name=function.function_name,
            request_id=str(uuid.uuid4()),
            event=json.loads(payload) if payload else {},
            invocation_type=invocation_type,
            deployed_architecture=self._check_package(function),
        )
        environment, key = self._environment(function)
        invocation.cold_start = not environment.used
        try:
            environment.used = True
            environment.run(invocation, payload or b"{}")
        finally:
            with self._lock:
                environment.busy = False
                if not environment.reusable or invocation.kind in ("timeout", "crashed", "init_error"):
                    environment.close()
                    pool = self._pools.get(key, [])
                    if environment in pool:
                        pool.remove(environment)
        self.invocations.append(invocation)
        if invocation.kind == "response":
            return json.dumps(invocation.response).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": invocation.error_type, "errorMessage": invocation.error_message}).encode()

    def _check_package(self, function: Any) -> str:
        """The deployed zip must hold a `bootstrap` built for the function's architecture."""
        try:
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as package:
                header = package.read("bootstrap")[:20]
        except (KeyError, zipfile.BadZipFile) as error:
            raise RuntimeError(f"the deployed package of {function.function_name} has no bootstrap: {error}") from error
        architecture = ELF_MACHINES.get(header[18:20], "unknown")
        if [architecture] != list(function.architectures):
            raise RuntimeError(
                f"{function.function_name} is configured for {function.architectures} but its bootstrap is {architecture}"
            )
        return architecture

    def _environment(self, function: Any) -> tuple[_Environment, str]:
        variables = dict(function.environment_vars or {})
        reserved = RESERVED & set(variables)
        if reserved:
            raise RuntimeError(f"Lambda refuses reserved environment variables: {sorted(reserved)}")
        size = sum(len(k) + len(v) for k, v in variables.items())
        if size > ENVIRONMENT_LIMIT:
            raise RuntimeError(f"the environment of {function.function_name} is {size} bytes; Lambda allows {ENVIRONMENT_LIMIT}")
        key = json.dumps([function.function_arn, function.role, function.code_sha_256, variables,
                          function.memory_size, function.timeout], sort_keys=True)
        with self._lock:
            # A changed configuration retires the function's other environments.
            for stale in [k for k in self._pools if k != key and json.loads(k)[0] == function.function_arn]:
                for environment in self._pools.pop(stale):
                    if not environment.busy:
                        environment.close()
            pool = self._pools.setdefault(key, [])
            for environment in pool:
                if not environment.busy and environment.reusable:
                    environment.busy = True
                    return environment, key
        credentials = self.world.service_assumes(function.role, "lambda.amazonaws.com", function.function_name)
        environment = _Environment(
            self.binary,
            {**variables, **self._lambda_variables(function, credentials), **self.platform_env},
            function.function_arn,
            min(float(function.timeout), self.max_seconds),
            self.log_dir,
        )
        environment.busy = True
        with self._lock:
            self._pools.setdefault(key, []).append(environment)
        return environment, key

    def _lambda_variables(self, function: Any, credentials: Credentials) -> dict[str, str]:
        return {
            **credentials.env(),
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": function.get_configuration()["LoggingConfig"]["LogGroup"],
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            "_HANDLER": function.handler or "bootstrap",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }
