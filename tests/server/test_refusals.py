"""Every refusal in one shape: a tool error whose text starts with "[<kind>] " and says what to do."""

from __future__ import annotations

import pytest
from conftest import DOUBLE
from mcp import Client

from agent_mcp.core.config import Settings
from agent_mcp.server.tools import build_server

pytestmark = pytest.mark.anyio


async def refused(client: Client, tool: str, **arguments: object) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def test_each_refusal_names_its_kind(tmp_path, claude_env, no_leaks):
    root = tmp_path / "root"
    root.mkdir()
    settings = Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state", allowed_roots=(root.resolve(),))
    async with Client(build_server(settings, claude_env), mode="legacy") as client:
        text = await refused(client, "create_agent", name="dev", role="r", cwd=str(root), permision_mode="plan")
        assert text.startswith("[invalid_input] create_agent has no argument 'permision_mode'; it takes name, role")
        assert (await client.call_tool("list_agents", {})).structured_content["agents"] == []

        assert (await refused(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))).startswith(
            "[policy] cwd "
        )
        assert not (await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(root)})).is_error
        assert (await refused(client, "send_message", agent="ghost", message="hi")).startswith(
            "[unknown_agent] no agent named 'ghost'"
        )
        assert (await refused(client, "get_run", run_id="nope")).startswith("[unknown_run] no run with id 'nope'")
        assert (await refused(client, "get_history", agent="dev", limit="many")).startswith(
            "[invalid_input] bad arguments for get_history: limit: "
        )
        assert (await refused(client, "create_agent", name="bad name", role="r", cwd=str(root))).startswith(
            "[invalid_input] invalid agent name"
        )
        run = (await client.call_tool("start_message", {"agent": "dev", "message": "MOCK_SLEEP=30"})).structured_content
        assert (await refused(client, "reset_agent", name="dev")).startswith("[busy] agent 'dev' has a message")
        assert (await refused(client, "delete_agent", name="dev")).startswith("[busy] agent 'dev' has 1 message")
        await client.call_tool("cancel_run", {"run_id": run["run_id"]})

        for tool in (await client.list_tools()).tools:
            assert tool.input_schema.get("additionalProperties") is False, tool.name


async def test_a_nested_server_at_its_depth_limit_says_depth_exceeded(tmp_path, claude_env, no_leaks):
    settings = Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state", depth=2, max_depth=2)
    async with Client(build_server(settings, claude_env), mode="legacy") as client:
        await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(tmp_path)})
        assert (await refused(client, "send_message", agent="dev", message="hi")).startswith(
            "[depth_exceeded] this agent-mcp runs at depth 2"
        )


async def test_a_bug_of_ours_is_refused_in_the_same_shape_and_the_server_keeps_serving(
    tmp_path, claude_env, no_leaks, monkeypatch
):
    from agent_mcp.pool.pool import AgentPool

    async def broken(self: AgentPool, *args: object) -> None:
        raise KeyError("queued")

    async with Client(build_server(Settings(state_dir=tmp_path / "state"), claude_env), mode="legacy") as client:
        monkeypatch.setattr(AgentPool, "listing", broken)
        text = await refused(client, "list_agents")
        assert text.startswith("[internal] list_agents failed: KeyError: 'queued'. This is a bug in agent-mcp")
        monkeypatch.undo()
        assert (await client.call_tool("list_agents", {})).structured_content["total"] == 0
