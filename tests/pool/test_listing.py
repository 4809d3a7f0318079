"""Listings a model can read: pages, filters, the role's head, lean entries; history in pages."""

from __future__ import annotations

import json

import anyio
import pytest
from conftest import DOUBLE, check_leaks_after
from mcp import Client

from agent_mcp.core.config import Settings
from agent_mcp.server.tools import build_server

pytestmark = pytest.mark.anyio


async def call(client: Client, tool: str, **arguments: object) -> dict:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.fixture
async def client(tmp_path, claude_env, request):
    check_leaks_after(request)
    server = build_server(Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state"), claude_env)
    async with Client(server, mode="legacy") as connected:
        yield connected


async def test_pages_cover_every_agent_once_in_order(client, tmp_path, no_leaks):
    names = [f"agent-{i:03d}" for i in range(120)]
    for name in reversed(names):
        await call(client, "create_agent", name=name, role="r" * 1000, cwd=str(tmp_path))
    seen, cursor, pages = [], None, 0
    while True:
        page = await call(client, "list_agents", **({"cursor": cursor} if cursor else {}))
        assert page["total"] == 120 and len(page["agents"]) <= 50
        seen += [agent["name"] for agent in page["agents"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names and pages == 3

    entry = (await call(client, "list_agents", limit=1))["agents"][0]
    assert entry["role"] == "r" * 200  # get_agent gives the whole
    assert (await call(client, "get_agent", name="agent-000"))["role"] == "r" * 1000
    # a summary: what says nothing is left out, even the contract's fields (get_agent has them all)
    assert set(entry) == {"name", "role", "cwd", "status", "queued", "session_id", "message_count", "created_at"}
    whole = await call(client, "get_agent", name="agent-000")
    assert whole["model"] is None and whole["session_id"] is None and whole["total_cost_usd"] == 0

    prefixed = await call(client, "list_agents", name_prefix="AGENT-01")
    assert [a["name"] for a in prefixed["agents"]] == [f"agent-01{i}" for i in range(10)] and prefixed["total"] == 10
    refused = await client.call_tool("list_agents", {"cursor": "not-a-cursor"})
    assert refused.is_error and refused.content[0].text.startswith("[invalid_input] cursor 'not-a-cursor'")


async def test_status_filters(client, tmp_path, no_leaks):
    for name in ("busy", "idle-one", "waiting"):
        await call(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
    running = await call(client, "start_message", agent="busy", message="MOCK_SLEEP=30")
    queued = await call(client, "start_message", agent="busy", message="second")
    with anyio.fail_after(10):
        while (await call(client, "get_run", run_id=running["run_id"]))["status"] != "running":
            await anyio.sleep(0.02)
    assert [a["name"] for a in (await call(client, "list_agents", status="running"))["agents"]] == ["busy"]
    [busy] = (await call(client, "list_agents", status="queued"))["agents"]
    assert busy["name"] == "busy" and busy["queued"] == 1 and busy["status"] == "running"
    assert [a["name"] for a in (await call(client, "list_agents", status="idle"))["agents"]] == ["idle-one", "waiting"]
    for run in (queued, running):
        await call(client, "cancel_run", run_id=run["run_id"])


async def test_history_comes_in_pages_with_heads_of_messages_and_replies(client, tmp_path, no_leaks):
    await call(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
    for i in range(7):
        await call(client, "send_message", agent="dev", message=f"message {i} " + "m" * 1500)
    first = await call(client, "get_history", agent="dev", limit=3)
    second = await call(client, "get_history", agent="dev", limit=3, cursor=first["next_cursor"])
    third = await call(client, "get_history", agent="dev", limit=3, cursor=second["next_cursor"])
    runs = first["runs"] + second["runs"] + third["runs"]
    assert [r["message"].split(" ")[1] for r in runs] == ["6", "5", "4", "3", "2", "1", "0"]
    assert third["next_cursor"] is None
    assert all(len(r["message"]) == 500 for r in runs)
    # a summary: what a reader deciding whether to look closer needs, nothing that says nothing
    assert set(runs[0]) == {"run_id", "status", "message", "finished_at", "response"}, runs[0]
    assert set(runs[0]["response"]) == {"text", "cost_usd"}, runs[0]["response"]
    assert runs[0]["status"] == "done" and runs[0]["response"]["cost_usd"] > 0
    [entry] = (await call(client, "list_agents"))["agents"]  # with replies, the state says something
    assert entry["session_id"] and entry["message_count"] == 7 and entry["total_cost_usd"] > 0
    whole = await call(client, "get_history", agent="dev", limit=1, full=True)
    assert len(whole["runs"][0]["message"]) == len("message 6 ") + 1500
    assert len(json.dumps(first)) < 6000
