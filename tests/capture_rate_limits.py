"""Captures of the real claude CLI reporting a subscription's usage limits (issue #29).

Runs tests/clients' claude with an OAuth login against tests/mock_api.py, an account state set on
the mock, and writes tests/fixtures/4x_oauth_limit_*.stdout (and .stderr when there is any) with
their entries in tests/fixtures/INDEX.json (an entry of the same name is replaced). Run from the
checkout: `.venv/bin/python tests/capture_rate_limits.py`. docs/claude-cli.md ("Usage limits") reads them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE / "e2e")]

from mock_api import Account, MockAnthropic  # noqa: E402
from real_limits import OAUTH_TOKEN  # noqa: E402
from test_real_cli import QUIET  # noqa: E402  (the same quiet CLI as the e2e tests, MAX_RETRIES 1 among it)

CLAUDE = HERE / "clients" / "node_modules" / ".bin" / "claude"
FIXTURES = HERE / "fixtures"
PRINT = ["claude", "-p", "--output-format", "stream-json", "--verbose", "--"]
WARM = ["claude", "-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"]


def frame(text: str) -> bytes:
    """A user message as agent-mcp writes it (agents/claude/_frames.py user_frame)."""
    message = {"type": "user", "message": {"role": "user", "content": text}, "parent_tool_use_id": None,
               "session_id": ""}  # fmt: skip
    return json.dumps(message).encode() + b"\n"


@dataclass
class Case:
    name: str
    account: Callable[[], Account]
    prompt: str = "x MOCK_TEXT"
    note: str = ""
    turns: list[tuple[str, Callable[[Account], None]]] = field(default_factory=list)
    """Warm cases: each message, and what happens to the account before it is sent."""


def unchanged(_: Account) -> None:
    pass


def rejected_from_now(account: Account) -> None:
    account.requests_left, account.resets_at = 0, int(time.time()) + 6


def after_the_reset(account: Account) -> None:
    time.sleep(max(0.0, account.resets_at + 1 - time.time()))


CASES = [
    Case("40_oauth_limit_allowed", lambda: Account(utilization=0.2), note="five_hour, utilization 0.2"),
    Case(
        "41_oauth_limit_warning",
        lambda: Account(status="allowed_warning", utilization=0.93, surpassed_threshold=0.9),
        note="five_hour allowed_warning, utilization 0.93, surpassed threshold 0.9",
    ),
    Case(
        "42_oauth_limit_rejected",
        lambda: Account(status="rejected", utilization=1.0, resets_at=int(time.time()) + 5),
        note="every request a 429 with the rejected headers, reset 5 s ahead",
    ),
    Case(
        "43_oauth_limit_rejected_second_call",
        lambda: Account(utilization=0.5, requests_left=1),
        "run MOCK_TOOL",
        note="the first request (tool_use) allowed, the tool result's request a 429: rejected",
    ),
    Case(
        "44_oauth_limit_seven_day_warning",
        lambda: Account(status="allowed_warning", window="seven_day", utilization=0.8, surpassed_threshold=0.75),
        note="seven_day allowed_warning, utilization 0.8, surpassed threshold 0.75",
    ),
    Case(
        "45_oauth_limit_warm_second_turn_rejected",
        lambda: Account(utilization=0.5),
        note="one process reading stream-json: turn 1 allowed, turn 2 a 429 (reset 6 s ahead), turn 3 after the reset",
        turns=[
            ("first MOCK_TEXT", unchanged),
            ("second MOCK_TEXT", rejected_from_now),
            ("third MOCK_TEXT", after_the_reset),
        ],
    ),
    Case(
        "46_oauth_limit_rejected_reset_in_past",
        lambda: Account(utilization=1.0, requests_left=0, resets_at=int(time.time()) - 60),
        note="the first request a 429 whose reset is a minute ago; the next request allowed",
    ),
    Case(
        "47_oauth_limit_rejected_no_reset",
        lambda: Account(status="rejected", utilization=1.0, send_reset=False),
        note="every request a 429 with the rejected headers but no reset header",
    ),
    Case(
        "48_oauth_limit_seven_day_rejected",
        lambda: Account(status="rejected", window="seven_day", utilization=1.0, resets_at=int(time.time()) + 3 * 86400),
        note="seven_day rejected, reset 3 days ahead",
    ),
    Case(
        "49_oauth_limit_derived_warning",
        lambda: Account(utilization=0.95),
        note="status allowed, five_hour utilization 0.95 with 3 of 5 hours left and no surpassed threshold",
    ),
    Case(
        "50_oauth_429_server_throttle",
        lambda: Account(utilization=0.3),
        "x MOCK_429",
        note="a 429 rate_limit_error without the unified headers (not the account's limit), retried once",
    ),
]


def environment(home: str, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "AGENT_MCP_"))}
    return {**env, **QUIET, "HOME": home, "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN, "ANTHROPIC_BASE_URL": url}


def warm(case: Case, api: MockAnthropic, command: list[str], cwd: str, env: dict[str, str]) -> tuple[bytes, bytes, int]:
    """The turns over one process: each message written once the previous turn's result is out."""
    child = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)  # fmt: skip
    assert child.stdin and child.stdout and child.stderr
    out = b""
    for text, before in case.turns:
        assert api.account is not None
        before(api.account)
        child.stdin.write(frame(text))
        child.stdin.flush()
        for line in child.stdout:
            out += line
            if json.loads(line)["type"] == "result":
                break
    child.stdin.close()
    out += child.stdout.read()
    err = child.stderr.read()
    return out, err, child.wait(30)


def capture(case: Case) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as cwd, MockAnthropic() as api:
        api.account = case.account()
        env = environment(home, api.url)
        argv = WARM if case.turns else [*PRINT, case.prompt]
        command = [str(CLAUDE), *argv[1:]]
        started = time.monotonic()
        if case.turns:
            out, err, code = warm(case, api, command, cwd, env)
            stdin = "stream-json user frames, each once the previous result is out: " + ", ".join(
                repr(text) for text, _ in case.turns
            )
        else:
            done = subprocess.run(command, cwd=cwd, env=env, input=b"", capture_output=True, timeout=120)
            out, err, code, stdin = done.stdout, done.stderr, done.returncode, "empty pipe (EOF)"
        seconds = round(time.monotonic() - started, 2)
        calls = [("tools" if r["body"].get("tools") else "side") for r in api.requests]
    (FIXTURES / f"{case.name}.stdout").write_bytes(out)
    if err:
        (FIXTURES / f"{case.name}.stderr").write_bytes(err)
    shown = {k: v for k, v in env.items() if k in QUIET or k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    note = f"{case.note}; tests/mock_api.py Account; {len(calls)} API request(s); claude 2.1.332, {when}"
    return {"name": case.name, "argv": argv, "env": shown, "stdin": stdin, "exit_code": code, "seconds": seconds,
            "stdout_bytes": len(out), "stderr_bytes": len(err), "note": note}  # fmt: skip


def main() -> None:
    wanted = set(sys.argv[1:])
    index_path = FIXTURES / "INDEX.json"
    index = json.loads(index_path.read_text())
    for case in CASES:
        if wanted and case.name not in wanted:
            continue
        entry = capture(case)
        print(json.dumps(entry), file=sys.stderr)
        index = [e for e in index if e["name"] != case.name] + [entry]
    index.sort(key=lambda e: e["name"])
    index_path.write_text(json.dumps(index, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
