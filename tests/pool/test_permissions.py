"""Ask mode: a sub-agent's tool use that needs approval waits for an answer (a rule, a person asked
through the client, answer_permission, or the timeout), and nothing hangs whatever happens meanwhile."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from conftest import listed

from agent_mcp.agents.kind import Step
from agent_mcp.core.errors import InvalidInput, UnknownRun
from agent_mcp.core.models import AgentOptions, PendingPermission
from agent_mcp.pool.permissions import INPUT_STRING_CHARS, Answer, shown_input
from agent_mcp.pool.pool import AgentPool

pytestmark = pytest.mark.anyio

ASK = AgentOptions(permission_mode="ask")


async def asking_run(pool: AgentPool, cwd: Path, name: str = "dev", message: str = "write it MOCK_WRITE"):
    """A run of an ask-mode agent that has asked to write mock_written.txt, and its pending request."""
    run = await pool.start(name, message)
    info = await pool.wait_run(run.run_id, 10)
    assert info.status == "waiting_permission", info
    assert info.pending_permission is not None
    return run, info.pending_permission


async def test_a_write_waits_for_answer_permission_then_happens(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    run, pending = await asking_run(pool, tmp_path)
    target = tmp_path / "mock_written.txt"
    assert (pending.tool_name, pending.summary, pending.input["file_path"]) == ("Write", str(target), str(target))
    assert not target.exists()  # nothing happens before the answer
    [agent] = await listed(pool)
    assert agent.status == "waiting_permission"
    assert [a.name for a in AgentListOf(await pool.listing("waiting_permission"))] == ["dev"]
    [asked] = [e for e in pool.transcript(run.run_id, 0, 50).events if e.kind == "permission_request"]
    assert asked.summary == f"asks to use Write: {target}" and pending.request_id in asked.content
    info = await pool.answer_permission(run.run_id, pending.request_id, "allow", None)
    assert info.status in ("running", "done") and info.pending_permission is None
    await run.wait(10)
    response = pool.get_run(run.run_id).response
    assert response is not None and target.read_text() == "hello\n"
    assert response.permission_denials == [] and response.files_changed == [str(target)]
    [record] = response.permission_requests
    assert (record.decision, record.answered_by, record.request_id) == (
        "allow",
        "answer_permission",
        pending.request_id,
    )
    assert record.asked_at and record.answered_at and record.asked_at <= record.answered_at
    assert pool.get_run(run.run_id).status == "done"
    assert (await pool.info("dev")).status == "idle"


def AgentListOf(page):
    from agent_mcp.core.models import AgentList

    return AgentList.model_validate(page.data).agents


async def test_a_denial_reaches_the_agent_with_its_message(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    run, pending = await asking_run(pool, tmp_path)
    await pool.answer_permission(run.run_id, pending.request_id, "deny", "not in this repository")
    await run.wait(10)
    response = pool.get_run(run.run_id).response
    assert response is not None and not (tmp_path / "mock_written.txt").exists()
    assert "not in this repository" in response.text  # the agent read it as the tool's result
    assert [d.tool_name for d in response.permission_denials] == ["Write"]
    [record] = response.permission_requests
    assert (record.decision, record.message) == ("deny", "not in this repository")


async def test_allow_always_is_kept_with_the_agent_and_answers_the_next_request(
    make_pool, tmp_path, claude_env, no_leaks
):
    pool = await make_pool(claude_env, warm_ttl_s=0)  # the rule must hold for a new process too
    await pool.create("dev", "r", str(tmp_path), ASK)
    run, pending = await asking_run(pool, tmp_path)
    await pool.answer_permission(run.run_id, pending.request_id, "allow_always", None, "dashboard")  # a person
    await run.wait(10)
    assert (await pool.info("dev")).always_allowed == ["Write"]
    (tmp_path / "mock_written.txt").unlink()
    with anyio.fail_after(10):
        again = await pool.send("dev", "again MOCK_WRITE")  # no answer needed
    assert (tmp_path / "mock_written.txt").exists()
    assert [(r.decision, r.answered_by) for r in again.permission_requests] == [("allow", "rule")]


async def test_an_unanswered_request_is_denied_at_the_timeout_and_idleness_does_not_count(
    make_pool, tmp_path, claude_env, no_leaks
):
    pool = await make_pool(claude_env, permission_timeout_s=1.5, idle_timeout_s=0.5)
    await pool.create("dev", "r", str(tmp_path), ASK)
    with anyio.fail_after(15):
        response = await pool.send("dev", "MOCK_WRITE")
    assert response.error_kind is None and not (tmp_path / "mock_written.txt").exists()
    [record] = response.permission_requests
    assert (record.decision, record.answered_by) == ("deny", "timeout")
    assert "AGENT_MCP_PERMISSION_TIMEOUT" in (record.message or "") and "1.5 s" in (record.message or "")
    assert response.text.endswith("--permission-timeout), so it is denied.")  # the agent was told why


async def test_cancelling_a_waiting_run_withdraws_its_request_and_the_agent_goes_on(
    make_pool, tmp_path, claude_env, no_leaks
):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    run, pending = await asking_run(pool, tmp_path)
    with anyio.fail_after(5):
        info = await pool.cancel(run.run_id)
    assert info.status == "cancelled" and info.pending_permission is None
    assert [(r.request_id, r.answered_by) for r in run.permissions.records] == [(pending.request_id, "withdrawn")]
    with pytest.raises(InvalidInput, match="cancelled, not waiting"):
        await pool.answer_permission(run.run_id, pending.request_id, "allow", None)
    assert not (tmp_path / "mock_written.txt").exists()
    assert (await pool.send("dev", "next")).error_kind is None
    assert pool.live_processes == 1  # the interrupted process took the next message


async def test_answers_that_cannot_apply_are_refused_and_change_nothing(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    run, pending = await asking_run(pool, tmp_path)
    with pytest.raises(InvalidInput, match="decision must be one of allow, allow_always, deny"):
        await pool.answer_permission(run.run_id, pending.request_id, "yes", None)
    with pytest.raises(InvalidInput, match=f"no permission request 'nope'; waiting: {pending.request_id}"):
        await pool.answer_permission(run.run_id, "nope", "allow", None)
    with pytest.raises(UnknownRun):
        await pool.answer_permission("zzzzzzzzzzzz", pending.request_id, "allow", None)
    assert pool.get_run(run.run_id).status == "waiting_permission"  # none of that answered it
    await pool.answer_permission(run.run_id, pending.request_id, "deny", None)
    with pytest.raises(InvalidInput, match="answered already \\(deny, by answer_permission\\)"):
        await pool.answer_permission(run.run_id, pending.request_id, "allow", None)
    await run.wait(10)
    assert not (tmp_path / "mock_written.txt").exists()  # the second answer changed nothing
    with pytest.raises(InvalidInput, match="is done, not waiting"):
        await pool.answer_permission(run.run_id, pending.request_id, "allow", None)


async def test_a_person_asked_through_the_client_answers(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    asked: list[tuple[str, PendingPermission]] = []

    async def person(agent: str, pending: PendingPermission) -> Answer | None:
        asked.append((agent, pending))
        return Answer("allow", "elicitation")

    with anyio.fail_after(10):
        response = await pool.send("dev", "MOCK_WRITE", asker=person)
    assert [(agent, p.tool_name) for agent, p in asked] == [("dev", "Write")]
    assert [(r.decision, r.answered_by) for r in response.permission_requests] == [("allow", "elicitation")]
    assert (tmp_path / "mock_written.txt").exists()


async def test_a_dismissed_or_failed_question_leaves_the_request_to_answer_permission(
    make_pool, tmp_path, claude_env, no_leaks
):
    """The client going away (or its person dismissing the form) is no answer: the run waits on."""
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    calls = []

    async def gone(agent: str, pending: PendingPermission) -> Answer | None:
        calls.append("gone")
        raise ConnectionError("the client went away")

    async def dismissed(agent: str, pending: PendingPermission) -> Answer | None:
        calls.append("dismissed")
        return None

    run = await pool.start("dev", "MOCK_WRITE")
    for asker in (gone, dismissed):
        info = await pool.wait_run(run.run_id, 0.5, asker=asker)
        assert info.status == "waiting_permission" and info.pending_permission is not None
    assert calls == ["gone", "dismissed"]
    await pool.answer_permission(run.run_id, info.pending_permission.request_id, "allow", None)
    await run.wait(10)
    assert pool.get_run(run.run_id).status == "done" and (tmp_path / "mock_written.txt").exists()


async def test_a_person_who_is_slow_is_not_waited_for_once_someone_else_answered(
    make_pool, tmp_path, claude_env, no_leaks
):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    cancelled = anyio.Event()

    async def slow(agent: str, pending: PendingPermission) -> Answer | None:
        try:
            await anyio.sleep(60)
        finally:
            cancelled.set()
        return Answer("allow", "elicitation")

    run = await pool.start("dev", "MOCK_WRITE")
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: run.wait(None, None, slow))
        info = await pool.wait_run(run.run_id, 10)
        assert info.pending_permission is not None
        await pool.answer_permission(run.run_id, info.pending_permission.request_id, "deny", None)
        with anyio.fail_after(5):
            await cancelled.wait()  # the open question was taken back
    assert [r.answered_by for r in pool.get_run(run.run_id).response.permission_requests] == ["answer_permission"]


async def test_wait_runs_returns_as_soon_as_a_run_asks(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("asker", "r", str(tmp_path), ASK)
    await pool.create("sleeper", "r", str(tmp_path), AgentOptions())
    asking = await pool.start("asker", "MOCK_WRITE")
    sleeping = await pool.start("sleeper", "MOCK_SLEEP=30")
    with anyio.fail_after(10):
        infos, done = await pool.wait_runs([asking.run_id, sleeping.run_id], "all", None)
    assert not done and [i.status for i in infos] == ["waiting_permission", "running"]
    await pool.cancel(asking.run_id)
    await pool.cancel(sleeping.run_id)


async def test_a_cold_run_asks_the_same_way(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, warm_ttl_s=0)
    await pool.create("dev", "r", str(tmp_path), ASK)

    async def allow(agent: str, pending: PendingPermission) -> Answer | None:
        return Answer("allow", "elicitation")

    response = await pool.send("dev", "MOCK_WRITE", asker=allow)
    assert response.permission_requests[0].decision == "allow" and pool.live_processes == 0


async def test_a_default_mode_agent_is_never_asked_about(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    response = await pool.send("dev", "MOCK_WRITE")
    assert response.permission_requests == [] and [d.tool_name for d in response.permission_denials] == ["Write"]


def test_a_huge_tool_input_is_shown_cut():
    """A Write of megabytes must not flood the caller's context (the CLI gets the original back)."""
    shown = shown_input({"file_path": "/w/f", "content": "x" * 1_000_000, "edits": [{"new": "y" * 5000}]})
    assert shown["file_path"] == "/w/f"
    assert len(shown["content"]) < INPUT_STRING_CHARS + 30 and shown["content"].endswith("(1000000 characters)")
    assert shown["edits"][0]["new"].endswith("(5000 characters)")


