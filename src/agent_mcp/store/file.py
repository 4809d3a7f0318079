"""The store's file: created whole, opened (its two connections, its write transactions, its schema
brought up to date), and checked page by page.

A new store is built under a temporary name and linked into place complete, so an empty file where
the store should be is never agent-mcp's own doing; damage found on opening or by SQLite's own
checks is raised as StoreDamaged, whose one line says how to start afresh.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import anyio

from agent_mcp.store.migrations import SCHEMA_VERSION, migrate


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


class StoreFile:
    """The store's file, open: the writer (used on the writer's thread, _writing.py) and the reader
    (used on the event loop), one write transaction at a time. Every part of the store shares one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            create(path)
        if path.stat().st_size == 0:
            raise StoreDamaged(path, "is empty (0 bytes), so it was truncated: the agents it held are gone")
        self.write_limiter: anyio.CapacityLimiter | None = None
        """Holds the writes to one at a time on the writer's thread; made by the first write (on the loop)."""
        try:
            self._writer = connect(path)
        except sqlite3.DatabaseError as exc:
            raise StoreDamaged(path, f"is damaged ({exc})") from None
        try:
            self._migrate()
            self.reader = connect(path)
        except sqlite3.DatabaseError as exc:
            self._writer.close()
            raise StoreDamaged(path, f"is damaged ({exc})") from None
        except BaseException:
            self._writer.close()
            raise

    def check(self, full: bool = False) -> None:
        """SQLite's own check of every page (quick_check; with full, integrity_check, which also
        checks the indexes against the tables). Raises StoreDamaged with what it found."""
        check_pages(self.reader, self.path, "integrity_check" if full else "quick_check")

    def close(self) -> None:
        self.reader.close()
        self._writer.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer: committed whole, or rolled back whole."""
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
        return int(self.reader.execute("PRAGMA data_version").fetchone()[0])

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
        with self.transaction() as db:
            migrate(db, self.path)

    @property
    def version(self) -> int:
        return int(self.reader.execute("PRAGMA user_version").fetchone()[0])
