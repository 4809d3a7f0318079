"""Codex agents in the pool, through the codex double (tests/fake_codex.py): every guarantee the pool
gives a claude agent, for a CLI that answers one message per process."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from conftest import CODEX_DOUBLE, alive, listed

from agent_mcp.core.errors import InvalidInput, RunFailed
from agent_mcp.core.models import AgentOptions

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024


def prompts(env: dict[str, str], thread: str) -> list[str]:
    """What the double read as each turn's prompt, from its rollout file (codex keeps one per thread)."""
    [rollout] = Path(env["CODEX_HOME"]).glob(f"sessions/*/*/*/rollout-*-{thread}.jsonl")
    return [e["text"] for e in map(json.loads, rollout.read_text().split("\n")[:-1]) if e["type"] == "user"]


@pytest.fixture
async def pool(make_pool, codex_env):  # type: ignore[no-untyped-def]
    return await make_pool(codex_env, codex_bin=str(CODEX_DOUBLE))


async def test_a_codex_agent_answers_resumes_its_thread_and_reports_its_own_tokens(pool, tmp_path, codex_env, no_leaks):
    info = await pool.create("cx", "reviews code", str(tmp_path), AgentOptions(), cli="codex")
    assert info.cli == "codex" and info.session_id is None
    first = await pool.send("cx", "hello MOCK_ECHO_ROLE")
    assert first.text.startswith("Mock reply. Last user text tail: hello")
    assert "role=You are agent 'cx' with role: reviews code." in first.text
    assert first.cost_usd is None and first.input_tokens == 234 and first.output_tokens == 56
    second = await pool.send("cx", "again")
    third = await pool.send("cx", "and again")
    assert first.session_id == second.session_id == third.session_id is not None
    # codex reports the thread's running total (112, 168 output tokens): each reply its own turn's
    assert [r.output_tokens for r in (first, second, third)] == [56, 56, 56]
    assert [r.cache_read_input_tokens for r in (first, second, third)] == [1000, 1000, 1000]
    [agent] = await listed(pool)
    assert agent.total_output_tokens == 168 and agent.total_cost_usd == 0.0 and agent.cli == "codex"
    assert prompts(codex_env, first.session_id) == ["hello MOCK_ECHO_ROLE", "again", "and again"]
    assert pool.live_processes == 0  # one process per message, none kept


