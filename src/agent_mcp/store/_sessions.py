"""An agent's conversations with its CLI: the one its next run resumes (agents.session_id) and every
one it has had (sessions), so that two agents never share a conversation."""

from __future__ import annotations

import json
import sqlite3

from agent_mcp.store._writing import on_writer
from agent_mcp.store.file import StoreFile


class Sessions:
    def __init__(self, file: StoreFile) -> None:
        self._file = file

    @on_writer
    def record(self, name: str, session_id: str, seen_at: str) -> None:
        """Recorded as soon as the CLI names it: a server killed mid-run still resumes it later."""
        with self._file.transaction() as db:
            record_session(db, name, session_id, seen_at)

    @on_writer
    def reset(self, name: str) -> None:
        """The agent's next run starts a new conversation; the ones it had are remembered."""
        with self._file.transaction() as db:
            db.execute("UPDATE agents SET session_id = NULL WHERE name = ?", (name,))

    def holder(self, session_id: str, name: str) -> str | None:
        """Another agent that has had this session, if any: two agents never share a conversation."""
        row = self._file.reader.execute(
            "SELECT agent FROM sessions WHERE session_id = ? AND agent != ? LIMIT 1", (session_id, name)
        ).fetchone()
        return None if row is None else str(row[0])

    @on_writer
    def set_reported(self, name: str, session_id: str, totals: dict[str, int]) -> None:
        """The running totals the CLI reported for the session at the end of its last turn."""
        with self._file.transaction() as db:
            db.execute(
                "UPDATE sessions SET usage = ? WHERE agent = ? AND session_id = ?",
                (json.dumps(totals), name, session_id),
            )

    def reported(self, name: str, session_id: str) -> dict[str, int]:
        """What set_reported last kept for the session (nothing: none yet)."""
        row = self._file.reader.execute(
            "SELECT usage FROM sessions WHERE agent = ? AND session_id = ?", (name, session_id)
        ).fetchone()
        totals = json.loads(row[0]) if row is not None and row[0] else {}
        return {key: value for key, value in totals.items() if isinstance(value, int)}

    def of(self, name: str) -> list[str]:
        """Every session the agent has had, oldest first."""
        rows = self._file.reader.execute(
            "SELECT session_id FROM sessions WHERE agent = ? ORDER BY first_seen, rowid", (name,)
        ).fetchall()
        return [row[0] for row in rows]


def record_session(db: sqlite3.Connection, name: str, session_id: str, seen_at: str) -> None:
    """Inside the caller's write transaction (a finished run records its session with its outcome)."""
    db.execute("UPDATE agents SET session_id = ? WHERE name = ?", (session_id, name))
    db.execute(
        "INSERT OR IGNORE INTO sessions (agent, session_id, first_seen) VALUES (?, ?, ?)", (name, session_id, seen_at)
    )