async def test_the_desk_answers_each_request_once_and_ignores_what_is_not_the_clis():
    """Output a tool writes to the terminal can look like the CLI's: a request under an id that is
    waiting does not replace it, and a cancel of an unknown id does nothing."""
    from contextlib import nullcontext

    from agent_mcp.agents.claude._frames import answer_frame
    from agent_mcp.agents.claude.kind import ClaudeKind
    from agent_mcp.pool._permission_desk import PermissionDesk
    from agent_mcp.pool.permissions import RunPermissions

    def step(event: dict) -> Step:
        return ClaudeKind().reader(resumed=None, awaiting_init=False).feed(json.dumps(event).encode()) or Step()

    permissions, frames, states = RunPermissions("dev"), [], []

    async def respond(frame: bytes) -> None:
        frames.append(frame)

    async def set_waiting(waiting: bool) -> None:
        states.append(waiting)

    async def allow_always(tool: str) -> None:
        raise AssertionError("not asked for")

    desk = PermissionDesk(permissions, [], 30, respond, answer_frame, set_waiting, allow_always, nullcontext)
    request = {"subtype": "can_use_tool", "tool_name": "Write", "input": {"file_path": "/w/a"}}
    async with desk.serving():
        desk.take(step({"type": "control_request", "request_id": "r1", "request": request}))
        desk.take(
            step({"type": "control_request", "request_id": "r1", "request": {**request, "input": {"file_path": "/x"}}})
        )
        desk.take(step({"type": "control_cancel_request", "request_id": "unknown"}))
        await anyio.sleep(0.05)
        assert permissions.pending is not None and permissions.pending.summary == "/w/a"
        permissions.answer("r1", Answer("allow", "answer_permission"), "t")
        with anyio.fail_after(5):
            while not frames:
                await anyio.sleep(0.01)
    [frame] = frames
    assert b'"request_id": "r1"' in frame and b'"updatedInput": {"file_path": "/w/a"}' in frame
    assert states == [True, False] and [r.decision for r in permissions.records] == ["allow"]


