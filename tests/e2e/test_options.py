"""Agent options as the CLI receives them, server policy, typed errors and `agent-mcp doctor`."""

from __future__ import annotations

import json
import subprocess
from functools import partial

import anyio
import pytest
from conftest import sessions_dir
from helpers import AGENT_MCP, MIB, call, connect, ok, refused

from agent_mcp.store.migrations import SCHEMA_VERSION

pytestmark = pytest.mark.anyio


def echoed_argv(reply: dict) -> list[str]:
    return json.loads(reply["text"].split("\nargv=", 1)[1])


async def test_every_option_reaches_the_cli_as_exactly_this_argv(tmp_path, claude_env, no_leaks):
    extra = tmp_path / "extra dir"
    extra.mkdir()
    config_file = tmp_path / "mcp.json"
    config_file.write_text('{"mcpServers": {"fs": {"command": "fs-server"}}}')
    # Warm agents off, so the second message starts a process too and shows its --resume.
    async with connect({**claude_env, "AGENT_MCP_WARM_TTL": "0"}) as client:
        info = await ok(
            client,
            "create_agent",
            name="full",
            role="-- reviews code",
            cwd=str(tmp_path),
            model="sonnet",
            permission_mode="acceptEdits",
            allowed_tools=["Read", "Bash(git *)"],
            disallowed_tools=["WebFetch"],
            max_turns=7,
            max_budget_usd=1.25,
            add_dirs=[str(extra)],
            mcp_config={"mcpServers": {"git": {"command": "git-mcp", "args": ["--x"]}}},
            effort="high",
        )
        first = await ok(client, "send_message", agent="full", message="-x MOCK_ECHO_ARGV")
        second = await ok(client, "send_message", agent="full", message="again MOCK_ECHO_ARGV")
        await ok(client, "create_agent", name="file", role="r", cwd=str(tmp_path), mcp_config=str(config_file))
        third = await ok(client, "send_message", agent="file", message="MOCK_ECHO_ARGV")
    assert info["effort"] == "high" and info["mcp_config"] == {
        "mcpServers": {"git": {"command": "git-mcp", "args": ["--x"]}}
    }
    system = (
        "--append-system-prompt=You are agent 'full' with role: -- reviews code. Work autonomously on the task given."
    )
    options = [
        "--model=sonnet",
        "--permission-mode=acceptEdits",
        "--allowedTools=Read,Bash(git *)",
        "--disallowedTools=WebFetch",
        "--max-turns=7",
        "--max-budget-usd=1.25",
        f"--add-dir={extra}",
        '--mcp-config={"mcpServers":{"git":{"command":"git-mcp","args":["--x"]}}}',
        "--effort=high",
    ]
    head = [claude_env["AGENT_MCP_CLAUDE_BIN"], "-p", "--input-format=stream-json", "--output-format=stream-json",
            "--verbose"]  # fmt: skip
    assert echoed_argv(first) == [*head, system, *options]
    assert echoed_argv(second) == [*head, f"--resume={first['session_id']}", system, *options]
    assert echoed_argv(third)[-1] == f"--mcp-config={config_file}"


