"""Static security scan of infra/ with checkov.

checkov bundles an hcl2 that conflicts with python-hcl2 8.x, so it lives in
its own environment and is run as a program: set CHECKOV to its path or put
it on PATH. A missing checkov fails the test; a skipped scan would look like
a passed one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from hcl_model import INFRA_DIR, REPO_ROOT

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


def _checkov() -> str:
    configured = os.environ.get("CHECKOV")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            pytest.fail(f"CHECKOV={configured} is not an executable file")
        return configured
    found = shutil.which("checkov")
    if not found:
        pytest.fail(
            "checkov is not installed: install it (pip install checkov, in its own virtualenv) "
            "and put it on PATH or point the CHECKOV environment variable at it"
        )
    return found


def _reports(stdout: str) -> list[dict]:
    try:
        parsed = json.loads(stdout)
    except json.JSONDecodeError as error:
        pytest.fail(f"checkov did not print JSON ({error}): {stdout[:2000]}")
    # One framework gives an object, several give a list.
    return parsed if isinstance(parsed, list) else [parsed]


def test_checkov_reports_no_failed_checks():
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="true")
    completed = subprocess.run(
        [_checkov(), "-d", "infra", "--framework", "terraform", "--compact", "--quiet", "-o", "json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # 0: nothing failed, 1: something failed; anything else is a crash.
    assert completed.returncode in (0, 1), f"checkov exited {completed.returncode}: {completed.stderr[-4000:]}"

    reports = _reports(completed.stdout)
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform, f"checkov produced no terraform report: {completed.stdout[:2000]}"
    (report,) = terraform
    summary = report["summary"]
    failed = report.get("results", {}).get("failed_checks", [])
    details = "\n".join(
        f"{c['check_id']} {c['resource']} ({c.get('file_path')}:{c.get('file_line_range')}) {c.get('check_name')}"
        for c in failed
    )
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] > 0, "checkov scanned no resources"
    assert summary["failed"] == 0 and not failed, f"checkov failed checks:\n{details}"
    assert completed.returncode == 0


def test_every_checkov_skip_is_inline_with_a_reason():
    for path in sorted(INFRA_DIR.rglob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "checkov:skip" not in line:
                continue
            where = f"{path.relative_to(REPO_ROOT)}:{number}"
            match = SKIP_COMMENT.search(line.strip())
            assert match, f"{where}: malformed checkov skip"
            check_id, reason = match.groups()
            assert re.fullmatch(r"CKV2?_AWS_\d+", check_id), f"{where}: unexpected check id {check_id}"
            assert reason and len(reason.strip()) >= 30, f"{where}: {check_id} is skipped without a real reason"
    # Skips belong next to the resource they excuse, not in a global config.
    for config in (".checkov.yaml", ".checkov.yml"):
        assert not (REPO_ROOT / config).exists() and not (INFRA_DIR / config).exists(), config
