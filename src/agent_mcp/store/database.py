"""The store as the pool is given it: its file, opened once, and one part per job, all sharing it."""

from __future__ import annotations

import os
from pathlib import Path

from agent_mcp.store._accounts import Accounts, Spent
from agent_mcp.store._agents import Agents
from agent_mcp.store._commands import Commands
from agent_mcp.store._events import Events
from agent_mcp.store._replies import Replies
from agent_mcp.store._runs import Runs
from agent_mcp.store._sessions import Sessions
from agent_mcp.store.file import StoreFile
from agent_mcp.store.owners import owner_of

__all__ = ["DB_NAME", "Spent", "Store"]

DB_NAME = "agent-mcp.sqlite3"


class Store:
    def __init__(self, state_dir: Path, owner: str) -> None:
        self.owner = owner
        """This server on this store (owners.owner_of): every run it adds records it."""
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.file = StoreFile(state_dir / DB_NAME)
        self.agents = Agents(self.file)
        self.sessions = Sessions(self.file)
        self.runs = Runs(self.file, owner)
        self.events = Events(self.file)
        """Runs' transcripts."""
        self.replies = Replies(self.file)
        """Whole answers too long to hold in a run's response."""
        self.commands = Commands(self.file)
        """Commands to the server that owns a run."""
        self.accounts = Accounts(self.file)
        """The accounts' usage limits and the pool's spend."""

    def close(self) -> None:
        self.file.close()

    @classmethod
    def open_checked(cls, state_dir: Path) -> None:
        """Open, check every page, close: what a server does once before it serves, so a damaged
        store stops it with one line rather than a traceback the client never shows."""
        store = cls(state_dir, owner_of(os.getpid()))
        try:
            store.file.check()
        finally:
            store.close()
