"""Whole answers too long to hold: a run's response keeps their head and tail, the replies table the
whole text (UTF-8), written and read a block at a time, never whole in memory."""

from __future__ import annotations

import sqlite3

from agent_mcp.core.long_strings import StoredText, WholeText
from agent_mcp.store.file import StoreFile

KEPT_INDEXES = 64
"""Character indexes of stored replies kept (StoredText): a few integers per MiB each."""


class Replies:
    def __init__(self, file: StoreFile) -> None:
        self._file = file
        self._indexes: dict[str, list[int]] = {}
        """The latest replies read by page, their character indexes, oldest first."""

    def page(self, run_id: str, offset: int, limit: int) -> tuple[str, int] | None:
        """Characters offset .. offset + limit of a run's whole answer, and its length in characters,
        read from its blob a block at a time (never the whole); None for a run without one."""
        row = self._file.reader.execute("SELECT rowid FROM replies WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        with self._file.reader.blobopen("replies", "text", row[0], readonly=True) as blob:
            text = StoredText(blob, self._indexes.pop(run_id, None))
            self._indexes[run_id] = text.marks
            if len(self._indexes) > KEPT_INDEXES:
                del self._indexes[next(iter(self._indexes))]
            return text.page(offset, limit), text.chars

    def whole(self, run_id: str) -> str | None:
        """The whole answer of a run whose response holds only its ends; None for any other run."""
        row = self._file.reader.execute("SELECT text FROM replies WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0]).decode("utf-8", "surrogatepass")


def insert_whole(db: sqlite3.Connection, run_id: str, whole: WholeText) -> None:
    """Inside the caller's write transaction (the run's outcome): from its file, a block at a time."""
    cursor = db.execute("INSERT INTO replies (run_id, text) VALUES (?, zeroblob(?))", (run_id, whole.size))
    whole.file.seek(0)
    assert cursor.lastrowid is not None
    with db.blobopen("replies", "text", cursor.lastrowid) as blob:
        while block := whole.file.read(1 << 20):
            blob.write(block)
