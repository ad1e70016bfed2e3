"""The sweep's state machine definition (infra/sweep.asl.json.tftpl) rendered as Terraform's
templatefile() renders it, for the checks of tests/infra and the rehearsal's runs.

The template only interpolates plain names (`${name}`); anything else (a directive, an
expression) would make this rendering differ from Terraform's, so it is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "sweep.asl.json.tftpl"
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([a-z_]+)\}")

# What sweep.tf passes, for a deployment with the module's defaults.
DEFAULTS = {
    "name": "tfc-onboarder",
    "partition": "aws",
    "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:tfc-onboarder",
    "execution_timeout_seconds": 82800,
    "start_delay_seconds": 5,
    "task_timeout_seconds": 390,
    "retry_attempts": 3,
    "retry_interval_seconds": 60,
    "max_invocations": 100,
}


def template_names(text: str | None = None) -> set[str]:
    return set(_INTERPOLATION.findall(text if text is not None else TEMPLATE.read_text(encoding="utf-8")))


def render(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The definition as JSON, with `values` over the defaults. Strings are inserted as they
    are (the template quotes them), numbers as numbers."""
    values = {**DEFAULTS, **(values or {})}
    text = TEMPLATE.read_text(encoding="utf-8")
    missing = template_names(text) - set(values)
    if missing:
        raise KeyError(f"no value for {sorted(missing)}")
    rendered = _INTERPOLATION.sub(lambda m: str(values[m.group(1)]), text)
    if "${" in rendered.replace("$${", "") or "%{" in rendered:
        raise ValueError("the template uses more than plain ${name} interpolation")
    return json.loads(rendered)
