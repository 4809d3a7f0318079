"""The store's tables beside agents and runs: whole answers too long to hold, runs' transcripts, and
commands to the server that owns a run. Store (store.py) has them; they share its connections."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

import anyio

from agent_mcp.core.long_strings import StoredText
from agent_mcp.core.rows import Entry
from agent_mcp.pool.commands import Command
from agent_mcp.store.writing import on_writer

KEPT_INDEXES = 64
"""Character indexes of stored replies kept (StoredText): a few integers per MiB each."""


class SideTables:
    _reader: sqlite3.Connection
    _write_limiter: anyio.CapacityLimiter | None
    _reply_indexes: dict[str, list[int]]
    """Store's: the latest replies read by page, their character indexes, oldest first."""

    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    """Store's: one write transaction on the writer connection."""

    @on_writer
    def add_events(self, run_id: str, at: str, entries: list[Entry], most: int) -> None:
        """Appended in order. Event `most` is the last one kept: a `cut` that counts what else came."""
        with self._transaction() as db:
            last = int(db.execute("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0])
            kept = entries[: max(0, most - 1 - last)]
            rows = [(run_id, last + i + 1, at, e.kind, e.summary, e.content, e.chars) for i, e in enumerate(kept)]
            if over := len(entries) - len(kept):
                row = db.execute("SELECT chars FROM events WHERE run_id = ? AND seq = ?", (run_id, most)).fetchone()
                over += row[0] if row else 0
                rows.append((run_id, most, at, "cut", f"{over} more events not kept", "", over))
            db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def activity(self) -> dict[str, tuple[str, str | None]]:
        """Per agent (casefolded): when it last did anything, and the latest step of its running run."""
        last = self._reader.execute(
            "SELECT agent, max(coalesce(finished_at, started_at, queued_at)) FROM runs GROUP BY agent COLLATE NOCASE"
        ).fetchall()
        steps = self._reader.execute(
            "SELECT r.agent, e.summary FROM runs r JOIN events e ON e.run_id = r.run_id"
            " WHERE r.status IN ('running', 'waiting_permission')"
            " AND e.seq = (SELECT max(seq) FROM events WHERE run_id = r.run_id)"
        ).fetchall()
        step = {agent.casefold(): summary for agent, summary in steps}
        return {agent.casefold(): (at, step.get(agent.casefold())) for agent, at in last}

    def events(self, run_id: str, after: int, limit: int) -> list[sqlite3.Row]:
        return self._reader.execute(
            "SELECT seq, at, kind, summary, content, chars FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"
            " LIMIT ?",
            (run_id, after, limit),
        ).fetchall()

    @on_writer
    def prune_transcripts(self, name: str, keep: int) -> None:
        """Only the transcripts of the agent's newest `keep` runs stay (the runs themselves do)."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM events WHERE run_id IN (SELECT run_id FROM runs WHERE agent = ?"
                " ORDER BY queued_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
                (name, keep),
            )

    # --- commands to a run's owner (commands.py) --------------------------------------------

    def run_owner(self, run_id: str) -> str | None:
        row = self._reader.execute("SELECT owner FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else str(row[0])

    @on_writer
    def add_command(self, run_id: str, owner: str, action: str, payload: str, at: str) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO commands (run_id, owner, action, payload, asked_at) VALUES (?, ?, ?, ?, ?)",
                (run_id, owner, action, payload, at),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def commands_for(self, owner: str) -> list[Command]:
        rows = self._reader.execute(
            "SELECT id, run_id, action, payload FROM commands WHERE owner = ? AND done_kind IS NULL ORDER BY id",
            (owner,),
        ).fetchall()
        return [Command(row[0], row[1], row[2], json.loads(row[3])) for row in rows]

    @on_writer
    def command_done(self, command_id: int, kind: str, message: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE commands SET done_kind = ?, done_message = ? WHERE id = ?", (kind, message, command_id))

    def command_outcome(self, command_id: int) -> tuple[str, str] | None:
        row = self._reader.execute(
            "SELECT done_kind, done_message FROM commands WHERE id = ?", (command_id,)
        ).fetchone()
        return None if row is None or row[0] is None else (str(row[0]), str(row[1]))

    @on_writer
    def drop_command(self, command_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM commands WHERE id = ?", (command_id,))

    def reply_page(self, run_id: str, offset: int, limit: int) -> tuple[str, int] | None:
        """Characters offset .. offset + limit of a run's whole answer, and its length in characters,
        read from its blob a block at a time (never the whole); None for a run without one."""
        row = self._reader.execute("SELECT rowid FROM replies WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        with self._reader.blobopen("replies", "text", row[0], readonly=True) as blob:
            text = StoredText(blob, self._reply_indexes.pop(run_id, None))
            self._reply_indexes[run_id] = text.marks
            if len(self._reply_indexes) > KEPT_INDEXES:
                del self._reply_indexes[next(iter(self._reply_indexes))]
            return text.page(offset, limit), text.chars

    def whole_reply(self, run_id: str) -> str | None:
        """The whole answer of a run whose response holds only its ends; None for any other run."""
        row = self._reader.execute("SELECT text FROM replies WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0]).decode("utf-8", "surrogatepass")
