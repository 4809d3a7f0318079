"""Every cursor, offset and number a caller passes is range-checked into `[invalid_input]`: none
reaches `[internal]` (issue 27, point 8). The attacks: forged cursors, `after=10**19` (SQLite's
integers are 64-bit), 5,000-digit integers (Python will not even print one), booleans for counts,
negative and non-finite numbers. NaN and Infinity as JSON literals are tried over the wire in
tests/e2e/test_trust_reads.py (this in-memory client turns them into null)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DOUBLE
from mcp import Client

from agent_mcp.core import validation
from agent_mcp.core.config import Settings
from agent_mcp.core.errors import InvalidInput, UnknownAgent, UnknownRun
from agent_mcp.pool import _cursors as cursors
from agent_mcp.server.tools import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.attack]

HUGE = 10**5000
"""Its str() raises ValueError (int max str digits), as a refusal quoting it did."""
COUNTS = [-1, 10**19, 10**30, HUGE, -HUGE, True, False, 1.5, "9" * 5000, "-1"]
SECONDS = [-1, -1e-9, HUGE, -HUGE, True, "9" * 5000, "soon"]


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


CURSORS = [
    forged("history:x~²"),  # a digit to str.isdigit, not to int()
    forged("history:x~١٢"),  # Arabic-Indic digits
    forged("history:x~" + "9" * 30),  # over SQLite's 64-bit integers
    forged("history:x~" + "9" * 5000),  # over int()'s 4,300 digits
    forged("history:x~-1"),
    forged("history:x"),
    forged("agents:dev"),  # another tool's
    "9" * 5000,
    "é",
    "",
    "%%%",
]


@pytest.fixture
async def client(tmp_path: Path, claude_env: dict[str, str], no_leaks: None) -> AsyncIterator[tuple[Client, str]]:
    settings = Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state", max_reply_chars=1000)
    async with Client(build_server(settings, claude_env), mode="legacy") as client:
        await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(tmp_path)})
        sent = await client.call_tool("send_message", {"agent": "dev", "message": "MOCK_BIGLINE=5000"})
        yield client, sent.structured_content["run_id"]


def arguments(tool: str, run_id: str, cwd: str) -> dict[str, Any]:
    """What each tool needs besides the argument under attack."""
    return {
        "get_run": {"run_id": run_id},
        "get_transcript": {"run_id": run_id},
        "wait_runs": {"run_ids": [run_id]},
        "get_history": {"agent": "dev"},
        "list_agents": {},
        "send_message": {"agent": "dev", "message": "hi"},
        "start_message": {"agent": "dev", "message": "hi"},
        "broadcast": {"agents": ["dev"], "message": "hi"},
        "create_agent": {"name": "other", "role": "r", "cwd": cwd},
    }[tool]


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    text = result.content[0].text if result.content else ""
    assert result.is_error, f"{tool}({str(args)[:200]}) was accepted: {text[:300]}"
    assert text.startswith("[invalid_input] "), text[:500]
    return text


@pytest.mark.parametrize(
    ("tool", "argument", "values"),
    [
        ("list_agents", "limit", [0, 1001, *COUNTS]),
        ("get_history", "limit", [0, 1001, *COUNTS]),
        ("get_transcript", "after", COUNTS),
        ("get_transcript", "limit", [0, 1001, *COUNTS]),
        ("get_run", "text_offset", COUNTS),
        ("get_run", "text_limit", [0, 1001, *COUNTS]),
        ("get_run", "message_offset", COUNTS),
        ("get_run", "message_limit", [0, 1001, *COUNTS]),
        ("get_run", "wait_s", SECONDS),
        ("wait_runs", "wait_s", SECONDS),
        ("send_message", "timeout_s", [0, *SECONDS]),
        ("start_message", "timeout_s", [0, *SECONDS]),
        ("broadcast", "timeout_s", [0, *SECONDS]),
        ("create_agent", "max_turns", [0, 2**53, *COUNTS]),
        ("create_agent", "max_budget_usd", [0, *SECONDS]),
    ],
)
async def test_every_number_argument_out_of_range_is_invalid_input(client, tmp_path, tool, argument, values):
    caller, run_id = client
    for value in values:
        await refused(caller, tool, {**arguments(tool, run_id, str(tmp_path)), argument: value})
    listed = (await caller.call_tool("list_agents", {})).structured_content
    assert [agent["name"] for agent in listed["agents"]] == ["dev"]  # nothing was created or changed


@pytest.mark.parametrize("tool", ["get_history", "list_agents"])
async def test_forged_cursors_are_invalid_input(client, tool):
    caller, run_id = client
    for cursor in CURSORS:
        if tool == "list_agents" and cursor == forged("agents:dev"):
            continue  # a place among the names: any name is one
        text = await refused(caller, tool, {**arguments(tool, run_id, ""), "cursor": cursor})
        assert "is not one this tool gave" in text and len(text) < 400


async def test_the_largest_integers_that_fit_are_answered(client):
    """The range ends where it says: after=2**53 - 1 is an empty page, not an overflow."""
    caller, run_id = client
    page = await caller.call_tool("get_transcript", {"run_id": run_id, "after": validation.LARGEST_INTEGER})
    assert not page.is_error and page.structured_content["events"] == []
    text = await refused(caller, "get_transcript", {"run_id": run_id, "after": 10**19})
    assert text.startswith("[invalid_input] after must be 0 or the `next` of a page before, got 10000000000000000000")


async def test_offsets_past_the_end_say_how_long_the_text_is(client):
    caller, run_id = client
    end = await caller.call_tool("get_run", {"run_id": run_id, "text_offset": 5000})
    assert not end.is_error and end.structured_content["response"]["text"] == ""
    text = await refused(caller, "get_run", {"run_id": run_id, "text_offset": 5001})
    assert "text_offset 5001 is past the end: the reply is 5000 characters" in text
    text = await refused(caller, "get_run", {"run_id": run_id, "message_offset": 100})
    assert "message_offset 100 is past the end: the message is 17 characters" in text


def test_a_refusal_never_prints_a_number_python_cannot_print():
    with pytest.raises(InvalidInput, match=r"got an integer of about 5001 digits"):
        validation.check_limit(HUGE)
    with pytest.raises(InvalidInput, match=r"max_turns must be at least 1, got an integer of about 5001 digits"):
        validation.check_max_turns(-HUGE)
    assert validation.check_max_turns(validation.LARGEST_INTEGER) == validation.LARGEST_INTEGER


def test_a_cursor_given_reads_back_and_a_forged_place_does_not():
    assert cursors.read_history(cursors.history("2026-01-01T00:00:00.000+00:00", 2**63 - 1)) == (
        "2026-01-01T00:00:00.000+00:00",
        2**63 - 1,
    )
    for place in ("²", "9" * 19, "9" * 5000, " 1", "1_0", "+1"):
        with pytest.raises(InvalidInput, match="is not one this tool gave"):
            cursors.read_history(forged(f"history:x~{place}"))


async def test_a_refusal_quotes_a_long_id_cut(make_pool, claude_env):
    """A 5 KB run id or agent name came back whole in the refusal, into the caller's context."""
    pool = await make_pool(claude_env)
    with pytest.raises(UnknownRun) as run:
        pool.get_run("r" * 5000)
    with pytest.raises(UnknownAgent) as agent:
        await pool.info("a" * 5000)
    for refusal in (run.value, agent.value):
        assert len(str(refusal)) < 400 and "(5000 characters)" in str(refusal)
