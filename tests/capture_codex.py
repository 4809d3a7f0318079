#!/usr/bin/env python3
"""Captures of the real codex CLI against tests/mock_openai.py, written to tests/fixtures/codex/.

Run by hand when the pinned codex changes (`python tests/capture_codex.py`): each case runs the CLI
from tests/clients with a private HOME and CODEX_HOME, in a scratch directory outside any git
repository, and its stdout, stderr and exit code are kept as they were, with INDEX.json saying how
it was started. tests/agents/test_codex_double_fidelity.py replays them against tests/fake_codex.py;
the parser's tests read them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mock_openai import MockOpenAI

HERE = Path(__file__).parent
CODEX = HERE / "clients" / "node_modules" / ".bin" / "codex"
OUT = HERE / "fixtures" / "codex"
BASE = "openai_base_url=http://127.0.0.1:<port>/v1"
"""The argv entry that points codex at the mock, as INDEX.json records it (the port is the run's)."""
EXEC = ["codex", "exec", "--json", "--skip-git-repo-check", "-c", BASE]


def run(
    argv: list[str], stdin: bytes, home: Path, cwd: Path, url: str, env: dict[str, str]
) -> tuple[bytes, bytes, int]:
    real = [str(CODEX), *(a.replace("http://127.0.0.1:<port>/v1", url) for a in argv[1:])]
    # TMPDIR elsewhere than the CODEX_HOME: codex refuses to put its sandbox helper under the temporary
    # directory, and then cannot run a command at all.
    environ = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(home / ".codex"),
               "TMPDIR": "/var/tmp", **env}  # fmt: skip
    done = subprocess.run(real, input=stdin, capture_output=True, cwd=cwd, env=environ, timeout=600)
    return done.stdout, done.stderr, done.returncode


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    index = []
    key = {"CODEX_API_KEY": "sk-test-dummy"}
    with (
        MockOpenAI() as mock,
        MockOpenAI(websocket_status=404) as no_websocket,
        tempfile.TemporaryDirectory() as scratch,
    ):
        home, work = Path(scratch) / "home", Path(scratch) / "work"
        (home / ".codex").mkdir(parents=True)
        work.mkdir()
        thread: list[str] = []

        def case(name: str, argv: list[str], stdin: bytes, note: str, env: dict[str, str] = key,
                 api: MockOpenAI = mock) -> bytes:  # fmt: skip
            started = time.monotonic()
            given = [a.replace("<thread>", thread[0]) if thread else a for a in argv]
            out, err, code = run(given, stdin, home, work, api.url, env)
            (OUT / f"{name}.stdout").write_bytes(out)
            (OUT / f"{name}.stderr").write_bytes(err)
            index.append({"name": name, "argv": argv, "env": sorted(env), "stdin": stdin.decode(), "exit_code": code,
                          "seconds": round(time.monotonic() - started, 2), "note": note})  # fmt: skip
            print(name, code, file=sys.stderr)
            return out

        first = case("01_text", [*EXEC, "-"], b"hello MOCK_TEXT\n", "a plain turn, the prompt on stdin")
        thread.append(json.loads(first.split(b"\n")[0])["thread_id"])
        case("02_resume", [*EXEC, "resume", "<thread>", "-"], b"again MOCK_TEXT\n",
             "second turn of 01's thread: usage is the thread's running total")  # fmt: skip
        case("03_resume_again", [*EXEC, "resume", "<thread>", "-"], b"third MOCK_TEXT\n",
             "third turn: the total again")  # fmt: skip
        case("04_tool", [*EXEC, "-"], b"run it MOCK_TOOL\n", "a command_execution item, started then completed")
        case("05_401", [*EXEC, "-"], b"MOCK_401\n", "no valid key: five Reconnecting errors, then turn.failed")
        case("06_usage_limit", [*EXEC, "-"], b"MOCK_USAGE\n", "429 usage_limit_reached (a plan's limit)")
        case("07_500", [*EXEC, "-"], b"MOCK_500\n", "HTTP 500: five Reconnecting errors, then turn.failed")
        case("08_failed", [*EXEC, "-"], b"MOCK_FAILED\n", "response.failed: stream disconnected")
        case("09_resume_unknown", [*EXEC, "resume", str(uuid.uuid4()), "-"], b"hello MOCK_TEXT\n",
             "resume of a thread id nobody made: stderr only, exit 1")  # fmt: skip
        case("10_dash_message", [*EXEC, "-"], b"--help me -s yolo MOCK_TEXT\n",
             "a message that starts with a dash, on stdin: a prompt like any other")  # fmt: skip
        case("11_no_git", ["codex", "exec", "--json", "-c", BASE, "-"], b"hello MOCK_TEXT\n",
             "outside a git repository without --skip-git-repo-check")  # fmt: skip
        case("12_empty_stdin", [*EXEC, "-"], b"", "nothing on stdin")
        case("13_bogus_flag", [*EXEC, "--bogus", "-"], b"hello\n", "an option codex does not know: clap, exit 2")
        case("14_resume_flags", ["codex", "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write",
                                 "--add-dir", "/tmp", "-c", BASE, "resume", "<thread>", "-"],
             b"flags MOCK_TEXT\n", "exec's own options (-s, --add-dir) go before resume")  # fmt: skip
        case("15_resume_sandbox_after", [*EXEC, "resume", "-s", "read-only", "<thread>", "-"], b"hello\n",
             "-s after resume is refused")  # fmt: skip
        case("17_patch", ["codex", "exec", "--json", "--skip-git-repo-check", "-s", "workspace-write", "-c", BASE, "-"],
             b"patch MOCK_PATCH\n", "apply_patch under workspace-write: a file_change item")  # fmt: skip
        case(
            "18_reconnecting",
            [*EXEC, "-"],
            b"hello MOCK_TEXT\n",
            "no WebSocket: five non-fatal Reconnecting errors and an error item, then the answer",
            api=no_websocket,
        )
        case("16_no_key", [*EXEC, "-"], b"MOCK_401\n", "no credentials at all: no Authorization header, the same 401",
             env={})  # fmt: skip
        case("19_version", ["codex", "--version"], b"", "what doctor asks")
        case("20_login_status_none", ["codex", "login", "status"], b"", "no stored login: CODEX_API_KEY is no login")
        case("21_login_with_api_key", ["codex", "login", "--with-api-key"], b"sk-proj-abcdefghijkl\n",
             "a key stored in $CODEX_HOME/auth.json")  # fmt: skip
        case("22_login_status_key", ["codex", "login", "status"], b"", "what doctor reads of a stored login")
    (OUT / "INDEX.json").write_text(json.dumps(index, indent=1) + "\n")


if __name__ == "__main__":
    main()
