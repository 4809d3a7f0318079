"""The pool driving the claude double for real (processes under a PTY), without MCP in between."""

from __future__ import annotations

import inspect

import anyio
import pytest
from conftest import listed, sessions_dir, transcript

from agent_mcp.agents.claude._frames import user_frame
from agent_mcp.core.errors import InvalidInput, RunFailed, UnknownAgent
from agent_mcp.core.models import AgentOptions
from agent_mcp.pool.pool import AgentPool

pytestmark = pytest.mark.anyio


async def in_flight(pool: AgentPool) -> int:
    [agent] = await listed(pool)
    return agent.queued + (agent.status == "running")


async def _states(pool: AgentPool) -> list[tuple[str, int]]:
    return sorted((a.status, a.queued) for a in await listed(pool))


async def _equals(value, expected) -> bool:
    return await value == expected


async def _first_agent_is(pool: AgentPool, **fields) -> bool:
    agent = (await listed(pool))[0]
    return all(getattr(agent, key) == value for key, value in fields.items())


async def wait_until(condition, timeout: float = 10.0) -> None:
    """condition: a function that returns a truth value, or an awaitable of one."""

    async def holds() -> bool:
        value = condition()
        return bool(await value if inspect.isawaitable(value) else value)

    with anyio.fail_after(timeout):
        while not await holds():
            await anyio.sleep(0.02)


