"""Runs: every message's run, queued, running, finished, with the server that owns it (owners.py).

A finished run is written in one transaction with all it changes (its whole answer, the agent's
session and totals, by SQL increments): the package's docstring says why.
"""

from __future__ import annotations

import json
import logging

from agent_mcp.core.long_strings import WholeText
from agent_mcp.core.rows import MESSAGE_PREVIEW, ActiveCounts, RunRecord, run_of
from agent_mcp.store._replies import insert_whole
from agent_mcp.store._sessions import record_session
from agent_mcp.store._writing import on_writer
from agent_mcp.store.file import StoreFile
from agent_mcp.store.owners import owner_alive

log = logging.getLogger(__name__)

_RUNNING = "'running', 'waiting_permission'"
_ACTIVE = f"'queued', {_RUNNING}"
"""The statuses of a run that has not finished."""

# A stored message can be 4 MiB: only its preview is read back.
_RUN_COLUMNS = (
    f"run_id, agent, status, substr(message, 1, {MESSAGE_PREVIEW}) AS message, queued_at, started_at, finished_at,"
    " response, error, error_kind, permission_requests, resets_at"
)


class Runs:
    def __init__(self, file: StoreFile, owner: str) -> None:
        self._file = file
        self._owner = owner
        """This server (owners.owner_of): the owner of the runs it adds."""

    @on_writer
    def add(self, run: RunRecord) -> None:
        with self._file.transaction() as db:
            db.execute(
                "INSERT INTO runs (run_id, agent, message, status, queued_at, owner) VALUES (?, ?, ?, ?, ?, ?)",
                (run.run_id, run.agent, run.message, run.status, run.queued_at, self._owner),
            )

    @on_writer
    def started(self, run_id: str, started_at: str) -> None:
        with self._file.transaction() as db:
            db.execute("UPDATE runs SET status = 'running', started_at = ? WHERE run_id = ?", (started_at, run_id))

    @on_writer
    def held_back(self, run_id: str) -> None:
        """A run its account's usage limit stopped before it did anything: queued again, to run after the reset."""
        with self._file.transaction() as db:
            db.execute(
                f"UPDATE runs SET status = 'queued', started_at = NULL WHERE run_id = ? AND status IN ({_RUNNING})",
                (run_id,),
            )

    @on_writer
    def set_waiting(self, run_id: str, waiting: bool) -> None:
        """A running run waits for a permission answer, or has got it: other servers see it too."""
        with self._file.transaction() as db:
            db.execute(
                f"UPDATE runs SET status = ? WHERE run_id = ? AND status IN ({_RUNNING})",
                ("waiting_permission" if waiting else "running", run_id),
            )

    @on_writer
    def finished(self, run: RunRecord, session_id: str | None, whole: WholeText | None = None) -> None:
        """The run, the agent's session and its totals, in one transaction; an answer too long to hold
        goes into the replies table from its file, a block at a time."""
        response = run.response
        with self._file.transaction() as db:
            if whole is not None:
                insert_whole(db, run.run_id, whole)
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, response = ?, error = ?, error_kind = ?, started_at = ?,"
                " permission_requests = ?, resets_at = ? WHERE run_id = ?",
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
                    run.resets_at,
                    run.run_id,
                ),
            )
            if session_id is not None:
                record_session(db, run.agent, session_id, run.finished_at or run.queued_at)
            if response is None and run.started_at is not None:  # its CLI ran, and may have spent: unknown
                db.execute(
                    "INSERT INTO spend (at, agent, cost_usd) VALUES (?, ?, NULL)",
                    (run.finished_at or run.queued_at, run.agent),
                )
            if response is not None:
                db.execute(
                    "INSERT INTO spend (at, agent, cost_usd) VALUES (?, ?, ?)",
                    (run.finished_at or run.queued_at, run.agent, response.cost_usd),
                )
                db.execute(
                    "UPDATE agents SET message_count = message_count + 1,"
                    " total_cost_usd = total_cost_usd + coalesce(?, 0), total_input_tokens = total_input_tokens + ?,"
                    " total_output_tokens = total_output_tokens + ?,"
                    " total_cache_creation_input_tokens = total_cache_creation_input_tokens + ?,"
                    " total_cache_read_input_tokens = total_cache_read_input_tokens + ? WHERE name = ?",
                    (
                        response.cost_usd or 0.0,  # a CLI that reports no cost adds none
                        response.input_tokens,
                        response.output_tokens,
                        response.cache_creation_input_tokens,
                        response.cache_read_input_tokens,
                        run.agent,
                    ),
                )

    def message(self, run_id: str) -> str | None:
        """The whole message of a run (records carry only its preview)."""
        row = self._file.reader.execute("SELECT message FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else str(row[0])

    def message_part(self, run_id: str, offset: int, limit: int) -> tuple[str, int] | None:
        """Characters offset .. offset + limit of a run's message, and its length in characters (SQLite
        counts characters in text as Python does: a message holds no NUL and no lone surrogate)."""
        row = self._file.reader.execute(
            "SELECT substr(message, ?, ?), length(message) FROM runs WHERE run_id = ?", (offset + 1, limit, run_id)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def message_lengths(self, run_ids: list[str]) -> dict[str, int]:
        """Each run's whole message length in characters (records carry only a preview)."""
        rows = self._file.reader.execute(
            "SELECT run_id, length(message) FROM runs WHERE run_id IN (SELECT value FROM json_each(?))",
            (json.dumps(run_ids),),
        ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def get(self, run_id: str) -> RunRecord | None:
        row = self._file.reader.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else run_of(row)

    def history(self, name: str, limit: int, before: tuple[str, int] | None = None) -> list[tuple[RunRecord, int]]:
        """The agent's runs, newest first, with each one's place (rowid): a page starts after `before`,
        the (queued_at, rowid) of the last run of the page before it, so runs added meanwhile do not
        shift the pages."""
        after = "" if before is None else " AND (queued_at < ? OR (queued_at = ? AND rowid < ?))"
        rows = self._file.reader.execute(
            f"SELECT {_RUN_COLUMNS}, rowid AS place FROM runs WHERE agent = ?{after}"
            " ORDER BY queued_at DESC, rowid DESC LIMIT ?",
            (name, *(() if before is None else (before[0], before[0], before[1])), limit),
        ).fetchall()
        return [(run_of(row), row["place"]) for row in rows]

    def active_counts(self) -> dict[str, ActiveCounts]:
        """Running and queued runs per agent (casefolded), across every server on this store."""
        rows = self._file.reader.execute(
            f"SELECT agent, sum(status IN ({_RUNNING})), sum(status = 'queued'), sum(status = 'waiting_permission')"
            f" FROM runs WHERE status IN ({_ACTIVE}) GROUP BY agent COLLATE NOCASE"
        ).fetchall()
        return {row[0].casefold(): ActiveCounts(row[1], row[2], row[3]) for row in rows}

    def activity(self) -> dict[str, tuple[str, str | None]]:
        """Per agent (casefolded): when it last did anything, and the latest step of its running run."""
        last = self._file.reader.execute(
            "SELECT agent, max(coalesce(finished_at, started_at, queued_at)) FROM runs GROUP BY agent COLLATE NOCASE"
        ).fetchall()
        steps = self._file.reader.execute(
            "SELECT r.agent, e.summary FROM runs r JOIN events e ON e.run_id = r.run_id"
            " WHERE r.status IN ('running', 'waiting_permission')"
            " AND e.seq = (SELECT max(seq) FROM events WHERE run_id = r.run_id)"
        ).fetchall()
        step = {agent.casefold(): summary for agent, summary in steps}
        return {agent.casefold(): (at, step.get(agent.casefold())) for agent, at in last}

    def owner_of(self, run_id: str) -> str | None:
        """The server that owns the run (owners.owner_of), whichever server asks."""
        row = self._file.reader.execute("SELECT owner FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else str(row[0])

    def active_owners(self, name: str | None = None) -> set[str]:
        """The owners of queued or running runs (of one agent, or of all)."""
        query = f"SELECT DISTINCT owner FROM runs WHERE status IN ({_ACTIVE})"
        reader = self._file.reader
        rows = reader.execute(query, ()) if name is None else reader.execute(query + " AND agent = ?", (name,))
        return {row[0] for row in rows}

    def dead_owners(self) -> list[str]:
        """Other servers that left runs queued or running and are gone."""
        return [owner for owner in self.active_owners() if owner != self._owner and not owner_alive(owner)]

    @on_writer
    def mark_interrupted(self, dead: list[str], finished_at: str) -> int:
        """Runs left queued or running by a server that is gone: say so, rather than leave them."""
        with self._file.transaction() as db:
            cursor = db.executemany(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error_kind = 'interrupted',"
                " error = '[interrupted] the agent-mcp server running this message stopped before it finished'"
                f" WHERE owner = ? AND status IN ({_ACTIVE})",
                [(finished_at, owner) for owner in dead],
            )
        log.info("marked %d runs of stopped servers as interrupted", cursor.rowcount)
        return cursor.rowcount
