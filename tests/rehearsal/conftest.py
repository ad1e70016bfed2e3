from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rehearsal.readme_script import deploy_blocks
from rehearsal.stage import Stage

TIMINGS: dict[str, float] = {}
FACTS: dict[str, object] = {}
_STARTED = time.monotonic()


@pytest.fixture(scope="session")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    started = time.monotonic()
    built = Stage.start(tmp_path_factory.mktemp("rehearsal"))
    TIMINGS["start moto, the fake, the scratch copy"] = time.monotonic() - started
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="session")
def deployment_zip(stage: Stage) -> Path:
    """The zip the README's step 1 builds, built with that very command in the scratch
    copy (whose `target` is the shared build cache), so the examples can be applied in
    any order. The README's own run repeats it, then as an incremental build."""
    (command,) = [line.strip() for block in deploy_blocks(stage.scratch / "README.md")
                  for line in block.splitlines() if line.strip().startswith("cargo lambda build")]
    env = stage.build_env()
    started = time.monotonic()
    completed = subprocess.run(["bash", "-c", command], cwd=stage.scratch, env=env,
                               capture_output=True, text=True, timeout=40 * 60, check=False)
    record(f"build the zip ({command})", time.monotonic() - started)
    assert completed.returncode == 0, f"{command} failed:\n{completed.stdout[-3000:]}{completed.stderr[-5000:]}"
    zip_path = stage.scratch / "target" / "lambda" / "tfc-onboarder" / "bootstrap.zip"
    assert zip_path.is_file(), f"{command} did not leave {zip_path}"
    return zip_path


def record(name: str, seconds: float) -> None:
    TIMINGS[name] = TIMINGS.get(name, 0.0) + seconds


def fact(name: str, value: object) -> None:
    FACTS[name] = value


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMINGS and not FACTS:
        return
    terminalreporter.section("deploy rehearsal")
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{seconds:8.1f} s  {name}")
    terminalreporter.write_line(f"{time.monotonic() - _STARTED:8.1f} s  whole rehearsal (this pytest run)")
    for name, value in FACTS.items():
        terminalreporter.write_line(f"{name}: {value if isinstance(value, str) else json.dumps(value)}")
