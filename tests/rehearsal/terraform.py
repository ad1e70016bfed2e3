"""The real Terraform CLI with the real hashicorp/aws provider, offline, against moto.

Both are found at run time, never written into the project:

- terraform: `TERRAFORM` if set, else `terraform` on PATH;
- the provider: `TF_PROVIDER_MIRROR` if set (a folder holding registry.terraform.io),
  else the folders Terraform itself searches for local plugins, else a bounded search
  of the file system for `registry.terraform.io/hashicorp/aws`.

Either missing is a failure that says what to install; the rehearsal never skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"
# Services the module and its examples touch; every one goes to moto.
ENDPOINT_SERVICES = (
    "cloudtrail", "cloudwatch", "events", "iam", "kms", "lambda", "logs", "organizations",
    "s3", "scheduler", "secretsmanager", "sfn", "sns", "sqs", "sts",
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class ToolMissing(RuntimeError):
    pass


def find_terraform() -> str:
    configured = os.environ.get("TERRAFORM")
    found = configured or shutil.which("terraform")
    if not found or not os.access(found, os.X_OK):
        raise ToolMissing(
            f"terraform not found ({'TERRAFORM=' + configured if configured else 'not on PATH'}): install "
            "Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) or point TERRAFORM at it"
        )
    return found


def find_provider_mirror() -> Path:
    configured = os.environ.get("TF_PROVIDER_MIRROR")
    if configured:
        if not (Path(configured) / PROVIDER).is_dir():
            raise ToolMissing(f"TF_PROVIDER_MIRROR={configured} holds no {PROVIDER}")
        return Path(configured)
    data_dirs = [os.environ.get("XDG_DATA_HOME", str(Path.home() / ".local" / "share"))]
    data_dirs += os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share").split(":")
    candidates = [Path.home() / ".terraform.d" / "plugins"] + [Path(d) / "terraform" / "plugins" for d in data_dirs if d]
    for candidate in candidates:
        if (candidate / PROVIDER).is_dir():
            return candidate
    found = subprocess.run(
        ["find", "/", "-maxdepth", "6", "-path", f"*/{PROVIDER}", "-type", "d",
         "-not", "-path", "/proc/*", "-not", "-path", "/sys/*"],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout.split()
    if not found:
        raise ToolMissing(
            "no filesystem mirror of the hashicorp/aws provider found: set TF_PROVIDER_MIRROR to a folder "
            f"holding {PROVIDER}/<version>/<os_arch>/ (e.g. made with `terraform providers mirror`)"
        )
    return Path(found[0]).parents[2]


def cli_config(mirror: Path, directory: Path) -> Path:
    """A CLI configuration that installs registry providers from the mirror only."""
    path = directory / "terraform.rc"
    path.write_text(
        "provider_installation {\n"
        f"  filesystem_mirror {{\n    path    = {json.dumps(str(mirror))}\n"
        '    include = ["registry.terraform.io/*/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )
    return path


def moto_override(endpoint: str, provider_aliases: list[str | None]) -> str:
    """A *_override.tf that sends every provider block of a root module to moto."""
    endpoints = "\n".join(f"    {service} = {json.dumps(endpoint)}" for service in ENDPOINT_SERVICES)
    blocks = []
    for alias in provider_aliases:
        alias_line = f"  alias = {json.dumps(alias)}\n" if alias else ""
        blocks.append(
            'provider "aws" {\n' + alias_line
            + "  skip_metadata_api_check     = true\n"
            + "  s3_use_path_style           = true\n"
            + f"  endpoints {{\n{endpoints}\n  }}\n}}\n"
        )
    return "# Written by the deploy rehearsal: moto stands in for AWS.\n" + "\n".join(blocks)


@dataclass
class Step:
    command: str
    seconds: float
    output: str


@dataclass
class Terraform:
    """Runs terraform in one root module directory."""

    directory: Path
    env: dict[str, str]
    binary: str = field(default_factory=find_terraform)
    steps: list[Step] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        completed = subprocess.run(
            [self.binary, *args], cwd=self.directory, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )
        output = ANSI.sub("", completed.stdout + completed.stderr)
        self.steps.append(Step(" ".join(["terraform", *args]), time.monotonic() - started, output))
        if check and completed.returncode != 0:
            raise AssertionError(f"terraform {' '.join(args)} in {self.directory} exited {completed.returncode}:\n{output[-8000:]}")
        return completed

    def seconds(self, verb: str) -> float:
        return sum(step.seconds for step in self.steps if step.command.split()[1] == verb)

    def output(self, name: str) -> str:
        return self.run("output", "-raw", name).stdout

    def state_resources(self) -> list[str]:
        """Addresses of the managed resources in the state."""
        state = json.loads(self.run("show", "-json").stdout)
        found: list[str] = []

        def walk(module: dict) -> None:
            found.extend(r["address"] for r in module.get("resources", []) if r["mode"] == "managed")
            for child in module.get("child_modules", []):
                walk(child)

        walk(state.get("values", {}).get("root_module", {}))
        return found


def resource_kinds(addresses: list[str]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for address in addresses:
        kind = [part for part in address.split(".") if part.startswith("aws_")][0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))
