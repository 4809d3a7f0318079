"""The double's permission prompt held to the real CLI's: both driven through the same exchange
(--permission-prompt-tool stdio, a Write asked for), answered the same way, must write the same
events in the same order, the same control request, and end the turn the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DOUBLE
from helpers import real_client
from mock_api import MockAnthropic
from test_real_cli import QUIET

ARGV = ["-p", "--input-format=stream-json", "--output-format=stream-json", "--verbose",
        "--permission-prompt-tool=stdio"]  # fmt: skip


def frame(line: dict) -> bytes:
    return json.dumps(line).encode() + b"\n"


def exchange(argv: list[str], cwd: Path, env: dict[str, str], target: Path, answer: str) -> tuple[list[dict], int]:
    """One turn that asks to write `target`, answered with allow, deny, an interrupt, or the end of stdin."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    assert process.stdin and process.stdout
    message = {"type": "user", "message": {"role": "user", "content": f"please MOCK_WRITE={target}"}}
    process.stdin.write(frame(message))
    process.stdin.flush()
    events = []
    for raw in process.stdout:
        event = json.loads(raw)
        events.append(event)
        if event["type"] == "control_request" and event["request"]["subtype"] == "can_use_tool":
            request_id = event["request_id"]
            if answer == "eof":
                process.stdin.close()
                continue
            if answer == "interrupt":
                reply = {"type": "control_request", "request_id": "int-1", "request": {"subtype": "interrupt"}}
            else:
                behaviour = ({"behavior": "allow", "updatedInput": event["request"]["input"]} if answer == "allow"
                             else {"behavior": "deny", "message": "no"})  # fmt: skip
                body = {"subtype": "success", "request_id": request_id, "response": behaviour}
                reply = {"type": "control_response", "response": body}
            process.stdin.write(frame(reply))
            process.stdin.flush()
        if event["type"] == "result":
            break
    if not process.stdin.closed:
        process.stdin.close()
    return events, process.wait(timeout=30)


def shapes(events: list[dict]) -> list[tuple]:
    """What must match: the order of events by kind, leaving out the CLI's own system chatter."""
    kept = []
    for event in events:
        if event["type"] == "system" and event.get("subtype") != "init":
            continue
        if event["type"] == "user":
            content = event["message"]["content"]
            kinds = tuple(block.get("type") for block in content) if isinstance(content, list) else ("text",)
            kept.append(("user", kinds, content[0].get("is_error", False) if isinstance(content, list) else False))
        elif event["type"] == "result":
            kept.append(("result", event["subtype"], event.get("terminal_reason"), event.get("stop_reason"),
                         tuple(d["tool_name"] for d in event.get("permission_denials", []))))  # fmt: skip
        else:
            kept.append((event["type"], event.get("subtype") or (event.get("request") or {}).get("subtype")))
    return kept


@pytest.mark.parametrize("answer", ["allow", "deny", "interrupt", "eof"])
def test_the_double_asks_and_obeys_as_the_real_cli_does(answer, tmp_path, claude_env):
    claude = real_client("claude", "the real claude CLI")
    outcomes = {}
    with MockAnthropic() as api:
        for name, argv, env in (
            ("real", [str(claude), *ARGV], {**claude_env, **QUIET, "ANTHROPIC_BASE_URL": api.url}),
            ("double", [sys.executable, str(DOUBLE), *ARGV], claude_env),
        ):
            cwd = tmp_path / name
            cwd.mkdir()
            target = cwd / "f.txt"
            events, code = exchange(argv, cwd, env, target, answer)
            [request] = [e for e in events if e["type"] == "control_request"]
            outcomes[name] = (shapes(events), code, target.exists(), sorted(request), sorted(request["request"]))
    assert outcomes["double"] == outcomes["real"]
    assert outcomes["real"][2] is (answer == "allow")