async def test_messages_to_a_codex_agent_run_in_order_on_one_thread(pool, tmp_path, codex_env, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    runs = [await pool.start("cx", f"message {i} MOCK_SLEEP=0.2") for i in range(4)]
    for run in runs:
        await run.finished.wait()
    threads = {run.response.session_id for run in runs}
    assert len(threads) == 1 and None not in threads
    assert prompts(codex_env, threads.pop()) == [f"message {i} MOCK_SLEEP=0.2" for i in range(4)]


@pytest.mark.attack
async def test_a_4_mib_message_that_starts_with_a_dash_arrives_byte_for_byte(pool, tmp_path, codex_env, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    big = "--help -s yolo MOCK_ECHO_PROMPT " + "é\u2603\n\r\t\x1b[31m\u2028" * 250_000
    big += "x" * (4 * MIB - len(big.encode()))
    assert len(big.encode()) == 4 * MIB
    response = await pool.send("cx", big)
    assert not response.is_error
    assert prompts(codex_env, response.session_id) == [big]


async def test_cancel_ends_the_codex_process_and_all_it_started(pool, tmp_path, codex_env, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    run = await pool.start("cx", "work MOCK_GRANDCHILD MOCK_SLEEP=30")
    pid_file = tmp_path / "grandchild.pid"
    with anyio.fail_after(10):
        while not pid_file.exists() or not pid_file.read_text():
            await anyio.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert alive(grandchild)
    await pool.cancel(run.run_id)
    await run.finished.wait()
    assert run.status == "cancelled" and pool.live_processes == 0
    with anyio.fail_after(5):
        while alive(grandchild):
            await anyio.sleep(0.05)
    assert (await listed(pool))[0].status == "idle"


async def test_a_codex_turn_that_runs_too_long_is_timed_out_and_the_agent_goes_on(pool, tmp_path, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    first = await pool.send("cx", "hello")
    with pytest.raises(RunFailed) as caught:
        await pool.send("cx", "slow MOCK_SLEEP=30", timeout_s=0.5)
    assert caught.value.kind == "timed_out" and "the codex process was killed" in str(caught.value)
    assert pool.live_processes == 0
    assert (await pool.send("cx", "quick")).session_id == first.session_id


@pytest.mark.parametrize(
    ("word", "kind"),
    [("MOCK_401", "not_logged_in"), ("MOCK_USAGE", "rate_limited"), ("MOCK_500", "api_error"),
     ("MOCK_FAILED", "api_error")],
)  # fmt: skip
async def test_codex_failures_are_typed_errors(pool, tmp_path, word, kind, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    response = await pool.send("cx", f"try {word}")
    assert response.is_error and response.error_kind == kind and response.cost_usd is None


async def test_no_credentials_is_not_logged_in(make_pool, codex_env, tmp_path, no_leaks):
    env = {k: v for k, v in codex_env.items() if k != "CODEX_API_KEY"}
    pool = await make_pool(env, codex_bin=str(CODEX_DOUBLE))
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    response = await pool.send("cx", "hello")
    assert response.error_kind == "not_logged_in" and "401 Unauthorized" in (response.error or "")


async def test_a_crash_without_turn_completed_is_crashed_with_the_terminal(pool, tmp_path, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    with pytest.raises(RunFailed) as caught:
        await pool.send("cx", "go MOCK_CRASH")
    assert caught.value.kind == "crashed" and "exited with code 3" in str(caught.value)
    assert "the double was asked to crash" in str(caught.value)


async def test_a_thread_codex_no_longer_has_resets_the_agent(pool, tmp_path, codex_env, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    first = await pool.send("cx", "hello")
    for rollout in Path(codex_env["CODEX_HOME"]).glob("sessions/*/*/*/*.jsonl"):
        rollout.unlink()
    with pytest.raises(RunFailed) as caught:
        await pool.send("cx", "again")
    assert caught.value.kind == "resume_failed" and "was reset" in str(caught.value)
    assert (await listed(pool))[0].session_id is None
    again = await pool.send("cx", "once more")
    assert not again.is_error and again.session_id != first.session_id


async def test_transcript_names_the_tool_steps(pool, tmp_path, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(permission_mode="acceptEdits"), cli="codex")
    response = await pool.send("cx", "go MOCK_TOOL MOCK_PATCH")
    assert response.files_changed == [str(tmp_path / "mock_patched.txt")]
    [(run, _)] = pool.store.runs.history("cx", 10)
    summaries = [e.summary for e in pool.transcript(run.run_id, 0, 100).events]
    assert "command: /bin/bash -lc 'sleep 1; echo slept'" in summaries and "slept" in summaries
    assert f"file_change: add {tmp_path / 'mock_patched.txt'}" in summaries
    assert summaries[-1].startswith("Mock reply.")


async def test_a_missing_codex_is_cli_not_found_naming_its_setting(make_pool, codex_env, tmp_path):
    pool = await make_pool(codex_env, codex_bin=str(tmp_path / "no-such-codex"))
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    with pytest.raises(RunFailed) as caught:
        await pool.send("cx", "hello")
    assert caught.value.kind == "cli_not_found" and "--codex-bin" in str(caught.value)
    assert "no-such-codex" in str(caught.value) and "@openai/codex" in str(caught.value)


async def test_create_refuses_an_unknown_cli_and_options_codex_cannot_honour(pool, tmp_path):
    with pytest.raises(InvalidInput, match=r"cli must be one of claude, codex"):
        await pool.create("x", "r", str(tmp_path), AgentOptions(), cli="cursor")
    for options, named in [
        (AgentOptions(max_budget_usd=1.0), "max_budget_usd"),
        (AgentOptions(permission_mode="ask"), "permission_mode 'ask'"),
        (AgentOptions(allowed_tools=["Bash"]), "allowed_tools"),
        (AgentOptions(max_turns=2), "max_turns"),
    ]:
        with pytest.raises(InvalidInput, match=f"a codex agent cannot take {named}"):
            await pool.create("x", "r", str(tmp_path), options, cli="codex")
    assert await listed(pool) == []


async def test_reset_and_delete_a_codex_agent(pool, tmp_path, no_leaks):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    first = await pool.send("cx", "hello")
    await pool.reset("cx")
    assert (await pool.info("cx")).session_id is None
    second = await pool.send("cx", "hello again")
    assert second.session_id != first.session_id and second.output_tokens == 56
    await pool.delete("cx", force=False)
    assert await listed(pool) == []


async def test_the_codex_agent_gets_the_servers_environment_less_its_own(pool, tmp_path, no_leaks, codex_env):
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    response = await pool.send("cx", "MOCK_ECHO_ENV=CODEX_HOME MOCK_ECHO_ENV=AGENT_MCP_CODEX_BIN MOCK_ECHO_ARGV")
    assert f"CODEX_HOME={codex_env['CODEX_HOME']}" in response.text
    assert "AGENT_MCP_CODEX_BIN=<unset>" in response.text  # agent-mcp's own settings stay with the server
    argv = json.loads(response.text.split("argv=")[1].split("\n")[0])
    assert argv[1:4] == ["exec", "--json", "--skip-git-repo-check"] and argv[-1] == "-"


async def test_a_codex_agent_in_its_own_worktree_edits_there(pool, tmp_path, no_leaks):
    from test_attacks import git, repository

    repo = repository(tmp_path / "repo")
    info = await pool.create("cx", "r", str(repo), AgentOptions(permission_mode="acceptEdits"), worktree=True,
                             cli="codex")  # fmt: skip
    assert info.worktree and info.cli == "codex" and info.cwd != str(repo)
    response = await pool.send("cx", "edit MOCK_PATCH")
    assert response.files_changed == [str(Path(info.cwd) / "mock_patched.txt")]
    assert not (repo / "mock_patched.txt").exists()
    assert git(Path(info.cwd), "status", "--porcelain") == "?? mock_patched.txt"


@pytest.mark.attack
async def test_a_codex_turn_that_names_another_agents_thread_is_not_believed(pool, tmp_path, no_leaks):
    """A CLI that says it continued another agent's thread (a forged or confused thread.started) must
    not hand that conversation over: two agents never share one."""
    for name in ("alice", "mallory"):
        await pool.create(name, "r", str(tmp_path), AgentOptions(), cli="codex")
    alice = (await pool.send("alice", "hello")).session_id
    with pytest.raises(RunFailed) as caught:
        await pool.send("mallory", f"take it MOCK_FORGE={alice}")
    assert caught.value.kind == "protocol_error" and "alice" in str(caught.value)
    assert (await pool.info("mallory")).session_id is None and (await pool.info("alice")).session_id == alice
    assert (await pool.send("alice", "still mine")).session_id == alice
