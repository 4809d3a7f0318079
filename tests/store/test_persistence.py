"""Pools over one state directory: restarts, two pools at once, history, delete and reset."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import AsyncExitStack
from datetime import datetime

import anyio
import pytest
from conftest import DOUBLE, check_leaks_after, listed

from agent_mcp.core.config import Settings
from agent_mcp.core.errors import InvalidInput, UnknownAgent
from agent_mcp.core.models import AgentOptions
from agent_mcp.pool.pool import AgentPool
from agent_mcp.store.database import DB_NAME

pytestmark = pytest.mark.anyio


@pytest.fixture
async def open_pool(tmp_path, claude_env, request):
    """Opens pools on one shared state directory; each stays open until closed or the test ends."""
    check_leaks_after(request)
    async with AsyncExitStack() as stack:

        async def factory() -> tuple[AgentPool, AsyncExitStack]:
            own = AsyncExitStack()
            pool = AgentPool(Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state"), claude_env)
            await own.enter_async_context(pool.running())
            stack.push_async_callback(own.aclose)
            return pool, own

        yield factory


async def test_a_restarted_pool_has_every_agent_and_resumes_its_session(open_pool, tmp_path, no_leaks):
    first, closing = await open_pool()
    await first.create("dev", "r", str(tmp_path), AgentOptions(model="opus", max_turns=5))
    one = await first.send("dev", "hello")
    two = await first.send("dev", "again")
    before = await listed(first)
    await closing.aclose()

    second, _ = await open_pool()
    after = await listed(second)
    assert before[0].warm and not after[0].warm  # its process waited in the first server; it ended with it
    assert [x.model_dump(exclude={"warm"}) for x in after] == [x.model_dump(exclude={"warm"}) for x in before]
    [agent] = after
    assert (agent.session_id, agent.message_count, agent.model, agent.max_turns) == (one.session_id, 2, "opus", 5)
    assert agent.total_cost_usd == pytest.approx(one.cost_usd + two.cost_usd)
    three = await second.send("dev", "after the restart")
    assert three.session_id == one.session_id and three.text.startswith("Mock reply #3")
    assert second.get_run(second.history_page("dev", 1, None)[0][0].run_id).response == three


async def test_a_listing_is_reused_until_any_pool_changes_the_store(open_pool, tmp_path, no_leaks):
    a, _ = await open_pool()
    b, _ = await open_pool()
    await a.create("dev", "r", str(tmp_path), AgentOptions())
    # The entries are built once: two pages share them until the store changes.
    assert (await a.listing()).data["agents"][0] is (await a.listing()).data["agents"][0]
    await b.create("ops", "r", str(tmp_path), AgentOptions())
    assert [x.name for x in (await listed(a))] == ["dev", "ops"]
    before = (await a.listing()).data["agents"][1]
    await b.send("ops", "hello")
    after = (await a.listing()).data["agents"][1]
    assert after is not before and after["message_count"] == 1
    assert [x.model_dump(exclude={"warm"}) for x in await listed(a)] == [
        x.model_dump(exclude={"warm"}) for x in await listed(b)
    ]  # warm is this server's: b keeps ops's process
    assert [x.warm for x in await listed(b)] == [False, True]


async def test_history_is_newest_first_and_kept_across_restarts(open_pool, tmp_path, no_leaks):
    pool, closing = await open_pool()
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    await pool.send("dev", "first")
    with pytest.raises(Exception, match="crashed"):
        await pool.send("dev", "second MOCK_CRASH")
    await pool.send("dev", "third " + "x" * 3000)
    await closing.aclose()

    pool, _ = await open_pool()
    runs = pool.history_page("dev", 20, None)[0]
    assert [r.status for r in runs] == ["done", "failed", "done"]
    assert runs[0].message == ("third " + "x" * 3000)[:2000]
    assert runs[2].message == "first" and runs[2].response.text.startswith("Mock reply #1")
    assert runs[1].error_kind == "crashed" and "Bun has crashed" in runs[1].error
    assert all(r.started_at and r.finished_at and r.queued_at <= r.started_at <= r.finished_at for r in runs)
    assert [r.run_id for r in pool.history_page("DEV", 1, None)[0]] == [runs[0].run_id]
    with pytest.raises(InvalidInput, match="limit must be between 1 and 1000"):
        pool.history_page("dev", 0, None)
    with pytest.raises(UnknownAgent):
        pool.history_page("ghost", 5, None)


async def test_two_pools_share_agents_and_never_run_one_agent_at_once(open_pool, tmp_path, no_leaks):
    a, _ = await open_pool()
    b, _ = await open_pool()
    await a.create("dev", "r", str(tmp_path), AgentOptions())
    assert [x.name for x in (await listed(b))] == ["dev"]
    with pytest.raises(InvalidInput, match="already exists"):
        await b.create("DEV", "r", str(tmp_path), AgentOptions())

    replies = {}

    async def send(pool: AgentPool, key: str, message: str) -> None:
        replies[key] = await pool.send("dev", message)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send, a, "a", "from a MOCK_SLEEP=1")
        with anyio.fail_after(5):
            while (await listed(b))[0].status != "running":  # b sees a's run through the store
                await anyio.sleep(0.02)
        tg.start_soon(send, b, "b", "from b")
    assert replies["a"].session_id == replies["b"].session_id
    assert replies["b"].text.startswith("Mock reply #2")
    first, second = sorted(a.history_page("dev", 10, None)[0], key=lambda r: r.started_at)
    assert datetime.fromisoformat(first.finished_at) <= datetime.fromisoformat(second.started_at)
    assert (await listed(b))[0].message_count == 2


async def test_delete_is_refused_while_busy_unless_forced(open_pool, tmp_path, no_leaks):
    pool, _ = await open_pool()
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    run = await pool.start("dev", "long MOCK_SLEEP=30")
    queued = await pool.start("dev", "queued")
    with pytest.raises(InvalidInput, match="has 2 message\\(s\\) queued or running"):
        await pool.delete("dev", force=False)
    assert await pool.delete("DEV", force=True) == "dev"
    assert run.status == "cancelled" and queued.status == "cancelled"
    assert (await listed(pool)) == []
    assert pool.live_processes == 0
    with pytest.raises(UnknownAgent):
        await pool.delete("dev", force=False)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())  # the name is free again, with no history
    assert pool.history_page("dev", 10, None)[0] == []


async def test_reset_forgets_the_session(open_pool, tmp_path, no_leaks):
    pool, _ = await open_pool()
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    first = await pool.send("dev", "hello")
    await pool.start("dev", "busy MOCK_SLEEP=1")
    with pytest.raises(InvalidInput, match="has a message queued or running"):
        await pool.reset("dev")
    await pool.wait_run(pool.history_page("dev", 1, None)[0][0].run_id, 10)
    info = await pool.reset("dev")
    assert info.session_id is None and info.message_count == 2
    fresh = await pool.send("dev", "who are you?")
    assert fresh.session_id != first.session_id and fresh.text.startswith("Mock reply #1")
    assert pool.store.sessions.of("dev") == [first.session_id, fresh.session_id]
    with pytest.raises(UnknownAgent):
        await pool.reset("ghost")


async def test_delete_and_reset_refuse_while_another_pool_runs_the_agent(open_pool, tmp_path, no_leaks):
    a, _ = await open_pool()
    b, _ = await open_pool()
    await a.create("dev", "r", str(tmp_path), AgentOptions())
    run = await a.start("dev", "long MOCK_SLEEP=30")
    with anyio.fail_after(5):
        while (await listed(b))[0].status != "running":
            await anyio.sleep(0.02)
    with pytest.raises(InvalidInput, match="in another agent-mcp server"):
        await b.delete("dev", force=True)
    with pytest.raises(InvalidInput, match="in another agent-mcp server"):
        await b.reset("dev")
    with anyio.fail_after(10):  # b asks a, whose run it is (commands.py)
        assert (await b.cancel(run.run_id)).status == "cancelled"
    assert a.get_run(run.run_id).status == "cancelled"
    assert (await b.cancel(run.run_id)).status == "cancelled"  # finished now: returned as it is


async def test_another_server_holding_the_write_lock_does_not_stall_this_one(open_pool, tmp_path, no_leaks):
    """While another server holds the store's write lock for 2 s, this one's own writes wait for it
    (off the event loop) and everything else goes on: list_agents answers within 100 ms."""
    pool, _ = await open_pool()
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    await pool.listing()
    other = sqlite3.connect(tmp_path / "state" / DB_NAME, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(2.0, other.execute, ("COMMIT",))
    release.start()
    try:
        async with anyio.create_task_group() as tasks:
            started = time.monotonic()
            tasks.start_soon(pool.send, "dev", "hello")  # its first write waits for the lock
            await anyio.sleep(0.3)
            before = time.monotonic()
            listing = await pool.listing()
            assert time.monotonic() - before < 0.1
            assert listing.data["agents"][0]["name"] == "dev"
            assert time.monotonic() - started < 1.0  # the lock is still held: the send is still waiting
    finally:
        release.join()
        other.close()
    assert time.monotonic() - started >= 2.0
    [run] = pool.history_page("dev", 5, None)[0]
    assert run.status == "done"
