"""The calls of the project's own child modules (infra/modules/*) in a part of
the module (infra/ or infra/management), as python-hcl2 reads them: what a
part passes is tested there, what the child does with it in its own tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hcl_model import INFRA_DIR, Module, load_file

DEAD_LETTER_QUEUE_DIR = INFRA_DIR / "modules" / "dead-letter-queue"


def module_calls(part: Module, source_dir_name: str) -> dict[str, dict[str, Any]]:
    """Every call of the child module in infra/modules/<source_dir_name>, by name."""
    calls = {}
    for parsed in part.files.values():
        for block in parsed.get("module", []):
            for name, body in block.items():
                if body["source"].rstrip("/").endswith(f"modules/{source_dir_name}"):
                    calls[name] = body
    return calls


def dead_letter_queue(part: Module, name: str) -> dict[str, Any]:
    calls = module_calls(part, "dead-letter-queue")
    assert name in calls, f"no dead-letter-queue module {name}: {sorted(calls)}"
    return calls[name]


def moved_blocks(path: Path, kind: str = "") -> set[tuple[str, str]]:
    """The (from, to) of every `moved` block of one .tf file (whose `from` is a `kind`
    resource, when given)."""
    return {(m["from"], m["to"]) for m in load_file(path).get("moved", []) if m["from"].startswith("${" + kind)}
