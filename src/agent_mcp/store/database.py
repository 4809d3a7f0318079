"""SQLite, so nothing of an agent is lost when the client restarts the server (or kills it).

Why it looks like this:
- WAL with synchronous=NORMAL: every committed transaction survives a killed process, and two
  servers (two editor windows) can read while one writes.
- Two connections. Writes go through the writer, always on one worker thread: a write may wait for
  another server's lock (busy_timeout), and that wait must not stall the event loop and every agent
  with it. Reads use the reader on the loop: under WAL a reader never waits for a writer, so a
  listing answers at once even while another server holds the write lock.
- Each finished run is written in one transaction (the run's row, the agent's session and totals,
  the session history), so a crash never leaves half of a run recorded.
- Totals are updated with SQL increments, never by writing back a value read earlier, so two
  servers cannot overwrite each other's counts.
- Every run records its owner (pid and the process's start time, which tells a reused pid apart);
  a queued or running run whose owner is gone was interrupted.
- The schema version is SQLite's user_version; migrations.MIGRATIONS[i] takes version i to i + 1.
- A damaged store is never written to: opening it raises StoreDamaged, which says how to start
  afresh (move the file aside). A new store is built under a temporary name and linked into place
  complete, so an empty file where the store should be is never this server's doing: it is a store
  that was truncated, and is reported as one rather than silently taken for a fresh start.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from operator import attrgetter
from pathlib import Path

import anyio

from agent_mcp.core.long_strings import WholeText
from agent_mcp.core.rows import MESSAGE_PREVIEW, ActiveCounts, AgentRecord, RunRecord, agent_of, run_of
from agent_mcp.store.file import StoreDamaged, StoreUnusable, check_pages, connect, create
from agent_mcp.store.migrations import SCHEMA_VERSION, migrate
from agent_mcp.store.owners import owner_alive, owner_of
from agent_mcp.store.side_tables import SideTables
from agent_mcp.store.writing import on_writer

log = logging.getLogger(__name__)

DB_NAME = "agent-mcp.sqlite3"


class Store(SideTables):
    def __init__(self, state_dir: Path, owner: str) -> None:
        self.path = state_dir / DB_NAME
        self.owner = owner
        self._reply_indexes = {}
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            create(self.path)
        if self.path.stat().st_size == 0:
            raise StoreDamaged(self.path, "is empty (0 bytes), so it was truncated: the agents it held are gone")
        self._write_limiter: anyio.CapacityLimiter | None = None
        try:
            self._writer = connect(self.path)
        except sqlite3.DatabaseError as exc:
            raise StoreDamaged(self.path, f"is damaged ({exc})") from None
        try:
            self._migrate()
            self._reader = connect(self.path)
        except sqlite3.DatabaseError as exc:
            self._writer.close()
            raise StoreDamaged(self.path, f"is damaged ({exc})") from None
        except BaseException:
            self._writer.close()
            raise

    def check(self, full: bool = False) -> None:
        """SQLite's own check of every page (quick_check; with full, integrity_check, which also
        checks the indexes against the tables). Raises StoreDamaged with what it found."""
        check_pages(self._reader, self.path, "integrity_check" if full else "quick_check")

    def close(self) -> None:
        self._reader.close()
        self._writer.close()

    @classmethod
    def open_checked(cls, state_dir: Path) -> None:
        """Open, check every page, close: what a server does once before it serves, so a damaged
        store stops it with one line rather than a traceback the client never shows."""
        store = cls(state_dir, owner_of(os.getpid()))
        try:
            store.check()
        finally:
            store.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            yield self._writer
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")

    def change_mark(self) -> int:
        """Differs from an earlier mark once anything was committed since, by this server's writer or
        another server's: SQLite's data_version of the reader, which every other connection's commit
        moves. What was derived from the store stays valid until then."""
        return int(self._reader.execute("PRAGMA data_version").fetchone()[0])

    def _migrate(self) -> None:
        """Writes nothing to a store that is up to date, and checks one before it changes it."""
        version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreUnusable(
                f"the store {self.path} has schema version {version}, newer than this agent-mcp knows "
                f"({SCHEMA_VERSION})",
                "upgrade agent-mcp or point AGENT_MCP_STATE_DIR elsewhere",
            )
        if version > 0:
            check_pages(self._writer, self.path, "quick_check")
        with self._transaction() as db:
            migrate(db, self.path)

    @property
    def version(self) -> int:
        return int(self._reader.execute("PRAGMA user_version").fetchone()[0])

    # --- agents ------------------------------------------------------------------------------

    @on_writer
    def add_agent(self, agent: AgentRecord) -> bool:
        """False when the name is taken (ignoring case), perhaps just now by another server."""
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO agents (name, role, cwd, options, created_at, worktree, host)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        agent.name,
                        agent.role,
                        agent.cwd,
                        agent.options.model_dump_json(),
                        agent.created_at,
                        json.dumps(asdict(agent.worktree)) if agent.worktree else None,
                        agent.host,
                    ),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def agent(self, name: str) -> AgentRecord | None:
        agents = self.agents(name)
        return agents[0] if agents else None

    def agents(self, name: str | None = None) -> list[AgentRecord]:
        """Every agent (or the one named), sorted by name."""
        if name is None:
            cursor = self._reader.execute("SELECT * FROM agents")
        else:
            cursor = self._reader.execute("SELECT * FROM agents WHERE name = ?", (name,))
        return sorted(map(agent_of, cursor), key=attrgetter("name"))

    def agent_count(self) -> int:
        return int(self._reader.execute("SELECT count(*) FROM agents").fetchone()[0])

    @on_writer
    def delete_agent(self, name: str) -> None:
        with self._transaction() as db:
            for table in ("replies", "events"):
                db.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM runs WHERE agent = ?)", (name,))
            for table, column in (("agents", "name"), ("runs", "agent"), ("sessions", "agent")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))

    @on_writer
    def reset_agent(self, name: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE agents SET session_id = NULL WHERE name = ?", (name,))

    @on_writer
    def allow_always(self, name: str, tool: str) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT always_allowed FROM agents WHERE name = ?", (name,)).fetchone()
            if row is not None and tool not in (allowed := json.loads(row[0])):
                db.execute("UPDATE agents SET always_allowed = ? WHERE name = ?", (json.dumps([*allowed, tool]), name))

    @on_writer
    def set_session(self, name: str, session_id: str, seen_at: str) -> None:
        """Recorded as soon as the CLI names it: a server killed mid-run still resumes it later."""
        with self._transaction() as db:
            _record_session(db, name, session_id, seen_at)

    def session_holder(self, session_id: str, name: str) -> str | None:
        """Another agent that has had this session, if any: two agents never share a conversation."""
        row = self._reader.execute(
            "SELECT agent FROM sessions WHERE session_id = ? AND agent != ? LIMIT 1", (session_id, name)
        ).fetchone()
        return None if row is None else str(row[0])

    def sessions(self, name: str) -> list[str]:
        rows = self._reader.execute(
            "SELECT session_id FROM sessions WHERE agent = ? ORDER BY first_seen, rowid", (name,)
        ).fetchall()
        return [row[0] for row in rows]

    # --- runs --------------------------------------------------------------------------------

    @on_writer
    def add_run(self, run: RunRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (run_id, agent, message, status, queued_at, owner) VALUES (?, ?, ?, ?, ?, ?)",
                (run.run_id, run.agent, run.message, run.status, run.queued_at, self.owner),
            )

    @on_writer
    def run_started(self, run_id: str, started_at: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET status = 'running', started_at = ? WHERE run_id = ?", (started_at, run_id))

    @on_writer
    def set_waiting(self, run_id: str, waiting: bool) -> None:
        """A running run waits for a permission answer, or has got it: other servers see it too."""
        with self._transaction() as db:
            db.execute(
                f"UPDATE runs SET status = ? WHERE run_id = ? AND status IN ({_RUNNING})",
                ("waiting_permission" if waiting else "running", run_id),
            )

    @on_writer
    def run_finished(self, run: RunRecord, session_id: str | None, whole: WholeText | None = None) -> None:
        """The run, the agent's session and its totals, in one transaction; an answer too long to hold
        goes into the replies table from its file, a block at a time."""
        response = run.response
        with self._transaction() as db:
            if whole is not None:
                cursor = db.execute(
                    "INSERT INTO replies (run_id, text) VALUES (?, zeroblob(?))", (run.run_id, whole.size)
                )
                whole.file.seek(0)
                assert cursor.lastrowid is not None
                with db.blobopen("replies", "text", cursor.lastrowid) as blob:
                    while block := whole.file.read(1 << 20):
                        blob.write(block)
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, response = ?, error = ?, error_kind = ?, started_at = ?,"
                " permission_requests = ? WHERE run_id = ?",
                (
                    run.status,
                    run.finished_at,
                    response.model_dump_json() if response else None,
                    run.error,
                    run.error_kind,
                    run.started_at,
                    json.dumps([r.model_dump(mode="json") for r in run.permission_requests])
                    if run.permission_requests
                    else None,
                    run.run_id,
                ),
            )
            if session_id is not None:
                _record_session(db, run.agent, session_id, run.finished_at or run.queued_at)
            if response is not None:
                db.execute(
                    "UPDATE agents SET message_count = message_count + 1, total_cost_usd = total_cost_usd + ?,"
                    " total_input_tokens = total_input_tokens + ?, total_output_tokens = total_output_tokens + ?,"
                    " total_cache_creation_input_tokens = total_cache_creation_input_tokens + ?,"
                    " total_cache_read_input_tokens = total_cache_read_input_tokens + ? WHERE name = ?",
                    (
                        response.cost_usd,
                        response.input_tokens,
                        response.output_tokens,
                        response.cache_creation_input_tokens,
                        response.cache_read_input_tokens,
                        run.agent,
                    ),
                )

    def run_message(self, run_id: str) -> str | None:
        """The whole message of a run (records carry only its preview)."""
        row = self._reader.execute("SELECT message FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else str(row[0])

    def message_part(self, run_id: str, offset: int, limit: int) -> tuple[str, int] | None:
        """Characters offset .. offset + limit of a run's message, and its length in characters (SQLite
        counts characters in text as Python does: a message holds no NUL and no lone surrogate)."""
        row = self._reader.execute(
            "SELECT substr(message, ?, ?), length(message) FROM runs WHERE run_id = ?", (offset + 1, limit, run_id)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def message_lengths(self, run_ids: list[str]) -> dict[str, int]:
        """Each run's whole message length in characters (records carry only a preview)."""
        rows = self._reader.execute(
            "SELECT run_id, length(message) FROM runs WHERE run_id IN (SELECT value FROM json_each(?))",
            (json.dumps(run_ids),),
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def run(self, run_id: str) -> RunRecord | None:
        row = self._reader.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else run_of(row)

    def history(self, name: str, limit: int, before: tuple[str, int] | None = None) -> list[tuple[RunRecord, int]]:
        """The agent's runs, newest first, with each one's place (rowid): a page starts after `before`,
        the (queued_at, rowid) of the last run of the page before it, so runs added meanwhile do not
        shift the pages."""
        after = "" if before is None else " AND (queued_at < ? OR (queued_at = ? AND rowid < ?))"
        rows = self._reader.execute(
            f"SELECT {_RUN_COLUMNS}, rowid AS place FROM runs WHERE agent = ?{after}"
            " ORDER BY queued_at DESC, rowid DESC LIMIT ?",
            (name, *(() if before is None else (before[0], before[0], before[1])), limit),
        ).fetchall()
        return [(run_of(row), row["place"]) for row in rows]

    def active_counts(self) -> dict[str, ActiveCounts]:
        """Running and queued runs per agent (casefolded), across every server on this store."""
        rows = self._reader.execute(
            f"SELECT agent, sum(status IN ({_RUNNING})), sum(status = 'queued'), sum(status = 'waiting_permission')"
            f" FROM runs WHERE status IN ({_ACTIVE}) GROUP BY agent COLLATE NOCASE"
        ).fetchall()
        return {row[0].casefold(): ActiveCounts(row[1], row[2], row[3]) for row in rows}

    def active_owners(self, name: str | None = None) -> set[str]:
        """The owners of queued or running runs (of one agent, or of all)."""
        query = f"SELECT DISTINCT owner FROM runs WHERE status IN ({_ACTIVE})"
        rows = (
            self._reader.execute(query, ()) if name is None else self._reader.execute(query + " AND agent = ?", (name,))
        )
        return {row[0] for row in rows}

    def dead_owners(self) -> list[str]:
        """Other servers that left runs queued or running and are gone."""
        return [owner for owner in self.active_owners() if owner != self.owner and not owner_alive(owner)]

    @on_writer
    def mark_interrupted(self, dead: list[str], finished_at: str) -> int:
        """Runs left queued or running by a server that is gone: say so, rather than leave them."""
        with self._transaction() as db:
            cursor = db.executemany(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error_kind = 'interrupted',"
                " error = '[interrupted] the agent-mcp server running this message stopped before it finished'"
                f" WHERE owner = ? AND status IN ({_ACTIVE})",
                [(finished_at, owner) for owner in dead],
            )
        log.info("marked %d runs of stopped servers as interrupted", cursor.rowcount)
        return cursor.rowcount


_RUNNING = "'running', 'waiting_permission'"
_ACTIVE = f"'queued', {_RUNNING}"
"""The statuses of a run that has not finished."""

# A stored message can be 4 MiB: only its preview is read back.
_RUN_COLUMNS = (
    f"run_id, agent, status, substr(message, 1, {MESSAGE_PREVIEW}) AS message, queued_at, started_at, finished_at,"
    " response, error, error_kind, permission_requests"
)


def _record_session(db: sqlite3.Connection, name: str, session_id: str, seen_at: str) -> None:
    db.execute("UPDATE agents SET session_id = ? WHERE name = ?", (session_id, name))
    db.execute(
        "INSERT OR IGNORE INTO sessions (agent, session_id, first_seen) VALUES (?, ?, ?)", (name, session_id, seen_at)
    )
