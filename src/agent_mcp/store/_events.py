"""Runs' transcripts: each run's events in order (agents/claude/_transcript.py makes them), at most a
set number per run, and only for an agent's newest runs."""

from __future__ import annotations

import sqlite3

from agent_mcp.core.rows import Entry
from agent_mcp.store._writing import on_writer
from agent_mcp.store.file import StoreFile


class Events:
    def __init__(self, file: StoreFile) -> None:
        self._file = file

    @on_writer
    def add(self, run_id: str, at: str, entries: list[Entry], most: int) -> None:
        """Appended in order. Event `most` is the last one kept: a `cut` that counts what else came."""
        with self._file.transaction() as db:
            last = int(db.execute("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0])
            kept = entries[: max(0, most - 1 - last)]
            rows = [(run_id, last + i + 1, at, e.kind, e.summary, e.content, e.chars) for i, e in enumerate(kept)]
            if over := len(entries) - len(kept):
                row = db.execute("SELECT chars FROM events WHERE run_id = ? AND seq = ?", (run_id, most)).fetchone()
                over += row[0] if row else 0
                rows.append((run_id, most, at, "cut", f"{over} more events not kept", "", over))
            db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def read(self, run_id: str, after: int, limit: int) -> list[sqlite3.Row]:
        """The run's events after seq `after`, in order, at most `limit`."""
        return self._file.reader.execute(
            "SELECT seq, at, kind, summary, content, chars FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"
            " LIMIT ?",
            (run_id, after, limit),
        ).fetchall()

    @on_writer
    def prune(self, name: str, keep: int) -> None:
        """Only the transcripts of the agent's newest `keep` runs stay (the runs themselves do)."""
        with self._file.transaction() as db:
            db.execute(
                "DELETE FROM events WHERE run_id IN (SELECT run_id FROM runs WHERE agent = ?"
                " ORDER BY queued_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
                (name, keep),
            )
