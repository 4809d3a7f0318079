"""The codex double held to the real CLI: every capture in tests/fixtures/codex/ replayed.

Most tests of the codex kind drive tests/fake_codex.py instead of the real codex, so the double must
write what codex wrote for the same argv, credentials and stdin: the same events in the same order
(items by their type), each event and item with the same keys, the same exit code and the same stderr
(its log lines, which carry timestamps, left out). Values (ids, texts) are the double's own, but
the usage of a resumed thread must be its running total in both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "codex"
DOUBLE = Path(__file__).parents[1] / "fake_codex.py"
CASES = {case["name"]: case for case in json.loads((FIXTURES / "INDEX.json").read_text())}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z +(ERROR|WARN|INFO|DEBUG) ")

ASKED_WITH = {
    # The capture's mock refused codex's WebSocket with 404 (the others with 426): the double is
    # asked for the same reconnects with a word in the prompt, as for every other outcome.
    "18_reconnecting": "hello MOCK_RECONNECT\n",
}


def events(output: bytes) -> list[dict]:
    return [json.loads(line) for line in output.split(b"\n") if line.startswith(b"{")]


def shape(event: dict) -> tuple[str, str | None]:
    item = event.get("item")
    return event["type"], item.get("type") if isinstance(item, dict) else None


def plain_stderr(err: bytes, home: str) -> list[str]:
    text = UUID.sub("<id>", err.decode()).replace(home, "<home>")
    text = re.sub(r'AbsolutePathBuf\("[^"]*"\)', 'AbsolutePathBuf("<home>")', text)
    return [line for line in text.split("\n") if not LOG_LINE.match(line)]


def replay(argv: list[str], stdin: bytes, home: Path, cwd: Path, keys: list[str]) -> tuple[bytes, bytes, int]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(home / ".codex"), "TMPDIR": "/var/tmp"}
    env.update({key: "sk-test-dummy" for key in keys})
    done = subprocess.run(
        [sys.executable, str(DOUBLE), *argv[1:]], input=stdin, capture_output=True, cwd=cwd, env=env, timeout=60
    )
    return done.stdout, done.stderr, done.returncode


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".codex").mkdir(parents=True)
    work.mkdir()
    return home, work


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_double_writes_what_codex_wrote(name, places):
    home, work = places
    case = CASES[name]
    argv = list(case["argv"])
    if "<thread>" in argv:  # a thread of the double's own, made by a first turn as the capture's was
        out, _, code = replay(["codex", "exec", "--json", "--skip-git-repo-check", "-"], b"hello MOCK_TEXT\n", home,
                              work, ["CODEX_API_KEY"])  # fmt: skip
        assert code == 0
        argv[argv.index("<thread>")] = events(out)[0]["thread_id"]
    if name == "22_login_status_key":  # the login 21 stored
        replay(["codex", "login", "--with-api-key"], CASES["21_login_with_api_key"]["stdin"].encode(), home, work, [])
    stdin = ASKED_WITH.get(name, case["stdin"]).encode()
    out, err, code = replay(argv, stdin, home, work, case["env"])
    want_out = (FIXTURES / f"{name}.stdout").read_bytes()
    want_err = (FIXTURES / f"{name}.stderr").read_bytes()
    assert code == case["exit_code"], (out, err)
    assert plain_stderr(err, str(home)) == plain_stderr(want_err, "<none>")
    got, want = events(out), events(want_out)
    if not want:  # text, not events: the same text
        assert out == want_out
    assert [shape(e) for e in got] == [shape(e) for e in want]
    for mine, theirs in zip(got, want, strict=True):
        assert set(mine) == set(theirs), shape(mine)  # no allow-list: every key codex writes
        if isinstance(theirs.get("item"), dict):
            assert set(mine["item"]) == set(theirs["item"]), shape(mine)
        if isinstance(theirs.get("usage"), dict):
            assert set(mine["usage"]) == set(theirs["usage"])


def test_a_resumed_thread_reports_its_running_total_in_both(places):
    """01 -> 02 -> 03 in the captures: each turn.completed is the sum of the thread's turns so far."""
    totals = [events((FIXTURES / f"{name}.stdout").read_bytes())[-1]["usage"]["input_tokens"]
              for name in ("01_text", "02_resume", "03_resume_again")]  # fmt: skip
    assert totals == [totals[0], 2 * totals[0], 3 * totals[0]]
    home, work = places
    base = ["codex", "exec", "--json", "--skip-git-repo-check"]
    out, _, _ = replay([*base, "-"], b"one", home, work, ["CODEX_API_KEY"])
    thread = events(out)[0]["thread_id"]
    mine = [events(out)[-1]["usage"]["input_tokens"]]
    for text in (b"two", b"three"):
        out, _, _ = replay([*base, "resume", thread, "-"], text, home, work, ["CODEX_API_KEY"])
        mine.append(events(out)[-1]["usage"]["input_tokens"])
    assert mine == [mine[0], 2 * mine[0], 3 * mine[0]]
