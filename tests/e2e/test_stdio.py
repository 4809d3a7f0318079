"""End to end: the installed `agent-mcp` command as a subprocess, driven by the SDK's stdio client."""

from __future__ import annotations

import json

import anyio
import pytest
from helpers import MIB, call, connect, names, ok, refused, user_messages

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tools_are_listed_with_schemas_and_annotations(claude_env, no_leaks, mode):
    async with connect(claude_env, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"create_agent", "list_agents", "send_message"} <= set(tools)
    for tool in tools.values():
        assert tool.output_schema is not None
        assert 0 < len(tool.description or "") < 2048
    assert tools["list_agents"].annotations.read_only_hint is True
    assert tools["send_message"].annotations.read_only_hint is False
    assert set(tools["send_message"].output_schema["properties"]) >= {
        "agent",
        "text",
        "session_id",
        "model",
        "api_key_source",
        "rate_limit_type",
        "cost_usd",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "duration_ms",
        "num_turns",
        "is_error",
        "error",
        "subtype",
    }


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_create_list_send_and_resume_chain(tmp_path, claude_env, no_leaks, mode):
    async with connect(claude_env, mode=mode) as client:
        info = await ok(client, "create_agent", name="dev", role="writes tests", cwd=str(tmp_path), model="opus")
        assert info["session_id"] is None and info["status"] == "idle" and info["model"] == "opus"
        assert info["cwd"] == str(tmp_path.resolve())

        replies = [await ok(client, "send_message", agent="dev", message=f"turn {i} MOCK_TEXT") for i in (1, 2, 3)]
        result = await call(client, "list_agents")
        listed = result.structured_content["agents"]
        assert json.loads(result.content[0].text) == result.structured_content  # the copy for text-only clients

    assert [r["text"] for r in replies] == [
        f"Mock reply #{i}. Last user text tail: turn {i} MOCK_TEXT" for i in (1, 2, 3)
    ]
    assert len({r["session_id"] for r in replies}) == 1
    assert replies[0]["model"] == "opus" and replies[0]["api_key_source"] == "ANTHROPIC_API_KEY"
    assert replies[0]["cache_read_input_tokens"] == 15000 and replies[0]["input_tokens"] == 120
    assert all(r["is_error"] is False and r["error"] is None for r in replies)
    [agent] = listed
    assert agent["message_count"] == 3 and agent["session_id"] == replies[0]["session_id"]
    assert agent["total_cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in replies))
    assert agent["total_output_tokens"] == 3 * 42
    assert user_messages(claude_env, tmp_path, agent["session_id"]) == [f"turn {i} MOCK_TEXT" for i in (1, 2, 3)]


async def test_agents_run_in_parallel_and_one_agent_runs_in_order(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        for name in ("a", "b"):
            await ok(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
        replies: dict[str, dict] = {}
        statuses: list[dict[str, str]] = []

        async def send(key: str, agent: str, message: str) -> None:
            replies[key] = await ok(client, "send_message", agent=agent, message=message)

        async with anyio.create_task_group() as tg:
            tg.start_soon(send, "b1", "b", "work MOCK_SLEEP=1")
            for i in range(3):  # three messages to one agent, sent one after another without waiting
                tg.start_soon(send, f"a{i}", "a", f"a message {i} MOCK_SLEEP=0.3")
                await anyio.sleep(0.1)
            with anyio.fail_after(10):
                while not statuses or not all(s == "running" for s in statuses[-1].values()):
                    listed = (await ok(client, "list_agents"))["agents"]
                    statuses.append({a["name"]: a["status"] for a in listed})
        final = (await ok(client, "list_agents"))["agents"]

    assert statuses[-1] == {"a": "running", "b": "running"}
    assert [replies[f"a{i}"]["text"].split(".")[0] for i in range(3)] == [
        "Mock reply #1",
        "Mock reply #2",
        "Mock reply #3",
    ]
    session = replies["a0"]["session_id"]
    assert {replies[f"a{i}"]["session_id"] for i in range(3)} == {session}
    assert user_messages(claude_env, tmp_path, session) == [f"a message {i} MOCK_SLEEP=0.3" for i in range(3)]
    assert [(a["status"], a["message_count"], a["queued"]) for a in final] == [("idle", 3, 0), ("idle", 1, 0)]


async def test_big_message_and_dash_message_arrive_byte_for_byte(tmp_path, claude_env, no_leaks):
    big = "".join(f"line {i}: ünïcödé — {'x' * 50}\n" for i in range(30_000))
    assert len(big.encode()) > 2 * MIB
    dashed = "--help -p --resume=nope\n-x foo"
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        first = await ok(client, "send_message", agent="dev", message=big)
        second = await ok(client, "send_message", agent="dev", message=dashed)
    assert first["is_error"] is False and second["is_error"] is False
    assert user_messages(claude_env, tmp_path, first["session_id"]) == [big, dashed]


async def test_message_of_exactly_the_limit_is_accepted_and_one_byte_more_refused(tmp_path, claude_env, no_leaks):
    exact = "a" * (4 * MIB - 2) + "é"
    assert len(exact.encode()) == 4 * MIB
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="dev", message=exact)
        text = await refused(client, "send_message", agent="dev", message=exact + "b")
        [agent] = (await ok(client, "list_agents"))["agents"]
    assert reply["is_error"] is False
    assert "4194305 bytes" in text and "limit of 4194304" in text
    assert agent["message_count"] == 1


async def test_crash_is_a_tool_error_with_the_cli_output(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        text = await refused(client, "send_message", agent="dev", message="go MOCK_CRASH")
        after = await ok(client, "send_message", agent="dev", message="are you back?")
        [agent] = (await ok(client, "list_agents"))["agents"]
    assert text.startswith("[crashed] the claude CLI exited with code 3")
    assert "Bun has crashed" in text and "Segmentation fault" in text
    assert after["is_error"] is False
    assert agent["status"] == "idle" and agent["message_count"] == 1


async def test_cli_reported_errors_come_back_as_responses(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), max_turns=2)
        looped = await ok(client, "send_message", agent="dev", message="loop MOCK_LOOP")
        api = await ok(client, "send_message", agent="dev", message="x MOCK_500")
    assert (looped["is_error"], looped["subtype"], looped["error"]) == (
        True,
        "error_max_turns",
        "Reached maximum number of turns (2)",
    )
    assert api["is_error"] is True and api["api_error_status"] == 500 and api["error"].startswith("API Error: 500")


async def test_missing_cli_is_a_clear_error_and_the_server_keeps_serving(tmp_path, claude_env, no_leaks):
    claude_env["AGENT_MCP_CLAUDE_BIN"] = str(tmp_path / "nowhere" / "claude")
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        text = await refused(client, "send_message", agent="dev", message="hi")
        assert await names(client) == ["dev"]
    assert text.startswith("[cli_not_found] ") and str(tmp_path / "nowhere" / "claude") in text


async def test_flag_wins_over_environment(tmp_path, claude_env, no_leaks):
    good = claude_env["AGENT_MCP_CLAUDE_BIN"]
    claude_env["AGENT_MCP_CLAUDE_BIN"] = str(tmp_path / "missing")
    async with connect(claude_env, "--claude-bin", good) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        assert (await ok(client, "send_message", agent="dev", message="hi"))["is_error"] is False


async def test_every_bad_input_is_a_tool_error_and_changes_nothing(tmp_path, claude_env, no_leaks):
    root = tmp_path / "root"
    (root / "work").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link-out").symlink_to(outside)
    (root / "file").write_text("")
    cwd = str(root / "work")
    async with connect(claude_env, "--allowed-roots", str(root)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=cwd)
        before = await ok(client, "list_agents")
        cases = [
            ("send_message", {"agent": "ghost", "message": "hi"}, "no agent named 'ghost'"),
            ("send_message", {"agent": "dev", "message": ""}, "message is empty"),
            ("send_message", {"agent": "dev", "message": " \n "}, "message is empty"),
            ("send_message", {"agent": "dev", "message": "a\x00b"}, "NUL"),
            ("send_message", {"agent": "dev", "message": "x" * (4 * MIB + 1)}, "over the limit"),
            ("send_message", {"agent": "dev", "message": "hi", "timeout_s": -1}, "timeout_s must be a positive"),
            ("send_message", {"agent": "dev"}, "message"),
            ("create_agent", {"name": "dev", "role": "r", "cwd": cwd}, "already exists"),
            ("create_agent", {"name": "Dev", "role": "r", "cwd": cwd}, "already exists"),
            ("create_agent", {"name": "bad name", "role": "r", "cwd": cwd}, "invalid agent name"),
            ("create_agent", {"name": ".hidden", "role": "r", "cwd": cwd}, "invalid agent name"),
            ("create_agent", {"name": "n" * 65, "role": "r", "cwd": cwd}, "invalid agent name"),
            ("create_agent", {"name": "n", "role": "", "cwd": cwd}, "role is empty"),
            ("create_agent", {"name": "n", "role": "r" * (64 * 1024 + 1), "cwd": cwd}, "over the limit of 65536"),
            ("create_agent", {"name": "n", "role": "a\x00", "cwd": cwd}, "NUL"),
            ("create_agent", {"name": "n", "role": "r", "cwd": "work"}, "is relative"),
            ("create_agent", {"name": "n", "role": "r", "cwd": str(root / "nope")}, "does not exist"),
            ("create_agent", {"name": "n", "role": "r", "cwd": str(root / "file")}, "is not a directory"),
            ("create_agent", {"name": "n", "role": "r", "cwd": str(outside)}, "outside the allowed roots"),
            ("create_agent", {"name": "n", "role": "r", "cwd": str(root / "link-out")}, "outside the allowed roots"),
            ("create_agent", {"name": "n", "role": "r", "cwd": cwd, "permission_mode": "yolo"}, "permission_mode"),
            ("create_agent", {"name": "n", "role": "r", "cwd": cwd, "add_dirs": [str(outside)]}, "outside the allowed"),
            ("create_agent", {"name": "n", "role": "r", "cwd": cwd, "max_turns": 0}, "max_turns"),
            ("create_agent", {"name": 5, "role": "r", "cwd": cwd}, "name"),
            ("create_agent", {"role": "r", "cwd": cwd}, "name"),
        ]
        for tool, arguments, problem in cases:
            text = await refused(client, tool, **arguments)
            assert problem in text, (tool, arguments, text)
        assert await ok(client, "list_agents") == before
        role = "é" * (32 * 1024)  # exactly 64 KiB of UTF-8
        assert (await ok(client, "create_agent", name="max", role=role, cwd=str(root)))["role"] == role
        assert await names(client) == ["dev", "max"]
