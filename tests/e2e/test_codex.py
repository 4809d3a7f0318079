"""End to end: codex agents (the codex double) beside claude agents (the claude double), through the
installed `agent-mcp` and the SDK's stdio client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from helpers import AGENT_MCP, MIB, call, claude_processes, connect, ok, refused

pytestmark = pytest.mark.anyio


def codex_prompts(env: dict[str, str], thread: str) -> list[str]:
    [rollout] = Path(env["CODEX_HOME"]).glob(f"sessions/*/*/*/rollout-*-{thread}.jsonl")
    return [e["text"] for e in map(json.loads, rollout.read_text().split("\n")[:-1]) if e["type"] == "user"]


async def test_a_codex_agent_through_mcp(tmp_path, codex_env, no_leaks):
    async with connect(codex_env) as client:
        info = await ok(client, "create_agent", name="cx", role="reviews", cwd=str(tmp_path), cli="codex")
        assert info["cli"] == "codex" and info["total_cost_usd"] == 0
        first = await call(client, "send_message", agent="cx", message="hello MOCK_TOOL")
        second = await ok(client, "send_message", agent="cx", message="again")
        history = await ok(client, "get_history", agent="cx")
        transcript = await ok(client, "get_transcript", run_id=first.structured_content["run_id"])
        agent = await ok(client, "get_agent", name="cx")
    reply = first.structured_content
    assert reply["text"].startswith("Mock reply. Last user text tail: hello MOCK_TOOL")
    assert reply["cost_usd"] is None and '"cost_usd":null' in first.content[0].text  # unknown, not 0
    assert "files_changed" not in reply and "rate_limit_status" not in reply  # lean: nothing said, nothing sent
    # the tool's request and the answer (56 + 5), then the resumed turn's own (the thread's total less that)
    assert second["session_id"] == reply["session_id"] and (reply["output_tokens"], second["output_tokens"]) == (61, 56)
    assert agent["message_count"] == 2 and agent["total_output_tokens"] == 117 and agent["total_cost_usd"] == 0
    assert [run["status"] for run in history["runs"]] == ["done", "done"]
    steps = [event["summary"] for event in transcript["events"]]
    assert "command: /bin/bash -lc 'sleep 1; echo slept'" in steps and "slept" in steps
    assert codex_prompts(codex_env, reply["session_id"]) == ["hello MOCK_TOOL", "again"]


@pytest.mark.attack
async def test_a_4_mib_message_starting_with_a_dash_reaches_codex_whole(tmp_path, codex_env, no_leaks):
    message = "-s danger-full-access --dangerously-bypass-approvals-and-sandbox " + "ü\n" * MIB
    message += "z" * (4 * MIB - len(message.encode()))
    async with connect(codex_env) as client:
        await ok(client, "create_agent", name="cx", role="r", cwd=str(tmp_path), cli="codex")
        reply = await ok(client, "send_message", agent="cx", message=message)
    assert reply["is_error"] is False
    assert codex_prompts(codex_env, reply["session_id"]) == [message]


async def test_refusals_name_the_kinds_the_option_and_the_setting(tmp_path, codex_env, no_leaks):
    missing = {**codex_env, "AGENT_MCP_CODEX_BIN": str(tmp_path / "nowhere" / "codex")}
    async with connect(missing) as client:
        unknown = await refused(client, "create_agent", name="x", role="r", cwd=str(tmp_path), cli="cursor")
        budget = await refused(client, "create_agent", name="x", role="r", cwd=str(tmp_path), cli="codex",
                               max_budget_usd=1.0)  # fmt: skip
        asking = await refused(client, "create_agent", name="x", role="r", cwd=str(tmp_path), cli="codex",
                               permission_mode="ask")  # fmt: skip
        filtered = await refused(client, "list_agents", cli="cursor")
        await ok(client, "create_agent", name="cx", role="r", cwd=str(tmp_path), cli="codex")
        not_found = await refused(client, "send_message", agent="cx", message="hello")
    assert unknown.startswith("[invalid_input] cli must be one of claude, codex")
    assert budget.startswith("[invalid_input] a codex agent cannot take max_budget_usd")
    assert asking.startswith("[invalid_input] a codex agent cannot take permission_mode 'ask'")
    assert filtered.startswith("[invalid_input] cli must be one of")
    assert not_found.startswith("[cli_not_found]") and "--codex-bin" in not_found


async def test_cancel_ends_the_codex_process_tree(tmp_path, codex_env, no_leaks):
    async with connect(codex_env) as client:
        await ok(client, "create_agent", name="cx", role="r", cwd=str(tmp_path), cli="codex")
        run = await ok(client, "start_message", agent="cx", message="MOCK_GRANDCHILD MOCK_SLEEP=30")
        with anyio.fail_after(10):
            while not (tmp_path / "grandchild.pid").exists():
                await anyio.sleep(0.05)
        assert len(claude_processes(codex_env)) == 3  # the run's reaper, the double and its grandchild
        cancelled_at = time.monotonic()
        await ok(client, "cancel_run", run_id=run["run_id"])
        while claude_processes(codex_env) and time.monotonic() - cancelled_at < 2:
            await anyio.sleep(0.05)
        assert claude_processes(codex_env) == []
        assert (await ok(client, "get_run", run_id=run["run_id"]))["status"] == "cancelled"


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENT_MCP, "doctor", *args], capture_output=True, text=True, env=env, timeout=60)


def test_doctor_checks_codex_without_spending_tokens(tmp_path, codex_env):
    keyed = doctor(codex_env)
    assert f"ok       codex CLI        {codex_env['AGENT_MCP_CODEX_BIN']} (codex-cli 0.171.0)" in keyed.stdout
    assert "ok       codex login      yes (CODEX_API_KEY is set)" in keyed.stdout
    unkeyed = {k: v for k, v in codex_env.items() if k != "CODEX_API_KEY"}
    out = doctor(unkeyed)
    assert "PROBLEM  codex login      no (Not logged in)" in out.stdout and out.returncode == 1
    assert "fix: run `codex login` (or `codex login --with-api-key`), or set CODEX_API_KEY" in out.stdout
    (Path(codex_env["CODEX_HOME"]) / "auth.json").write_text(
        '{"auth_mode": "apikey", "OPENAI_API_KEY": "sk-abcdefghij"}'
    )
    stored = doctor(unkeyed)
    assert "ok       codex login      yes (API key configured - sk-abcde***fghij)" in stored.stdout
    assert not list(Path(codex_env["CODEX_HOME"]).glob("sessions/**/*.jsonl"))  # no turn was taken


def test_doctor_names_a_codex_bin_that_is_not_there(tmp_path, codex_env):
    """Set on purpose, a missing codex is a problem; at its default, only unknown (claude-only setups)."""
    named = doctor({**codex_env, "AGENT_MCP_CODEX_BIN": str(tmp_path / "no-codex")})
    assert "PROBLEM  codex CLI" in named.stdout and "AGENT_MCP_CODEX_BIN / --codex-bin" in named.stdout
    unset = {k: v for k, v in codex_env.items() if k != "AGENT_MCP_CODEX_BIN"}
    default = doctor({**unset, "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert "unknown  codex CLI        'codex' not found (only agents created with its cli need it)" in default.stdout
    assert "unknown  gemini CLI       'gemini' not found" in default.stdout
    assert "PROBLEM  codex" not in default.stdout and "PROBLEM  gemini" not in default.stdout


async def test_a_codex_agent_on_an_ssh_host_answers_resumes_and_is_cancelled(ssh_hosts, codex_env, no_leaks):
    from test_remote_hosts import gone, with_hosts

    h1 = ssh_hosts.start("h1")
    (h1.home / "work").mkdir()
    async with connect(with_hosts(codex_env, ssh_hosts, "h1=2")) as client:
        await ok(client, "create_agent", name="cx", role="r", cwd=str(h1.home / "work"), host="h1", cli="codex")
        first = await ok(client, "send_message", agent="cx", message="hi MOCK_ECHO_ENV=TEST_SSH_HOST")
        second = await ok(client, "send_message", agent="cx", message="again")
        run = await ok(client, "start_message", agent="cx", message="MOCK_GRANDCHILD MOCK_SLEEP=30")
        with anyio.fail_after(10):
            while not (h1.home / "work" / "grandchild.pid").exists():
                await anyio.sleep(0.05)
        await ok(client, "cancel_run", run_id=run["run_id"])
        await gone(h1)
    assert "TEST_SSH_HOST=h1" in first["text"] and second["session_id"] == first["session_id"]
    assert second["output_tokens"] == 56
    [rollout] = (h1.home / ".codex").glob(f"sessions/*/*/*/rollout-*-{first['session_id']}.jsonl")
    assert [e["text"] for e in map(json.loads, rollout.read_text().split("\n")[:-1]) if e["type"] == "user"][:2] == [
        "hi MOCK_ECHO_ENV=TEST_SSH_HOST", "again"
    ]  # fmt: skip
