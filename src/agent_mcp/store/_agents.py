"""The agents: one row each, its name unique ignoring case; its run history and every table that
names it go with it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from operator import attrgetter

from agent_mcp.core.rows import AgentRecord, agent_of
from agent_mcp.store._writing import on_writer
from agent_mcp.store.file import StoreFile


class Agents:
    def __init__(self, file: StoreFile) -> None:
        self._file = file

    @on_writer
    def add(self, agent: AgentRecord) -> bool:
        """False when the name is taken (ignoring case), perhaps just now by another server."""
        try:
            with self._file.transaction() as db:
                db.execute(
                    "INSERT INTO agents (name, role, cwd, options, created_at, worktree, host, sandbox, cli)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        agent.name,
                        agent.role,
                        agent.cwd,
                        agent.options.model_dump_json(),
                        agent.created_at,
                        json.dumps(asdict(agent.worktree)) if agent.worktree else None,
                        agent.host,
                        agent.sandbox,
                        agent.cli,
                    ),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def get(self, name: str) -> AgentRecord | None:
        agents = self._select(name)
        return agents[0] if agents else None

    def all(self) -> list[AgentRecord]:
        """Every agent, sorted by name."""
        return self._select(None)

    def _select(self, name: str | None) -> list[AgentRecord]:
        """Every agent (or the one named), sorted by name."""
        if name is None:
            cursor = self._file.reader.execute("SELECT * FROM agents")
        else:
            cursor = self._file.reader.execute("SELECT * FROM agents WHERE name = ?", (name,))
        return sorted(map(agent_of, cursor), key=attrgetter("name"))

    def count(self) -> int:
        return int(self._file.reader.execute("SELECT count(*) FROM agents").fetchone()[0])

    @on_writer
    def delete(self, name: str) -> None:
        with self._file.transaction() as db:
            for table in ("replies", "events"):
                db.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM runs WHERE agent = ?)", (name,))
            for table, column in (("agents", "name"), ("runs", "agent"), ("sessions", "agent")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))

    @on_writer
    def allow_always(self, name: str, tool: str) -> None:
        with self._file.transaction() as db:
            row = db.execute("SELECT always_allowed FROM agents WHERE name = ?", (name,)).fetchone()
            if row is not None and tool not in (allowed := json.loads(row[0])):
                db.execute("UPDATE agents SET always_allowed = ? WHERE name = ?", (json.dumps([*allowed, tool]), name))