async def test_a_run_that_times_out_while_it_waits_keeps_the_withdrawn_request_in_its_history(
    make_pool, tmp_path, claude_env, no_leaks
):
    """The wall-clock limit still holds while a request waits; the request is part of the run's record,
    also after a restart of the server."""
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    run = await pool.start("dev", "MOCK_WRITE", timeout_s=1)
    with anyio.fail_after(10):
        await run.wait(None)
    info = pool.get_run(run.run_id)
    assert info.status == "timed_out" and info.response is None and info.pending_permission is None
    assert [(r.tool_name, r.decision, r.answered_by) for r in info.permission_requests] == [
        ("Write", "deny", "withdrawn")
    ]  # fmt: skip
    second = await make_pool(claude_env, state_dir=tmp_path / "state")  # a second server
    [entry] = second.history_page("dev", 1, None)[0]
    assert [r.answered_by for r in entry.permission_requests] == ["withdrawn"]
    assert "permission_requests" in entry.model_dump() and "permission_requests" not in (
        pool.get_run((await pool.start("dev", "plain")).run_id).model_dump()
    )


async def test_a_question_whose_call_ended_goes_to_another_waiting_call(make_pool, tmp_path, claude_env, no_leaks):
    """A call that looked and left (get_run without a wait) took the question with it, and a call
    still waiting with a person behind it was never asked: the run waited out the timeout."""
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), ASK)
    run, pending = await asking_run(pool, tmp_path)
    asked: list[str] = []

    async def looks_and_leaves(agent: str, shown: PendingPermission) -> Answer | None:
        await anyio.sleep(3600)
        return None

    async def person(agent: str, shown: PendingPermission) -> Answer | None:
        asked.append(shown.request_id)
        return Answer("deny", "elicitation", "no")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run.wait, 0.3, None, looks_and_leaves)  # asked first, then its call ends
            await anyio.sleep(0.1)
            await run.wait(None, None, person)  # joins while the other is being asked
    assert asked == [pending.request_id] and run.response is not None
    assert [(r.decision, r.answered_by) for r in run.response.permission_requests] == [("deny", "elicitation")]
