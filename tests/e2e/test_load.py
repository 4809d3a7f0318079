"""Load: 200 concurrent sends across 20 agents through one stdio server."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import pytest
from conftest import STATS
from helpers import connect, ok, server_pid, user_messages

pytestmark = pytest.mark.anyio

AGENTS = 20
PER_AGENT = 10


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_200_concurrent_sends_keep_order_counts_and_memory(tmp_path, claude_env, no_leaks):
    names = [f"agent-{i:02d}" for i in range(AGENTS)]
    replies: dict[tuple[str, int], dict] = {}

    async def send(name: str, i: int, client) -> None:
        replies[name, i] = await ok(client, "send_message", agent=name, message=f"{name} message {i}")

    async with connect(claude_env) as client:
        for name in names:
            await ok(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
        await ok(client, "send_message", agent=names[0], message="warm up")
        pid = server_pid(claude_env)
        before = rss_kib(pid)
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for i in range(PER_AGENT):  # every agent's i-th message goes out before any (i+1)-th
                    for name in names:
                        tg.start_soon(partial(send, name, i, client))
                    await anyio.sleep(0.02)
        after = rss_kib(pid)
        agents = {a["name"]: a for a in (await ok(client, "list_agents"))["agents"]}
        transcript = await ok(client, "get_transcript", run_id=replies[names[-1], PER_AGENT - 1]["run_id"])
    assert [e["kind"] for e in transcript["events"]] == ["text"]  # transcripts were kept all along
    state = Path(claude_env["AGENT_MCP_STATE_DIR"])
    stored = sum(f.stat().st_size for f in state.glob("agent-mcp.sqlite3*"))
    assert stored < 8 * 1024 * 1024, f"the store grew to {stored // 1024} KiB for 200 short runs"

    assert len(replies) == AGENTS * PER_AGENT
    for name in names:
        sessions = {replies[name, i]["session_id"] for i in range(PER_AGENT)}
        assert len(sessions) == 1, f"{name} forked its session"
        offset = 1 if name == names[0] else 0  # the warm-up message was that agent's first
        assert [replies[name, i]["text"].split(".")[0] for i in range(PER_AGENT)] == [
            f"Mock reply #{i + 1 + offset}" for i in range(PER_AGENT)
        ]
        expected = [f"{name} message {i}" for i in range(PER_AGENT)]
        assert user_messages(claude_env, tmp_path, sessions.pop())[offset:] == expected
        assert agents[name]["message_count"] == PER_AGENT + offset
        assert (agents[name]["status"], agents[name]["queued"]) == ("idle", 0)
    assert after - before < 30 * 1024, f"the server grew by {(after - before) // 1024} MiB under load"
    STATS["scenarios"] += 1