async def test_first_message_starts_a_session_and_the_next_resumes_it(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    info = await pool.create("dev", "writes code", str(tmp_path), AgentOptions())
    assert info.session_id is None and info.status == "idle" and info.message_count == 0

    first = await pool.send("dev", "hello MOCK_TEXT")
    assert first.is_error is False
    assert first.text == "Mock reply #1. Last user text tail: hello MOCK_TEXT"
    assert first.session_id is not None
    second = await pool.send("DEV", "and again")  # names ignore case
    assert second.session_id == first.session_id
    assert second.text.startswith("Mock reply #2.")

    [agent] = await listed(pool)
    assert agent.session_id == first.session_id
    assert agent.message_count == 2
    assert agent.total_cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    assert agent.total_input_tokens == first.input_tokens + second.input_tokens
    assert agent.total_output_tokens == 84
    assert agent.total_cache_read_input_tokens == 30000
    messages = [
        e["message"]["content"] for e in transcript(claude_env, tmp_path, first.session_id) if e["type"] == "user"
    ]
    assert messages == ["hello MOCK_TEXT", "and again"]
    assert pool.running_processes == 0


async def test_messages_to_one_agent_run_in_order_and_never_fork(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    replies: dict[int, object] = {}

    async def send(i: int) -> None:
        replies[i] = await pool.send("dev", f"message {i} MOCK_SLEEP=0.2")

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(send, i)
            await wait_until(lambda i=i: _equals(in_flight(pool), i + 1))
        await wait_until(lambda: _first_agent_is(pool, queued=3, status="running"))

    sessions = {r.session_id for r in replies.values()}
    assert len(sessions) == 1
    assert [replies[i].text.split(".")[0] for i in range(4)] == [f"Mock reply #{i + 1}" for i in range(4)]
    users = [e["message"]["content"] for e in transcript(claude_env, tmp_path, sessions.pop()) if e["type"] == "user"]
    assert users == [f"message {i} MOCK_SLEEP=0.2" for i in range(4)]
    assert (await listed(pool))[0].message_count == 4 and (await listed(pool))[0].queued == 0


async def test_different_agents_run_at_the_same_time(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    for name in ("a", "b", "c"):
        await pool.create(name, "r", str(tmp_path), AgentOptions())
    seen_all_running = False

    async with anyio.create_task_group() as tg:
        for name in ("a", "b", "c"):
            tg.start_soon(pool.send, name, "work MOCK_SLEEP=1")
        with anyio.fail_after(10):
            while not seen_all_running:
                seen_all_running = all(a.status == "running" for a in (await listed(pool)))
                await anyio.sleep(0.02)
    assert seen_all_running
    assert all(a.status == "idle" and a.message_count == 1 for a in (await listed(pool)))


async def test_concurrency_cap_makes_other_agents_wait(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, max_concurrent=1)
    await pool.create("a", "r", str(tmp_path), AgentOptions())
    await pool.create("b", "r", str(tmp_path), AgentOptions())
    most_running = 0

    async def watch() -> None:
        nonlocal most_running
        while True:
            most_running = max(most_running, pool.running_processes)
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        async with anyio.create_task_group() as senders:
            senders.start_soon(pool.send, "a", "x MOCK_SLEEP=0.5")
            senders.start_soon(pool.send, "b", "x MOCK_SLEEP=0.5")
            # The store says running a moment after the process exists: wait for what a caller sees.
            await wait_until(lambda: _equals(_states(pool), [("idle", 1), ("running", 0)]))
            assert pool.running_processes == 1
        tg.cancel_scope.cancel()
    assert most_running == 1
    assert [a.message_count for a in (await listed(pool))] == [1, 1]


async def test_cli_reported_failure_is_a_response_with_is_error(make_pool, tmp_path, claude_env, no_leaks):
    del claude_env["ANTHROPIC_API_KEY"]
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    r = await pool.send("dev", "hello")
    assert r.is_error is True
    assert r.error == "Not logged in · Please run /login"
    assert r.api_key_source == "none"
    assert (await listed(pool))[0].message_count == 1
    assert (await listed(pool))[0].session_id == r.session_id


async def test_max_turns_reaches_the_cli_and_comes_back_as_an_error(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions(max_turns=2))
    r = await pool.send("dev", "loop MOCK_LOOP")
    assert (r.is_error, r.subtype, r.num_turns) == (True, "error_max_turns", 3)
    assert r.error == "Reached maximum number of turns (2)"


async def test_crash_without_result_is_a_run_failure_with_the_output_tail(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with pytest.raises(RunFailed) as caught:
        await pool.send("dev", "go MOCK_CRASH")
    assert caught.value.kind == "crashed"
    text = str(caught.value)
    assert text.startswith("[crashed] the claude CLI exited with code 3 without a result")
    assert "Bun has crashed" in text
    agent = (await listed(pool))[0]
    assert agent.status == "idle" and agent.message_count == 0
    assert agent.session_id is not None  # the CLI wrote the turn into the session it named
    follow_up = await pool.send("dev", "still there?")
    assert follow_up.session_id == agent.session_id and not follow_up.is_error


async def test_missing_cli_is_found_when_a_message_is_sent(make_pool, tmp_path, claude_env):
    pool = await make_pool(claude_env, claude_bin=str(tmp_path / "no-such-claude"))
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with pytest.raises(RunFailed) as caught:
        await pool.send("dev", "hello")
    assert caught.value.kind == "cli_not_found"
    assert "no-such-claude" in str(caught.value)
    assert (await listed(pool))[0].status == "idle"


async def test_unknown_session_on_resume_is_reported_by_the_cli(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, warm_ttl_s=0)  # a new process resumes from the session file
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    first = await pool.send("dev", "hello")
    (sessions_dir(claude_env, tmp_path) / f"{first.session_id}.jsonl").unlink()
    r = await pool.send("dev", "again")
    assert r.is_error and r.subtype == "error_during_execution"
    assert r.error.startswith(f"No conversation found with session ID: {first.session_id}. ")
    assert r.error_kind == "resume_failed" and (await listed(pool))[0].session_id is None


async def test_message_reaches_the_cli_byte_for_byte(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create(
        "dev", "r", str(tmp_path), AgentOptions(add_dirs=[str(tmp_path)], allowed_tools=["Read", "Bash(git *)"])
    )
    # > 2 MiB, multi-byte, control characters, dashes, and what some readers take for a line's end
    big = "--help " + "é\u2603\n\r\t\x1b[31m\u2028\u2029\x85" * 150_000 + " -x"
    assert len(big.encode()) > 2 * 1024 * 1024
    r = await pool.send("dev", big)
    assert r.is_error is False
    [user] = [e for e in transcript(claude_env, tmp_path, r.session_id) if e["type"] == "user"]
    assert user["message"]["content"] == big
    assert b"\xe2\x80\xa8" not in user_frame(big) and user_frame(big).count(b"\n") == 1  # one line, escaped


async def test_timeout_kills_the_process_and_keeps_the_agent_usable(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with pytest.raises(RunFailed) as caught:
        await pool.send("dev", "slow MOCK_SLEEP=30", timeout_s=0.5)
    assert caught.value.kind == "timed_out"
    assert "timeout of 0.5 s" in str(caught.value)
    assert pool.live_processes == 0
    agent = (await listed(pool))[0]
    assert agent.status == "idle" and agent.session_id is not None
    assert (await pool.send("dev", "quick")).session_id == agent.session_id


async def test_idle_timeout(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, idle_timeout_s=0.5)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with pytest.raises(RunFailed, match=r"idle timeout of 0\.5 s"):
        await pool.send("dev", "slow MOCK_SLEEP=30")


async def test_a_grandchild_holding_the_terminal_does_not_hang_the_run(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with anyio.fail_after(5):
        r = await pool.send("dev", "go MOCK_GRANDCHILD")
    assert r.is_error is False


async def test_a_process_lingering_after_its_result_is_killed(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, warm_ttl_s=0)  # so the process is ended after its turn
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with anyio.fail_after(10):
        r = await pool.send("dev", "go MOCK_LINGER")
    assert r.is_error is False and r.text.startswith("Mock reply #1")
    assert pool.live_processes == 0


async def test_cancelling_a_send_kills_the_process(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with anyio.move_on_after(0.5):
        await pool.send("dev", "slow MOCK_SLEEP=30 MOCK_DEAF")  # the interrupt goes unanswered
    assert pool.live_processes == 0
    assert (await listed(pool))[0].status == "idle"


async def test_noise_and_stderr_do_not_disturb_the_reply(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    r = await pool.send("dev", "hi MOCK_NOISE MOCK_STDERR MOCK_TOOL")
    assert r.is_error is False and r.num_turns == 2
    assert r.text == "Mock reply #1. Last user text tail: MOCK_NOISE MOCK_STDERR MOCK_TOOL || TOOL_RESULT:hi-from-tool"


async def test_progress_events_are_passed_on(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    seen: list[str] = []

    async def on_event(step: str) -> None:
        seen.append(step)

    await pool.send("dev", "x MOCK_TOOL", on_event=on_event)
    assert seen[0].startswith("session started (") and seen[-1] == "finished"
    assert len(seen) == 5 and any(step.startswith("Bash: ") for step in seen), seen


# --- refusals ------------------------------------------------------------------------------------


async def test_refusals_name_the_problem_and_change_nothing(make_pool, tmp_path, claude_env):
    outside = tmp_path / "outside"
    root = tmp_path / "root"
    (root / "ok").mkdir(parents=True)
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "file.txt").write_text("x")
    pool = await make_pool(claude_env, allowed_roots=(root.resolve(),), max_role_bytes=10)
    await pool.create("dev", "r", str(root), AgentOptions())

    cases = [
        (("dev", "r", str(root / "ok")), {}, "already exists"),
        (("DEV", "r", str(root / "ok")), {}, "already exists"),
        (("-bad", "r", str(root)), {}, "invalid agent name"),
        (("", "r", str(root)), {}, "invalid agent name"),
        (("a" * 65, "r", str(root)), {}, "invalid agent name"),
        (("x/y", "r", str(root)), {}, "invalid agent name"),
        (("new", " \n", str(root)), {}, "role is empty"),
        (("new", "r" * 11, str(root)), {}, "over the limit of 10 bytes"),
        (("new", "é" * 6, str(root)), {}, "12 bytes"),
        (("new", "a\x00b", str(root)), {}, "NUL"),
        (("new", "r", "relative/dir"), {}, "is relative"),
        (("new", "r", str(root / "missing")), {}, "does not exist"),
        (("new", "r", str(root / "file.txt")), {}, "is not a directory"),
        (("new", "r", str(outside)), {}, "outside the allowed roots"),
        (("new", "r", str(root / "escape")), {}, "outside the allowed roots"),
        (("new", "r", str(root)), {"permission_mode": "yolo"}, "unknown permission_mode 'yolo'"),
        (("new", "r", str(root)), {"add_dirs": [str(outside)]}, "add_dirs entry"),
        (("new", "r", str(root)), {"max_turns": 0}, "max_turns must be at least 1"),
        (("new", "r", str(root)), {"max_budget_usd": -1.0}, "max_budget_usd must be a positive"),
        (("new", "r", str(root)), {"allowed_tools": [""]}, "invalid entry"),
        (("new", "r", str(root)), {"model": "--evil"}, "invalid model"),
    ]
    for args, options, message in cases:
        with pytest.raises(InvalidInput, match=message):
            await pool.create(*args, AgentOptions(**options))
    assert [a.name for a in (await listed(pool))] == ["dev"]
    assert (await pool.create("ok", "é" * 5, str(root / "ok"), AgentOptions())).role == "é" * 5  # exactly 10 bytes


async def test_send_refusals(make_pool, tmp_path, claude_env):
    pool = await make_pool(claude_env, max_message_bytes=8)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with pytest.raises(UnknownAgent, match="no agent named 'ghost'"):
        await pool.send("ghost", "hi")
    for message, problem in [
        ("", "message is empty"),
        ("  \n\t", "message is empty"),
        ("123456789", "over the limit"),
        ("a\x00", "NUL"),
    ]:
        with pytest.raises(InvalidInput, match=problem):
            await pool.send("dev", message)
    with pytest.raises(InvalidInput, match="timeout_s must be a positive"):
        await pool.send("dev", "hi", timeout_s=0)
    assert (await listed(pool))[0].message_count == 0
    assert (await listed(pool))[0].session_id is None


async def test_cwd_is_stored_resolved_and_tilde_expanded(make_pool, tmp_path, claude_env, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("HOME", str(tmp_path))
    pool = await make_pool(claude_env)
    assert (await pool.create("a", "r", "~/link", AgentOptions())).cwd == str(real.resolve())


async def test_child_environment_drops_claudecode(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool({**claude_env, "CLAUDECODE": "1", "KEEP_ME": "yes"})
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    r = await pool.send("dev", "MOCK_ECHO_ENV=CLAUDECODE MOCK_ECHO_ENV=KEEP_ME")
    assert r.text.splitlines()[1:] == ["CLAUDECODE=<unset>", "KEEP_ME=yes"]


async def test_an_agent_cannot_read_the_servers_secrets_or_settings(make_pool, tmp_path, claude_env, no_leaks):
    """An agent runs code and can read its environment: the bearer token (which drives the whole
    pool) and the server's own settings stay with the server. Only the depth variables go on, so a
    nested agent-mcp knows where it stands and what this server's limit is; the user's claude settings
    go on untouched."""
    secrets = {
        "AGENT_MCP_TOKEN": "s3cret",
        "AGENT_MCP_TRANSPORT": "http",
        "AGENT_MCP_PORT": "8765",
        "AGENT_MCP_HOST": "0.0.0.0",
        "AGENT_MCP_STATE_DIR": str(tmp_path / "state"),
        "AGENT_MCP_MAX_DEPTH": "5",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
        "CLAUDE_CODE_MAX_RETRIES": "2",
    }
    pool = await make_pool({**claude_env, **secrets}, max_depth=3)  # the limit in force, not the variable
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    asked = ["AGENT_MCP_TOKEN", "AGENT_MCP_TRANSPORT", "AGENT_MCP_PORT", "AGENT_MCP_HOST", "AGENT_MCP_STATE_DIR",
             "AGENT_MCP_CLAUDE_BIN", "AGENT_MCP_DEPTH", "AGENT_MCP_MAX_DEPTH", "ANTHROPIC_BASE_URL",
             "CLAUDE_CODE_MAX_RETRIES", "HOME"]  # fmt: skip
    r = await pool.send("dev", " ".join(f"MOCK_ECHO_ENV={name}" for name in asked))
    seen = dict(line.split("=", 1) for line in r.text.splitlines()[1:])
    assert seen == {
        **dict.fromkeys(asked[:6], "<unset>"),
        "AGENT_MCP_DEPTH": "1",
        "AGENT_MCP_MAX_DEPTH": "3",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
        "CLAUDE_CODE_MAX_RETRIES": "2",
        "HOME": claude_env["HOME"],
    }


# --- run handles ---------------------------------------------------------------------------------


async def test_start_returns_at_once_and_get_run_waits_for_the_response(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    first = await pool.start("dev", "one MOCK_SLEEP=0.5")
    second = await pool.start("dev", "two")
    info = pool.run_info(second)
    assert (info.status, info.position, info.response) == ("queued", 1, None)
    assert pool.run_info(first).position == 0
    assert await second.wait(0.01) is False
    assert await second.wait(10) is True
    done = pool.run_info(second)
    assert done.status == "done" and done.position == 0 and done.finished_at is not None
    assert done.response is not None and done.response.text.startswith("Mock reply #2")
    assert pool.run_info(first).response.session_id == done.response.session_id
    assert pool.get_run(first.run_id).run_id == first.run_id


async def test_cancelling_a_queued_run_takes_it_out_of_the_queue(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    first = await pool.start("dev", "one MOCK_SLEEP=1")
    queued = await pool.start("dev", "two")
    third = await pool.start("dev", "three")
    await pool.cancel(queued.run_id)
    info = pool.run_info(queued)
    assert (info.status, info.error_kind, info.response) == ("cancelled", "cancelled", None)
    assert (await listed(pool))[0].queued == 1 and pool.run_info(third).position == 1
    assert await third.wait(10)
    assert third.response.text.startswith("Mock reply #2")  # the cancelled one never reached the CLI
    assert first.status == "done"


async def test_cancelling_a_running_run_kills_even_a_process_that_ignores_sigterm(
    make_pool, tmp_path, claude_env, no_leaks
):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    run = await pool.start("dev", "MOCK_IGNORE_TERM MOCK_DEAF MOCK_SLEEP=30")  # nor is the interrupt answered
    await wait_until(lambda: _first_agent_is(pool, status="running", session_id=None))
    await anyio.sleep(0.3)
    with anyio.fail_after(2):
        await pool.cancel(run.run_id)
    assert pool.live_processes == 0
    assert run.status == "cancelled" and "cancelled" in str(run.failure)
    assert (await listed(pool))[0].status == "idle"
    again = await pool.cancel(run.run_id)  # cancelling a finished run changes nothing
    assert again.status == "cancelled"


async def test_unknown_run_is_refused(make_pool, claude_env):
    from agent_mcp.core.errors import UnknownRun

    pool = await make_pool(claude_env)
    with pytest.raises(UnknownRun, match="no run with id 'nope'"):
        pool.get_run("nope")


async def test_an_output_line_over_the_cap_fails_the_run_and_names_the_limit(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, max_line_bytes=64 * 1024)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with pytest.raises(RunFailed) as failed:
        await pool.send("dev", "big MOCK_BIGLINE=200000")
    assert failed.value.kind == "crashed"
    assert "longer than 65536 bytes" in str(failed.value) and "AGENT_MCP_MAX_LINE_BYTES" in str(failed.value)
    assert pool.live_processes == 0
    assert (await pool.send("dev", "small")).is_error is False  # the agent still works
