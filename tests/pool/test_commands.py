"""A run belongs to the server that started it; another server on the same state directory cancels
it or answers its permission request by asking that server through the store (commands.py)."""

from __future__ import annotations

import os

import anyio
import pytest

from agent_mcp.core.errors import AgentMCPError, Busy, InvalidInput
from agent_mcp.core.models import AgentOptions
from agent_mcp.core.rows import Command, RunRecord
from agent_mcp.pool import _commands as commands
from agent_mcp.store.owners import owner_of

pytestmark = pytest.mark.anyio


async def test_another_server_cancels_a_run(make_pool, tmp_path, claude_env, no_leaks):
    state = tmp_path / "state"
    owner, other = await make_pool(claude_env, state_dir=state), await make_pool(claude_env, state_dir=state)
    await owner.create("dev", "r", str(tmp_path), AgentOptions())
    run = await owner.start("dev", "MOCK_SLEEP=30")
    with anyio.fail_after(10):
        while other.get_run(run.run_id).status != "running":
            await anyio.sleep(0.05)
        info = await other.cancel(run.run_id)
    assert info.status == "cancelled" and owner.get_run(run.run_id).status == "cancelled"
    assert other.store.commands.addressed_to(owner.store.owner) == []  # answered and gone


async def test_another_server_answers_a_permission_request(make_pool, tmp_path, claude_env, no_leaks):
    state = tmp_path / "state"
    owner, other = await make_pool(claude_env, state_dir=state), await make_pool(claude_env, state_dir=state)
    await owner.create("dev", "r", str(tmp_path), AgentOptions(permission_mode="ask"))
    run = await owner.start("dev", "MOCK_WRITE")
    pending = (await owner.wait_run(run.run_id, 10)).pending_permission
    assert pending is not None and other.get_run(run.run_id).status == "waiting_permission"  # seen in the store
    with pytest.raises(AgentMCPError, match=r"no permission request .nope.") as refused:
        await other.answer_permission(run.run_id, "nope", "allow", None)
    assert refused.value.kind == "invalid_input"  # the owner's refusal, as it gave it
    with anyio.fail_after(10):
        await other.answer_permission(run.run_id, pending.request_id, "allow", None)
        await run.wait(None)
    response = owner.get_run(run.run_id).response
    assert response is not None and (tmp_path / "mock_written.txt").exists()
    assert [r.answered_by for r in response.permission_requests] == ["answer_permission"]


@pytest.mark.attack
async def test_the_owner_holds_a_forwarded_answer_to_its_own_answerers_setting(make_pool, tmp_path, claude_env):
    """A caller of a server that takes answers from anyone answers a run of a server that takes them
    from a person only: the owner refuses it, as it would its own caller; a person's (the dashboard's)
    answer goes through and is recorded as a person's."""
    state = tmp_path / "state"
    owner = await make_pool(claude_env, state_dir=state, permission_answerers="person")
    other = await make_pool(claude_env, state_dir=state)
    await owner.create("dev", "r", str(tmp_path), AgentOptions(permission_mode="ask"))
    run = await owner.start("dev", "MOCK_WRITE")
    pending = (await owner.wait_run(run.run_id, 10)).pending_permission
    assert pending is not None
    with pytest.raises(AgentMCPError, match=r"from a person only") as refused:
        await other.answer_permission(run.run_id, pending.request_id, "allow", None)
    assert refused.value.kind == "policy" and owner.get_run(run.run_id).status == "waiting_permission"
    with anyio.fail_after(10):
        await other.answer_permission(run.run_id, pending.request_id, "allow_always", None, "dashboard")
        await run.wait(None)
    response = owner.get_run(run.run_id).response
    assert response is not None and [r.answered_by for r in response.permission_requests] == ["dashboard"]
    assert (await owner.info("dev")).always_allowed == ["Write"]


async def test_an_owner_that_does_not_act_is_not_waited_for_without_end(
    make_pool, tmp_path, claude_env, monkeypatch, no_leaks
):
    """A live process that owns the run but watches nothing (or is stuck): the asker gives up, says
    so, and leaves no command behind."""
    monkeypatch.setattr(commands, "ACT_WAIT_S", 0.5)
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    silent = owner_of(os.getpid())  # alive (this process), but no pool of that owner watches
    run = RunRecord(run_id="abcdefghijkl", agent="dev", status="queued", message="m", queued_at="t")
    await pool.store.runs.add(run)
    with pool.store.file.transaction() as db:
        db.execute("UPDATE runs SET status = 'running', owner = ? WHERE run_id = 'abcdefghijkl'", (silent,))
    with anyio.fail_after(5), pytest.raises(Busy, match=r"did not act on it within 0\.5 s"):
        await pool.cancel("abcdefghijkl")
    assert pool.store.commands.addressed_to(silent) == []


async def test_a_command_nobody_knows_is_refused_not_guessed():
    async def never(*_: object) -> None:
        raise AssertionError("not this")

    with pytest.raises(InvalidInput, match="unknown command 'delete'"):
        await commands.Actions(never, never).carry_out(Command(1, "abcdefghijkl", "delete", {}))
