"""The SQLite store on its own: migrations, owners, interrupted runs, one-transaction finishes,
writes off the event loop."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from dataclasses import replace

import pytest

from agent_mcp.core.models import AgentOptions, AgentResponse
from agent_mcp.core.rows import AgentRecord, RunRecord
from agent_mcp.store.database import DB_NAME, Store
from agent_mcp.store.file import StoreUnusable
from agent_mcp.store.migrations import MIGRATIONS, SCHEMA_VERSION
from agent_mcp.store.owners import owner_alive, owner_of

pytestmark = pytest.mark.anyio


def record(name: str = "dev") -> AgentRecord:
    return AgentRecord(name=name, role="r", cwd="/tmp", options=AgentOptions(model="opus"), created_at="2026-01-01")


def run_record(run_id: str, status: str = "queued", **fields: object) -> RunRecord:
    return RunRecord(run_id=run_id, agent="dev", status=status, message="m", queued_at="2026-01-01T00:00:00", **fields)  # type: ignore[arg-type]


SID = "0f0e0d0c-0b0a-4909-8807-060504030201"


def response(session_id: str = "s1") -> AgentResponse:
    return AgentResponse(
        agent="dev", text="hi", session_id=session_id, model="m", api_key_source=None, cost_usd=0.5,
        input_tokens=10, output_tokens=20, cache_creation_input_tokens=30, cache_read_input_tokens=40,
        duration_ms=1, num_turns=1, is_error=False, error=None, subtype="success",
    )  # fmt: skip


def test_a_new_store_is_at_the_current_version_in_wal_mode(tmp_path):
    store = Store(tmp_path / "state", owner_of(os.getpid()))
    assert store.file.version == SCHEMA_VERSION == len(MIGRATIONS)
    mode = sqlite3.connect(tmp_path / "state" / DB_NAME).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"


def test_migration_from_version_1_keeps_every_agent_and_run(tmp_path):
    (tmp_path / "state").mkdir()
    db = sqlite3.connect(tmp_path / "state" / DB_NAME)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO agents (name, role, cwd, options, created_at, session_id, message_count, total_cost_usd,"
        " total_input_tokens, total_output_tokens) VALUES ('old', 'r', '/w', '{\"model\": \"haiku\"}', 't0',"
        f" '{SID}', 3, 1.5, 100, 200)"
    )
    db.execute(
        "INSERT INTO runs (run_id, agent, message, status, queued_at, finished_at) VALUES"
        " ('r1', 'old', 'hello', 'done', 't1', 't2')"
    )
    db.commit()
    db.close()

    store = Store(tmp_path / "state", owner_of(os.getpid()))
    assert store.file.version == SCHEMA_VERSION
    agent = store.agents.get("OLD")
    assert agent is not None
    assert (agent.session_id, agent.message_count, agent.total_cost_usd, agent.options.model) == (
        SID,
        3,
        1.5,
        "haiku",
    )
    assert agent.total_cache_read_input_tokens == 0 and agent.cli == "claude"  # every agent before #30 was
    assert store.sessions.of("old") == [SID] and store.sessions.reported("old", SID) == {}
    [(run, _)] = store.runs.history("old", 10)
    assert (run.run_id, run.message, run.status) == ("r1", "hello", "done")


def test_a_store_newer_than_the_code_is_refused(tmp_path):
    (tmp_path / "state").mkdir()
    db = sqlite3.connect(tmp_path / "state" / DB_NAME)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    with pytest.raises(StoreUnusable, match="schema version 99, newer than this agent-mcp knows"):
        Store(tmp_path / "state", "me")


async def test_an_agent_keeps_its_cli_and_an_unknown_cost_adds_nothing(tmp_path):
    store = Store(tmp_path, "me")
    await store.agents.add(replace(record(), cli="codex"))
    await store.runs.add(run_record("r1"))
    unknown = response(SID).model_copy(update={"cost_usd": None})
    await store.runs.finished(run_record("r1", "done", response=unknown, finished_at="t1"), SID)
    agent = store.agents.get("dev")
    assert agent is not None and agent.cli == "codex"
    assert (agent.total_cost_usd, agent.total_input_tokens, agent.message_count) == (0.0, 10, 1)
    [(run, _)] = store.runs.history("dev", 10)
    assert run.response is not None and run.response.cost_usd is None  # read back unknown, not 0
    await store.sessions.set_reported("dev", SID, {"input_tokens": 10, "output_tokens": 20})
    assert store.sessions.reported("dev", SID) == {"input_tokens": 10, "output_tokens": 20}
    assert store.sessions.reported("other", SID) == {}  # another agent's totals are not this one's


async def test_names_are_unique_ignoring_case(tmp_path):
    store = Store(tmp_path, "me")
    assert await store.agents.add(record("Dev")) is True
    assert await store.agents.add(record("dEV")) is False
    assert [a.name for a in store.agents.all()] == ["Dev"]


async def test_finishing_a_run_records_session_and_totals_together(tmp_path):
    store = Store(tmp_path, "me")
    await store.agents.add(record())
    for rid, sid in (("r1", "s1"), ("r2", "s2")):
        await store.runs.add(run_record(rid))
        await store.runs.finished(run_record(rid, "done", response=response(sid), finished_at=f"t-{rid}"), sid)
    agent = store.agents.get("dev")
    assert agent is not None
    assert (agent.session_id, agent.message_count, agent.total_cost_usd) == ("s2", 2, 1.0)
    assert (agent.total_input_tokens, agent.total_output_tokens) == (20, 40)
    assert (agent.total_cache_creation_input_tokens, agent.total_cache_read_input_tokens) == (60, 80)
    assert store.sessions.of("dev") == ["s1", "s2"]
    assert [r.run_id for r, _ in store.runs.history("dev", 10)] == ["r2", "r1"]
    await store.sessions.reset("dev")
    assert store.agents.get("dev").session_id is None
    assert store.sessions.of("dev") == ["s1", "s2"]  # earlier sessions are remembered


async def test_runs_of_a_dead_owner_are_marked_interrupted_and_a_live_owners_are_not(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    dead_owner = f"{dead.pid}:12345:token"
    live = Store(tmp_path, owner_of(os.getpid()))
    await live.agents.add(record())
    await Store(tmp_path, dead_owner).runs.add(run_record("lost", "running"))
    await live.runs.add(run_record("mine", "running"))
    assert owner_alive(owner_of(os.getpid())) and not owner_alive(dead_owner) and not owner_alive("garbage")

    assert live.runs.dead_owners() == [dead_owner]
    assert await live.runs.mark_interrupted(live.runs.dead_owners(), "t9") == 1
    assert live.runs.dead_owners() == []
    assert live.runs.get("lost").status == "interrupted"
    assert live.runs.get("lost").error_kind == "interrupted"
    assert live.runs.get("mine").status == "running"
    assert live.runs.active_counts() == {"dev": type(live.runs.active_counts()["dev"])(running=1, queued=0)}


async def test_the_change_mark_moves_with_every_commit_by_this_or_another_connection(tmp_path):
    store, other = Store(tmp_path, owner_of(os.getpid())), Store(tmp_path, owner_of(os.getpid()))
    first = store.file.change_mark()
    assert store.agents.all() == [] and store.file.change_mark() == first  # reads change nothing
    await store.agents.add(record("own"))
    second = store.file.change_mark()
    assert second != first
    await other.agents.add(record("theirs"))
    assert store.file.change_mark() != second
    assert [a.name for a in store.agents.all()] == ["own", "theirs"]


async def test_a_whole_answer_is_kept_apart_and_goes_with_its_agent(tmp_path):
    """An answer too long to hold goes into the store from its file, and deleting the agent deletes it."""
    import tempfile

    from agent_mcp.core.long_strings import WholeText

    store = Store(tmp_path / "state", owner_of(os.getpid()))
    await store.agents.add(AgentRecord(name="dev", role="r", cwd=str(tmp_path), options=AgentOptions(), created_at="t"))
    run = RunRecord(run_id="abcdefghijkl", agent="dev", status="queued", message="m", queued_at="t")
    await store.runs.add(run)
    text = 'é "😀"\n' * 100_000
    with tempfile.TemporaryFile() as file:
        file.write(text.encode())
        whole = WholeText(file, file.tell(), len(text), text[:10], text[-10:])
        await store.runs.finished(RunRecord(**{**run.__dict__, "status": "done", "finished_at": "t"}), None, whole)
    assert store.replies.whole("abcdefghijkl") == text and store.replies.whole("nope") is None
    await store.agents.delete("dev")
    assert store.replies.whole("abcdefghijkl") is None
    store.close()