async def test_bad_options_are_refused(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        cases = [
            ({"effort": "huge"}, "unknown effort 'huge'"),
            ({"mcp_config": {"servers": {}}}, '"mcpServers" object'),
            ({"mcp_config": "relative.json"}, "is relative"),
            ({"mcp_config": str(tmp_path / "missing.json")}, "does not exist"),
            ({"mcp_config": str(tmp_path)}, "is not a file"),
            ({"max_budget_usd": 0}, "max_budget_usd must be a positive"),
            ({"allowed_tools": ["Read,Edit"]}, "one tool name or pattern per entry"),
        ]
        for options, problem in cases:
            text = await refused(client, "create_agent", name="n", role="r", cwd=str(tmp_path), **options)
            assert problem in text, (options, text)
        assert (await ok(client, "list_agents"))["agents"] == []


async def test_policy_flags_limit_agents_sizes_and_concurrency(tmp_path, claude_env, no_leaks):
    args = ["--max-agents", "2", "--max-role-bytes", "10", "--max-message-bytes", "20", "--max-concurrent", "1"]
    async with connect(claude_env, *args) as client:
        await ok(client, "create_agent", name="a", role="r" * 10, cwd=str(tmp_path))
        assert "over the limit of 10 bytes" in await refused(
            client, "create_agent", name="b", role="r" * 11, cwd=str(tmp_path)
        )
        await ok(client, "create_agent", name="b", role="r", cwd=str(tmp_path))
        text = await refused(client, "create_agent", name="c", role="r", cwd=str(tmp_path))
        assert "already has 2 agents" in text and "AGENT_MCP_MAX_AGENTS" in text
        assert "over the limit of 20 bytes" in await refused(client, "send_message", agent="a", message="m" * 21)

        both_running = False

        async def watch() -> None:
            nonlocal both_running
            while True:
                agents = (await ok(client, "list_agents"))["agents"]
                both_running |= all(x["status"] == "running" for x in agents)
                await anyio.sleep(0.05)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            async with anyio.create_task_group() as senders:
                for name in ("a", "b"):
                    senders.start_soon(partial(ok, client, "send_message", agent=name, message="MOCK_SLEEP=0.5"))
            tg.cancel_scope.cancel()
        assert not both_running
        assert [x["message_count"] for x in (await ok(client, "list_agents"))["agents"]] == [1, 1]


async def call_kind(client, message: str) -> tuple[str | None, dict]:
    result = await call(client, "send_message", agent="dev", message=message)
    if result.is_error:
        return result.content[0].text, {}
    return None, result.structured_content


@pytest.mark.parametrize(
    ("message", "kind", "extra"),
    [
        ("loop MOCK_LOOP", "max_turns", {"subtype": "error_max_turns"}),
        ("x MOCK_500", "api_error", {"api_error_status": 500}),
        ("x MOCK_529", "api_error", {"api_error_status": 529}),
        ("x MOCK_404", "api_error", {"api_error_status": 404}),
        ("x MOCK_400", "api_error", {"api_error_status": 400}),
        ("x MOCK_429", "rate_limited", {"api_error_status": 429}),
        ("x MOCK_401", "not_logged_in", {"api_error_status": 401}),
    ],
)
async def test_cli_reported_errors_carry_a_kind(tmp_path, claude_env, no_leaks, message, kind, extra):
    claude_env["CLAUDE_CODE_MAX_RETRIES"] = "2"
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), max_turns=2)
        reply = await ok(client, "send_message", agent="dev", message=message)
        ok_reply = await ok(client, "send_message", agent="dev", message="fine")
    assert reply["is_error"] is True and reply["error_kind"] == kind
    assert {k: reply[k] for k in extra} == extra
    assert "error_kind" not in ok_reply and ok_reply["is_error"] is False  # null: left out (lean)


async def test_max_budget_kind(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), max_budget_usd=0.05)
        reply = await ok(client, "send_message", agent="dev", message="loop MOCK_LOOP")
    assert (reply["error_kind"], reply["subtype"]) == ("max_budget", "error_max_budget_usd")
    assert reply["error"].startswith("Reached maximum budget")


async def test_not_logged_in_kind(tmp_path, claude_env, no_leaks):
    del claude_env["ANTHROPIC_API_KEY"]
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="dev", message="hello")
    assert (reply["error_kind"], reply["error"]) == ("not_logged_in", "Not logged in · Please run /login")


async def test_rate_limited_kind_carries_the_reset_time(tmp_path, claude_env, no_leaks):
    """With --on-rate-limit fail the CLI's rejection is the reply (with wait it is held: test_accounts.py)."""
    del claude_env["ANTHROPIC_API_KEY"]
    claude_env["CLAUDE_CODE_OAUTH_TOKEN"] = "sk-ant-oat01-dummy"
    claude_env["AGENT_MCP_ON_RATE_LIMIT"] = "fail"
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="dev", message="x MOCK_429")
    assert reply["error_kind"] == "rate_limited" and reply["rate_limit_status"] == "rejected"
    assert reply["rate_limit_resets_at"] > 1_700_000_000 and reply["rate_limit_type"] == "five_hour"


