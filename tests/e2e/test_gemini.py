"""End to end: gemini agents through the installed `agent-mcp` and the SDK's stdio client, with the gemini
double (tests/fake_gemini.py) beside the claude and codex doubles, and once with the real gemini CLI
(tests/clients) against the loopback mock of the Gemini API (tests/mock_gemini.py).

How it could be abused, and what holds: a message that would be read as gemini's flags (it goes on
stdin, never argv), a message too large for gemini to answer whole (refused, naming the limit), an
option gemini has no flag for (refused at creation, naming it), a cancel that signals only gemini's
parent, which ignores it (the whole tree ends), a session gemini no longer has (the agent is reset).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from helpers import call, claude_processes, connect, ok, real_client, refused
from mock_gemini import MockGemini

from agent_mcp.agents.commands import role_text
from agent_mcp.agents.gemini.kind import MAX_MESSAGE_BYTES

pytestmark = pytest.mark.anyio


async def test_a_gemini_agent_answers_resumes_and_keeps_its_transcript(tmp_path, gemini_env, no_leaks):
    async with connect(gemini_env) as client:
        info = await ok(client, "create_agent", name="gm", role="reviews", cwd=str(tmp_path), cli="gemini")
        assert info["cli"] == "gemini"
        first = await call(client, "send_message", agent="gm", message="look MOCK_TOOL")
        second = await ok(client, "send_message", agent="gm", message="again MOCK_ECHO_PROMPT")
        transcript = await ok(client, "get_transcript", run_id=first.structured_content["run_id"])
        history = await ok(client, "get_history", agent="gm")
        agent = await ok(client, "get_agent", name="gm")
    reply = first.structured_content
    assert reply["text"] == "Hello from the gemini mock." and not reply["is_error"]
    assert reply["cost_usd"] is None and '"cost_usd":null' in first.content[0].text  # unknown, not 0
    assert second["session_id"] == reply["session_id"]  # resumed
    assert second["text"] == "again MOCK_ECHO_PROMPT"  # a resumed turn's prompt carries no role sentence
    assert [e["kind"] for e in transcript["events"] if e["kind"].startswith("tool")] == ["tool_use", "tool_result"]
    assert agent["message_count"] == 2 and [r["status"] for r in history["runs"]] == ["done", "done"]


@pytest.mark.attack
async def test_a_message_of_gemini_s_largest_starting_with_a_dash_reaches_it_whole(tmp_path, gemini_env, no_leaks):
    head = "--yolo --prompt=evil -p x MOCK_ECHO_PROMPT "
    message = head + "é" * ((MAX_MESSAGE_BYTES - len(head)) // 2)
    async with connect(gemini_env) as client:
        await ok(client, "create_agent", name="gm", role="r", cwd=str(tmp_path), cli="gemini")
        reply = await ok(client, "send_message", agent="gm", message=message)
        whole = (await client.read_resource(f"agent-mcp://runs/{reply['run_id']}/reply")).contents[0].text
        too_big = await refused(client, "send_message", agent="gm", message=message + "xx")
    assert whole == message + "\n\n" + role_text("gm", "r") and not reply["is_error"]  # its bytes, then the role
    assert too_big.startswith(f"[invalid_input] message is {MAX_MESSAGE_BYTES + 1} bytes, and the gemini CLI")


async def test_refusals_name_the_option_the_kind_and_the_setting(tmp_path, gemini_env, no_leaks):
    missing = {**gemini_env, "AGENT_MCP_GEMINI_BIN": str(tmp_path / "nowhere" / "gemini")}
    async with connect(missing) as client:
        budget = await refused(client, "create_agent", name="x", role="r", cwd=str(tmp_path), cli="gemini",
                               max_budget_usd=1.0)  # fmt: skip
        turns = await refused(client, "create_agent", name="x", role="r", cwd=str(tmp_path), cli="gemini",
                              max_turns=3)  # fmt: skip
        await ok(client, "create_agent", name="gm", role="r", cwd=str(tmp_path), cli="gemini")
        not_found = await refused(client, "send_message", agent="gm", message="hello")
    assert budget.startswith("[invalid_input] a gemini agent cannot take max_budget_usd")
    assert turns.startswith("[invalid_input] a gemini agent cannot take max_turns")
    assert not_found.startswith("[cli_not_found]") and "--gemini-bin" in not_found


async def test_cancel_and_timeout_end_gemini_s_whole_tree(tmp_path, gemini_env, no_leaks):
    """gemini's parent ignores SIGTERM while its relaunched child runs: only the end of the run's whole
    process group (the reaper's) ends both."""
    async with connect(gemini_env) as client:
        await ok(client, "create_agent", name="gm", role="r", cwd=str(tmp_path), cli="gemini")
        run = await ok(client, "start_message", agent="gm", message="MOCK_SLEEP=30")
        with anyio.fail_after(10):
            while len(claude_processes(gemini_env)) < 3:  # the run's reaper, gemini and its relaunched child
                await anyio.sleep(0.05)
        await ok(client, "cancel_run", run_id=run["run_id"])
        with anyio.fail_after(3):
            while claude_processes(gemini_env):
                await anyio.sleep(0.05)
        assert (await ok(client, "get_run", run_id=run["run_id"]))["status"] == "cancelled"
        timed = await call(client, "send_message", agent="gm", message="MOCK_SLEEP=30", timeout_s=1)
        assert timed.is_error and timed.content[0].text.startswith("[timed_out]")
        with anyio.fail_after(3):
            while claude_processes(gemini_env):
                await anyio.sleep(0.05)


async def test_a_pool_of_three_kinds_answers_in_parallel(tmp_path, gemini_env, no_leaks):
    async with connect(gemini_env) as client:
        for name, cli in (("claude-a", "claude"), ("codex-a", "codex"), ("gemini-a", "gemini")):
            await ok(client, "create_agent", name=name, role="second opinion", cwd=str(tmp_path), cli=cli)
        started = time.monotonic()
        runs = await ok(client, "broadcast", agents=["claude-a", "codex-a", "gemini-a"], message="MOCK_SLEEP=1")
        waited = await ok(client, "wait_runs", run_ids=[r["run_id"] for r in runs["runs"]], wait_s=30)
        elapsed = time.monotonic() - started
        gemini_only = await ok(client, "list_agents", cli="gemini")
        claude_only = await ok(client, "list_agents", cli="claude")
        everyone = await ok(client, "list_agents")
        status = await ok(client, "pool_status")
    assert waited["done"] and [r["status"] for r in waited["runs"]] == ["done"] * 3
    assert elapsed < 3  # in parallel: three one-second turns
    assert [a["name"] for a in gemini_only["agents"]] == ["gemini-a"] and gemini_only["agents"][0]["cli"] == "gemini"
    assert [a["name"] for a in claude_only["agents"]] == ["claude-a"]
    entries = {a["name"]: a for a in everyone["agents"]}
    assert "cli" not in entries["claude-a"] and entries["codex-a"]["cli"] == "codex"  # the default left out
    by_agent = {r["agent"]: r["response"] for r in waited["runs"]}
    assert by_agent["claude-a"]["cost_usd"] > 0 and by_agent["codex-a"]["cost_usd"] is None
    assert status["spend"]["unknown_cost_runs"] == 2  # codex's and gemini's: unknown, not zero


async def test_a_gemini_agent_on_an_ssh_host(ssh_hosts, gemini_env, no_leaks):
    from test_remote_hosts import gone, with_hosts

    h1 = ssh_hosts.start("h1", {"GEMINI_API_KEY": "dummy"})
    (h1.home / "work").mkdir()
    (h1.home / ".gemini").mkdir()
    (h1.home / ".gemini" / "settings.json").write_text('{"security":{"auth":{"selectedType":"gemini-api-key"}}}')
    async with connect(with_hosts(gemini_env, ssh_hosts, "h1=2")) as client:
        await ok(client, "create_agent", name="gm", role="r", cwd=str(h1.home / "work"), host="h1", cli="gemini")
        first = await ok(client, "send_message", agent="gm", message="hello")
        second = await ok(client, "send_message", agent="gm", message="again")
        run = await ok(client, "start_message", agent="gm", message="MOCK_SLEEP=30")
        await anyio.sleep(1)
        await ok(client, "cancel_run", run_id=run["run_id"])
        await gone(h1)
    assert not first["is_error"] and second["session_id"] == first["session_id"]
    assert list((h1.home / ".gemini" / "tmp").glob("*/chats/session-*.jsonl"))  # its session is on the host


@pytest.fixture
def real_gemini(gemini_env):
    gemini = real_client("gemini", "the real gemini CLI")
    with MockGemini() as api:
        yield {**gemini_env, "AGENT_MCP_GEMINI_BIN": str(gemini), "TMPDIR": gemini_env["HOME"]}, api


async def test_the_real_gemini_cli_answers_resumes_and_fails_typed(tmp_path, real_gemini, no_leaks):
    env, api = real_gemini
    async with connect({**env, "GOOGLE_GEMINI_BASE_URL": api.base_url("ok")}) as client:
        await ok(client, "create_agent", name="gm", role="a reviewer", cwd=str(tmp_path), cli="gemini")
        first = await ok(client, "send_message", agent="gm", message="-p first look")
        second = await ok(client, "send_message", agent="gm", message="and again")
    assert first["text"] == "Hello from the gemini mock." and not first["is_error"]
    assert second["session_id"] == first["session_id"]
    texts = [api.user_text(turn) for turn in api.turns()]
    assert texts[0].startswith("-p first look\n\n") and texts[-1].startswith("and again")
    async with connect({**env, "GOOGLE_GEMINI_BASE_URL": api.base_url("quota")}) as client:
        quota = await ok(client, "send_message", agent="gm", message="one more")
    assert quota["is_error"] and quota["error_kind"] == "rate_limited"
    sessions = Path(env["HOME"]) / ".gemini" / "tmp"
    for chat in sessions.glob("*/chats/session-*.jsonl"):
        chat.unlink()  # gemini no longer has the session: the agent is reset
    async with connect({**env, "GOOGLE_GEMINI_BASE_URL": api.base_url("ok")}) as client:
        lost = await call(client, "send_message", agent="gm", message="after the loss")
        agent = await ok(client, "get_agent", name="gm")
    text = lost.content[0].text
    assert ("resume_failed" in text) and agent["session_id"] is None, json.dumps(lost.structured_content)
