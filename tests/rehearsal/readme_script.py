"""The README's Deploy section, run the way an operator runs it.

`deploy_blocks()` extracts the shell blocks of the section; `run_in_terminal()` runs them
one after the other in one bash session on a pseudo-terminal, answering the prompts a
person would answer (Terraform's questions, the token read without echo), so the text is
executed exactly as written: same working directory from block to block, nothing
rewritten. Output is captured with terminal control sequences stripped.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .terraform import ANSI

FENCE = re.compile(r"^```(\S*)\s*$")


def section(markdown: str, heading: str, level: int = 2) -> str:
    """The text under the `level` heading `heading`, up to the next heading of the same or a
    higher level."""
    marks = "#" * level
    lines = markdown.splitlines()
    for start, line in enumerate(lines):
        if line.strip() == f"{marks} {heading}":
            break
    else:
        raise ValueError(f"the README has no '{marks} {heading}' section")
    end = next((i for i in range(start + 1, len(lines)) if re.match(rf"^#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start + 1:end])


def shell_blocks(markdown: str) -> list[str]:
    """Every fenced block marked sh/bash/shell, in order, with its indentation removed."""
    blocks, current, indent, language = [], None, 0, ""
    for line in markdown.splitlines():
        stripped = line.lstrip()
        fence = FENCE.match(stripped)
        if current is None and fence:
            current, indent, language = [], len(line) - len(stripped), fence.group(1)
        elif current is not None and stripped.startswith("```"):
            if language in ("sh", "bash", "shell"):
                blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line[indent:] if line[:indent].strip() == "" else line)
    if current is not None:
        raise ValueError("unterminated code block")
    return blocks


def deploy_blocks(readme: Path) -> list[str]:
    blocks = shell_blocks(section(readme.read_text(encoding="utf-8"), "Deploy"))
    if not blocks:
        raise ValueError(f"{readme}: the Deploy section has no sh blocks")
    return blocks


@dataclass
class Prompt:
    """Text that, when it appears, gets `answer` typed (once per appearance)."""

    pattern: re.Pattern[str]
    answer: str


@dataclass
class TerminalRun:
    returncode: int
    output: str
    seconds: float
    answered: list[str]
    # When each watched pattern first appeared, in seconds from the start.
    seen: dict[str, float]


def run_in_terminal(script: str, cwd: Path, env: dict[str, str], prompts: list[Prompt],
                    timeout: float, log_file: Path, watch: tuple[str, ...] = ()) -> TerminalRun:
    """Runs `script` with bash on a pseudo-terminal, answering `prompts` and noting when
    each `watch` pattern first shows."""
    script_path = log_file.with_suffix(".sh")
    # -e: an operator would stop at the first failing command, and so does the rehearsal.
    script_path.write_text("set -euo pipefail\n" + script)
    master, slave = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", str(script_path)],
        cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    )
    os.close(slave)
    captured = b""
    scanned_to = 0
    answered: list[str] = []
    seen: dict[str, float] = {}
    try:
        while True:
            if time.monotonic() - started > timeout:
                os.killpg(process.pid, signal.SIGKILL)
                raise TimeoutError(f"the README's Deploy section did not finish in {timeout:.0f} s:\n"
                                   + _clean(captured)[-6000:])
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the other side is gone
                    chunk = b""
                if not chunk:
                    if process.poll() is not None:
                        break
                    continue
                captured += chunk
                text = _clean(captured)
                for pattern in watch:
                    if pattern not in seen and re.search(pattern, text):
                        seen[pattern] = time.monotonic() - started
                for prompt in prompts:
                    match = prompt.pattern.search(text, scanned_to)
                    if match:
                        scanned_to = match.end()
                        os.write(master, prompt.answer.encode() + b"\r")
                        answered.append(prompt.pattern.pattern)
                        seen.setdefault(prompt.pattern.pattern, time.monotonic() - started)
            elif process.poll() is not None:
                break
    finally:
        os.close(master)
        process.wait()
    output = _clean(captured)
    log_file.write_text(output)
    return TerminalRun(process.returncode, output, time.monotonic() - started, answered, seen)


def _clean(raw: bytes) -> str:
    return ANSI.sub("", raw.decode("utf-8", "replace")).replace("\r\n", "\n")
