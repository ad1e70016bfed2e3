"""Everything a deploy rehearsal stands on, assembled once per run.

`Stage` owns moto (in-process, with the Lambda service and EventBridge's delivery), the
Terraform Cloud fake behind TLS, a scratch copy of the repository (so no Terraform
state or build output lands in the checkout), and the environment Terraform, the aws
CLI and the README's commands run with. Scenarios ask it for what they need:

    stage = Stage.start(work_dir)
    management = stage.fresh_organization()          # empty moto, an org, an operator
    tf = stage.terraform("infra/examples/minimal")     # runs in the scratch copy
    ...
    stage.close()

Step Functions executions run on moto's interpreter, their Lambda tasks on the real code
(step_functions.py); EventBridge Scheduler's schedules fire on demand (`stage.scheduler`),
and the events queue reaches the function through its event source mapping
(`stage.event_sources.drain()`). A two-account layout creates the tooling account with
`world.create_member_account()` and its deployer with `world.create_operator(account=...)`,
and runs `terraform(...)` with that operator's credentials.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import step_functions
from .event_source_mapping import EventSourceMappings
from .eventbridge_sim import EventBridge
from .lambda_runtime import ELF_MACHINES, LambdaService
from .moto_world import Credentials, MotoWorld
from .terraform import Terraform, cli_config, find_provider_mirror, find_terraform, moto_override
from .tfc_fake import TfcFake, make_local_ca

REPO_ROOT = Path(__file__).resolve().parents[2]
ORGANIZATION = "rehearsal-org"


class SetupError(RuntimeError):
    pass


def _cargo_target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    if not configured:
        raise SetupError("CARGO_TARGET_DIR is not set: run the rehearsal through ./tests/run.sh")
    return Path(configured).resolve()


def _built(env_var: str, default: Path, how: str) -> Path:
    path = Path(os.environ.get(env_var) or default)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise SetupError(f"{path} is missing: build it with `{how}` (or set {env_var})")
    return path


def function_binary() -> Path:
    """The x86_64 release build that stands in for the arm64 bootstrap of the zip."""
    path = _built("REHEARSAL_FUNCTION_BINARY", _cargo_target_dir() / "release" / "tfc-onboarder",
                  "cargo build --release --locked --bin tfc-onboarder")
    machine = ELF_MACHINES.get(path.read_bytes()[18:20])
    if machine != "x86_64":
        raise SetupError(f"{path} is a {machine} binary; the rehearsal runs the x86_64 build")
    return path


def fake_program() -> Path:
    return _built("REHEARSAL_TFC_FAKE", _cargo_target_dir() / "debug" / "examples" / "tfc-fake",
                  "cargo build --locked --example tfc-fake")


def make_scratch_copy(destination: Path, target_dir: Path) -> Path:
    """The working tree (tracked and untracked, not ignored files) copied with its
    timestamps, and `target` pointing at the shared build cache, so a `cargo` command
    run in the copy reuses what the checkout already built."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=False,
    )
    if listed.returncode != 0:
        raise SetupError(f"cannot list the repository's files: {listed.stderr.decode()}")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO_ROOT / name
        if not source.is_file():  # deleted but not yet committed
            continue
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / name)
    (destination / "target").symlink_to(target_dir, target_is_directory=True)
    return destination


@dataclass
class Stage:
    work_dir: Path
    world: MotoWorld
    lambdas: LambdaService
    fake: TfcFake
    token: str
    scratch: Path
    terraform_binary: str
    cli_config_file: Path
    clock: step_functions.Clock
    operator: Credentials | None = None
    eventbridge: EventBridge | None = None
    event_sources: EventSourceMappings | None = None
    scheduler: step_functions.Scheduler | None = None
    organization_id: str = ""
    terraform_runs: list[Terraform] = field(default_factory=list)

    @classmethod
    def start(cls, work_dir: Path) -> Stage:
        terraform_binary = find_terraform()
        mirror = find_provider_mirror()
        binary, fake = function_binary(), fake_program()
        target_dir = _cargo_target_dir()
        for sub in ("tls", "lambda", "terraform", "repo"):
            (work_dir / sub).mkdir(parents=True, exist_ok=True)
        token = "rehearsal-" + secrets.token_hex(24)
        ca = make_local_ca(work_dir / "tls")
        world = MotoWorld()
        clock = step_functions.install(world)
        # A hundredth: the sweep's retries (minutes) and its start delay take seconds here.
        clock.factor = 0.01
        tfc = TfcFake(fake, token, ORGANIZATION, ca, work_dir / "tfc-fake.log")
        lambdas = LambdaService(
            world, binary,
            platform_env={"AWS_ENDPOINT_URL": world.url, "SSL_CERT_FILE": str(ca.ca_file)},
            log_dir=work_dir / "lambda",
        )
        lambdas.install()
        return cls(
            work_dir=work_dir, world=world, lambdas=lambdas, fake=tfc, token=token,
            scratch=make_scratch_copy(work_dir / "repo", target_dir),
            terraform_binary=terraform_binary,
            cli_config_file=cli_config(mirror, work_dir / "terraform"),
            clock=clock,
        )

    def close(self) -> None:
        self.lambdas.uninstall()
        self.fake.close()
        self.world.stop()

    def fresh_organization(self) -> str:
        """Empty moto, then an organization and an operator with AdministratorAccess in
        the management account; IAM is enforced from here on."""
        self.world.reset()
        self.organization_id = self.world.create_organization()
        self.operator = self.world.create_operator()
        self.eventbridge = EventBridge(self.world, self.lambdas, self.operator)
        self.event_sources = EventSourceMappings(self.world, self.lambdas, self.operator)
        self.scheduler = step_functions.Scheduler(self.world, self.operator)
        self.world.enforce_iam()
        return self.organization_id

    @staticmethod
    def build_env() -> dict[str, str]:
        """The tools of this machine (PATH, cargo, rustup), and no CARGO_TARGET_DIR: a
        cargo command in the scratch copy builds into its `target`, the shared cache."""
        keep = ("PATH", "HOME", "USER", "LANG", "CARGO_HOME", "RUSTUP_HOME", "TMPDIR")
        return {key: os.environ[key] for key in keep if key in os.environ}

    def base_env(self) -> dict[str, str]:
        """What the operator's shell holds: their credentials, AWS (moto) as the endpoint,
        and nothing of this machine's AWS or Terraform configuration."""
        assert self.operator, "call fresh_organization() first"
        env = self.build_env()
        env.update(self.operator.env())
        env.update({
            "AWS_ENDPOINT_URL": self.world.url,
            # Deliberately not the deployment's Region: every command must say its own.
            "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_CONFIG_FILE": str(self.work_dir / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.work_dir / "aws-credentials"),
            "TF_CLI_CONFIG_FILE": str(self.cli_config_file),
            "CHECKPOINT_DISABLE": "1",
            # The API address of the Terraform Cloud stand-in (the example's tfe_address).
            "TF_VAR_tfe_address": self.fake.url,
        })
        return env

    def prepare_root_module(self, relative: str, provider_aliases: list[str | None]) -> Path:
        directory = self.scratch / relative
        (directory / "rehearsal_override.tf").write_text(moto_override(self.world.url, provider_aliases))
        return directory

    def terraform(self, relative: str, provider_aliases: list[str | None]) -> Terraform:
        directory = self.prepare_root_module(relative, provider_aliases)
        env = self.base_env()
        env["TF_IN_AUTOMATION"] = "1"
        run = Terraform(directory, env, self.terraform_binary)
        self.terraform_runs.append(run)
        return run
