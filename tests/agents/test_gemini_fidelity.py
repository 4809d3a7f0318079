"""The gemini double held to the real CLI: every capture in tests/fixtures/gemini/ replayed.

tests/fake_gemini.py stands in for gemini wherever the real CLI is not needed, so it must write what
the real CLI wrote for the same argv, settings, environment and stdin: the same events in the same
order (a message by its role), each event with the same keys (and the same keys in its stats and
error), the same exit code, and for a failure before any event the same stderr. Values (ids, times,
counts, text) are the double's own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gemini"
DOUBLE = Path(__file__).parents[1] / "fake_gemini.py"
CASES = {case["name"]: case for case in json.loads((FIXTURES / "INDEX.json").read_text())}
RESUMED = "<the session_id of 01_text>"
IN_PROJECT = ("02_resume", "16_resume_unknown_in_project")
"""Cases run, as captured, after 01_text in its HOME and directory."""


def events(output: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith(b"{")]


def shape(event: dict[str, Any]) -> tuple[Any, ...]:
    nested = tuple(sorted(event[key]) for key in ("stats", "error") if isinstance(event.get(key), dict))
    return event["type"], event.get("role"), event.get("status"), tuple(sorted(event)), nested


def replay(case: dict[str, Any], home: Path, work: Path, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    if case["settings"] is not None:
        (home / ".gemini" / "settings.json").write_text(json.dumps(case["settings"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "AGENT_MCP_"))}
    env.update(case["env"], HOME=str(home))
    env["GOOGLE_GEMINI_BASE_URL"] = env["GOOGLE_GEMINI_BASE_URL"].replace("<mock>", "http://127.0.0.1:9")
    command = [sys.executable, str(DOUBLE), *argv[1:]]
    return subprocess.run(command, cwd=work, env=env, input=case["stdin"].encode(), capture_output=True, timeout=60)


def normalized(stderr: bytes, home: Path) -> str:
    """Paths of the capture's scratch HOME, and session ids, left out."""
    text = stderr.decode().replace(str(home), "<home>")
    text = re.sub(r"/tmp/gemini-capture-[^/]+/shared/home", "<home>", text)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_double_writes_what_the_cli_wrote(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    argv = list(case["argv"])
    if name in IN_PROJECT:
        first = replay(CASES["01_text"], home, work, CASES["01_text"]["argv"])
        session = events(first.stdout)[0]["session_id"]
        argv = [session if arg == RESUMED else arg for arg in argv]
    done = replay(case, home, work, argv)

    want_out = (FIXTURES / f"{name}.stdout").read_bytes()
    want_err = (FIXTURES / f"{name}.stderr").read_bytes()
    assert done.returncode == case["exit_code"], done.stderr
    got, want = events(done.stdout), events(want_out)
    assert [shape(e) for e in got] == [shape(e) for e in want]
    if not want:  # a failure before any event: its words are all the caller gets
        assert normalized(done.stderr, home) == normalized(want_err, home)


def test_every_capture_is_indexed_with_its_files() -> None:
    """The fixtures and INDEX.json agree: no capture without its entry, none listed without its files."""
    files = {path.name.rsplit(".", 1)[0] for path in FIXTURES.glob("*.std*")}
    assert files == set(CASES)
    assert {case["exit_code"] for case in CASES.values()} >= {0, 41, 42, 55, 144, 173, 244}
