"""The store's file: created whole, opened, and checked page by page.

A new store is built under a temporary name and linked into place complete, so an empty file where
the store should be is never agent-mcp's own doing; damage found on opening or by SQLite's own
checks is raised as StoreDamaged, whose one line says how to start afresh.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from contextlib import suppress
from pathlib import Path


def create(path: Path) -> None:
    """Build the store's file under a temporary name, then link it into place whole: a server killed
    half-way leaves only the temporary file, and of two servers creating it at once one wins."""
    building = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.new")
    try:
        db = connect(building)
        db.execute("PRAGMA user_version = 0")
        db.execute("CREATE TABLE IF NOT EXISTS creating (x)")  # forces the header onto the disk
        db.execute("DROP TABLE creating")
        db.close()
        with suppress(FileExistsError):  # another server linked its own a moment ago: use that one
            os.link(building, path)
    finally:
        for leftover in (building, *(building.with_name(building.name + suffix) for suffix in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


class StoreUnusable(Exception):
    """The server cannot start on this store; the message is one line: the problem, then the fix."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}; {fix}")


class StoreDamaged(StoreUnusable):
    """The store cannot be trusted, and is never written to."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"the store {path} {problem}",
            f"agent-mcp left it as it is: move it aside to start with an empty store (mv {path} {path}.damaged), "
            "or restore a backup of it",
        )


def check_pages(db: sqlite3.Connection, path: Path, pragma: str) -> None:
    """quick_check or integrity_check; StoreDamaged with the first problems found."""
    try:
        found = [row[0] for row in db.execute(f"PRAGMA {pragma}(5)")]
    except sqlite3.DatabaseError as exc:
        raise StoreDamaged(path, f"is damaged ({exc})") from None
    if found != ["ok"]:
        raise StoreDamaged(path, f"is damaged (SQLite's {pragma}: {'; '.join(found)})")
