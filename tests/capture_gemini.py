#!/usr/bin/env python3
"""Capture the real gemini CLI (tests/clients/node_modules/.bin/gemini) against tests/mock_gemini.py.

Run by hand (`python tests/capture_gemini.py`) when the CLI is upgraded: every case below is run with a
private HOME and its raw stdout, stderr and exit code written to tests/fixtures/gemini/<name>.*, with
INDEX.json saying how each was run. tests/agents/test_gemini_fidelity.py holds the double to them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from mock_gemini import MockGemini

GEMINI = Path(__file__).parent / "clients" / "node_modules" / ".bin" / "gemini"
OUT = Path(__file__).parent / "fixtures" / "gemini"
HEADLESS = ["gemini", "-p", "", "--output-format", "stream-json", "--skip-trust"]
API_KEY_AUTH = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
ONE_ATTEMPT = {**API_KEY_AUTH, "general": {"maxAttempts": 1}}
RESUMED = "<the session_id of 01_text>"
SHARED = ("01_text", "02_resume", "16_resume_unknown_in_project")
"""Cases run in one HOME and cwd, in this order."""

CASES: list[dict[str, Any]] = [
    {"name": "01_text", "argv": HEADLESS, "stdin": "hello gemini", "mode": "ok"},
    {"name": "02_resume", "argv": [*HEADLESS, "--resume", RESUMED], "stdin": "hello again", "mode": "ok",
     "note": "same HOME and cwd as 01_text"},
    {"name": "03_tool_yolo", "argv": [*HEADLESS, "--approval-mode", "yolo"], "stdin": "run it", "mode": "tool"},
    {"name": "04_tool_default", "argv": HEADLESS, "stdin": "run it", "mode": "tool",
     "note": "default approval mode: headless, a shell command is not allowed"},
    {"name": "05_noauth", "argv": HEADLESS, "stdin": "hello", "mode": "ok", "settings": {}, "key": False,
     "note": "settings.json {} and no GEMINI_API_KEY"},
    {"name": "05b_noauth_no_settings", "argv": HEADLESS, "stdin": "hello", "mode": "ok", "settings": None,
     "key": False, "note": "no settings.json, no GEMINI_API_KEY"},
    {"name": "05c_key_missing", "argv": HEADLESS, "stdin": "hello", "mode": "ok", "key": False,
     "note": "auth gemini-api-key selected, GEMINI_API_KEY unset"},
    {"name": "06_quota_day", "argv": HEADLESS, "stdin": "hello", "mode": "quota"},
    {"name": "07_server_500", "argv": HEADLESS, "stdin": "hello", "mode": "500", "settings": ONE_ATTEMPT,
     "note": "general.maxAttempts 1: the default 10 attempts with backoff take minutes"},
    {"name": "08_badkey", "argv": HEADLESS, "stdin": "hello", "mode": "badkey"},
    {"name": "09_resume_unknown", "argv": [*HEADLESS, "--resume", "0badc0de-0000-4000-8000-000000000000"],
     "stdin": "hello", "mode": "ok"},
    {"name": "10_untrusted", "argv": ["gemini", "-p", "", "--output-format", "stream-json"], "stdin": "hello",
     "mode": "ok"},
    {"name": "11_dash_message", "argv": HEADLESS, "stdin": "--foo bar -p x\n", "mode": "ok",
     "note": "a message that starts with '-', ending with a newline"},
    {"name": "12_no_input", "argv": HEADLESS, "stdin": "", "mode": "ok"},
    {"name": "13_model", "argv": [*HEADLESS, "-m", "gemini-2.5-flash"], "stdin": "hello", "mode": "ok"},
    {"name": "14_quota_plain", "argv": HEADLESS, "stdin": "hello", "mode": "quotaplain", "settings": ONE_ATTEMPT,
     "note": "general.maxAttempts 1"},
    {"name": "16_resume_unknown_in_project", "argv": [*HEADLESS, "--resume", "0badc0de-0000-4000-8000-000000000000"],
     "stdin": "hello", "mode": "ok", "note": "same HOME and cwd as 01_text: the project has a session"},
    {"name": "15_plan_tool", "argv": [*HEADLESS, "--approval-mode", "plan"], "stdin": "run it", "mode": "tool"},
]  # fmt: skip


def run(case: dict[str, Any], home: Path, work: Path, mock: MockGemini, resume: str | None) -> dict[str, Any]:
    settings = case.get("settings", API_KEY_AUTH)
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    if settings is not None:
        (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "GOOGLE_GEMINI_BASE_URL": mock.base_url(case["mode"])}
    if case.get("key", True):
        env["GEMINI_API_KEY"] = "dummy-key"
    argv = [resume if a == RESUMED and resume else a for a in case["argv"]]
    started = time.monotonic()
    done = subprocess.run([str(GEMINI), *argv[1:]], cwd=work, env=env, input=case["stdin"].encode(),
                          capture_output=True, timeout=600)  # fmt: skip
    seconds = round(time.monotonic() - started, 2)
    (OUT / f"{case['name']}.stdout").write_bytes(done.stdout)
    (OUT / f"{case['name']}.stderr").write_bytes(done.stderr)
    shown_env = {k: v for k, v in env.items() if k not in ("PATH", "HOME")}
    shown_env["GOOGLE_GEMINI_BASE_URL"] = f"<mock>/{case['mode']}"
    sizes = {"stdout_bytes": len(done.stdout), "stderr_bytes": len(done.stderr)}
    return {"name": case["name"], "argv": case["argv"], "env": shown_env, "settings": settings,
            "stdin": case["stdin"], "mode": case["mode"], "exit_code": done.returncode, "seconds": seconds,
            **sizes, "note": case.get("note", "")}  # fmt: skip


def main(only: list[str]) -> None:
    """Every case, or those named (and the cases they depend on); INDEX.json keeps the others' entries."""
    OUT.mkdir(parents=True, exist_ok=True)
    index = []
    chosen = [c for c in CASES if not only or c["name"] in only or (c["name"] == "01_text" and set(only) & set(SHARED))]
    scratch = Path(tempfile.mkdtemp(prefix="gemini-capture-"))
    try:
        with MockGemini() as mock:
            session = None
            for case in chosen:
                shared = case["name"] in SHARED
                home = scratch / ("shared" if shared else case["name"]) / "home"
                work = scratch / ("shared" if shared else case["name"]) / "work"
                work.mkdir(parents=True, exist_ok=True)
                index.append(run(case, home, work, mock, session))
                if case["name"] == "01_text":
                    session = json.loads((OUT / "01_text.stdout").read_text().splitlines()[0])["session_id"]
                print(index[-1]["name"], index[-1]["exit_code"], index[-1]["seconds"], file=sys.stderr)
    finally:
        shutil.rmtree(scratch)
    kept = json.loads((OUT / "INDEX.json").read_text()) if only and (OUT / "INDEX.json").exists() else []
    names = {entry["name"] for entry in index}
    index += [entry for entry in kept if entry["name"] not in names]
    index.sort(key=lambda entry: [c["name"] for c in CASES].index(entry["name"]))
    (OUT / "INDEX.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