async def test_resume_failed_resets_the_agent_and_says_so(tmp_path, claude_env, no_leaks):
    # Warm agents off: a warm process has the session in memory and never reads the file again.
    async with connect({**claude_env, "AGENT_MCP_WARM_TTL": "0"}) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        first = await ok(client, "send_message", agent="dev", message="hello")
        (sessions_dir(claude_env, tmp_path) / f"{first['session_id']}.jsonl").unlink()
        failed = await ok(client, "send_message", agent="dev", message="again")
        [agent] = (await ok(client, "list_agents"))["agents"]
        fresh = await ok(client, "send_message", agent="dev", message="once more")
    assert failed["error_kind"] == "resume_failed" and failed["session_id"] is None
    assert failed["error"].startswith(f"No conversation found with session ID: {first['session_id']}")
    assert "was reset" in failed["error"]
    assert agent["session_id"] is None
    assert fresh["is_error"] is False and fresh["session_id"] != first["session_id"]


async def test_run_failures_carry_a_kind_in_the_tool_error_and_the_run(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        crashed = await refused(client, "send_message", agent="dev", message="MOCK_CRASH")
        timed_out = await refused(client, "send_message", agent="dev", message="MOCK_SLEEP=30", timeout_s=0.5)
        run = await ok(client, "start_message", agent="dev", message="MOCK_SLEEP=30")
        cancelled = await ok(client, "cancel_run", run_id=run["run_id"])
        kinds = [r["error_kind"] for r in (await ok(client, "get_history", agent="dev"))["runs"]]
    assert crashed.startswith("[crashed] ") and timed_out.startswith("[timed_out] ")
    assert (cancelled["status"], cancelled["error_kind"]) == ("cancelled", "cancelled")
    assert cancelled["error"].startswith("[cancelled]")
    assert kinds == ["cancelled", "timed_out", "crashed"]


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENT_MCP, "doctor", *args], capture_output=True, text=True, env=env, timeout=60)


def test_doctor_reports_cli_login_store_and_policy(tmp_path, claude_env):
    done = doctor(claude_env, "--max-concurrent", "3")
    assert done.returncode == 0, done.stdout
    out = done.stdout
    assert f"ok       claude CLI       {claude_env['AGENT_MCP_CLAUDE_BIN']} (2.1.197 (Claude Code))" in out
    assert "yes (ANTHROPIC_API_KEY is set)" in out
    assert f"{tmp_path / 'state'}/agent-mcp.sqlite3 (schema version {SCHEMA_VERSION}, 0 agents)" in out
    assert "max concurrent   3" in out
    assert out.endswith("no problems found\n")


def test_doctor_exits_non_zero_with_the_fix_in_one_line(tmp_path, claude_env):
    del claude_env["ANTHROPIC_API_KEY"]
    claude_env["AGENT_MCP_CLAUDE_BIN"] = str(tmp_path / "no-claude")
    done = doctor(claude_env, "--allowed-roots", str(tmp_path / "gone"))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PROBLEM  claude CLI") and "not found" in lines[0]
    assert lines[1].strip().startswith("fix: install it with `npm install -g @anthropic-ai/claude-code`")
    assert any(line.startswith("unknown  logged in") for line in lines)
    assert any("fix: create" in line and "gone" in line for line in lines)
    assert lines[-1] == "2 problem(s) found"


async def test_limits_from_the_environment(tmp_path, claude_env, no_leaks):
    claude_env["AGENT_MCP_MAX_MESSAGE_BYTES"] = "5"
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        assert "limit of 5 bytes" in await refused(client, "send_message", agent="dev", message="x" * 6)
        assert "limit of 5 bytes" in await refused(client, "send_message", agent="dev", message="x" * 4 * MIB)
