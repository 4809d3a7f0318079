"""Commands to the server that owns a run, from another server on the store (pool/_commands.py): a row
addressed to the owner, which writes the outcome into it for the asker to read."""

from __future__ import annotations

import json

from agent_mcp.core.rows import Command
from agent_mcp.store._writing import on_writer
from agent_mcp.store.file import StoreFile


class Commands:
    def __init__(self, file: StoreFile) -> None:
        self._file = file

    @on_writer
    def add(self, run_id: str, owner: str, action: str, payload: str, at: str) -> int:
        with self._file.transaction() as db:
            cursor = db.execute(
                "INSERT INTO commands (run_id, owner, action, payload, asked_at) VALUES (?, ?, ?, ?, ?)",
                (run_id, owner, action, payload, at),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def addressed_to(self, owner: str) -> list[Command]:
        """The owner's commands not yet carried out, oldest first."""
        rows = self._file.reader.execute(
            "SELECT id, run_id, action, payload FROM commands WHERE owner = ? AND done_kind IS NULL ORDER BY id",
            (owner,),
        ).fetchall()
        return [Command(row[0], row[1], row[2], json.loads(row[3])) for row in rows]

    @on_writer
    def done(self, command_id: int, kind: str, message: str) -> None:
        with self._file.transaction() as db:
            db.execute("UPDATE commands SET done_kind = ?, done_message = ? WHERE id = ?", (kind, message, command_id))

    def outcome(self, command_id: int) -> tuple[str, str] | None:
        """The refusal's kind and message ("" and "" for success), once the owner has carried it out."""
        row = self._file.reader.execute(
            "SELECT done_kind, done_message FROM commands WHERE id = ?", (command_id,)
        ).fetchone()
        return None if row is None or row[0] is None else (str(row[0]), str(row[1]))

    @on_writer
    def drop(self, command_id: int) -> None:
        with self._file.transaction() as db:
            db.execute("DELETE FROM commands WHERE id = ?", (command_id,))
