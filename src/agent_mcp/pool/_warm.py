"""Warm agents: an agent's claude process kept alive between its messages.

Starting the CLI and reloading its session is most of what a short message costs (~0.6 s against
~0.06 s for a turn in a live process), and it restarts every MCP server the agent was given. So
after a turn its process waits here for the agent's next message, for up to the TTL, and at most
`max_warm` of them at once (the least recently used goes first). A waiting process counts against
no concurrency slot, holds its agent's lock (see locks.py; another server that wants the agent
makes it let go), and is ended cleanly: stdin closed, then the usual ladder.

A process is only ever reused for the same claude command line, working directory, session and box:
anything else (reset_agent, options or a cwd that now resolves elsewhere) ends it instead, and so
does one that wrote on its output between turns (the CLI does not: someone else did).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from agent_mcp.pool._background import Background
from agent_mcp.pool._locks import AgentLocks
from agent_mcp.processes.process import AgentProcess
from agent_mcp.processes.sandbox import BoxView

log = logging.getLogger(__name__)

WANTED_POLL_S = 0.2


@dataclass(frozen=True)
class WarmKey:
    """What a process was started for: reused only for exactly the same."""

    argv: tuple[str, ...]
    """The CLI's command line without --resume (a warm process has the conversation in memory)."""
    host: str | None
    cwd: str
    session_id: str | None
    box: BoxView | None = None
    """What its sandbox shows (processes/sandbox.py): an agent created since is hidden only from new boxes."""


@dataclass(eq=False)
class _Idle:
    name: str
    key: WarmKey
    process: AgentProcess
    since: float = field(default_factory=time.monotonic)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    taken: bool = False
    gone: anyio.Event = field(default_factory=anyio.Event)


class WarmProcesses:
    def __init__(self, ttl_s: float, max_warm: int, locks: AgentLocks) -> None:
        self.ttl_s = ttl_s
        self.max_warm = max_warm
        self.locks = locks
        self._idle: dict[str, _Idle] = {}  # casefolded name -> its waiting process
        self._background = Background("warm processes")
        self.generation = 0
        """Changes whenever an agent becomes warm or stops being so (the listing's cache reads it)."""

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WarmProcesses]:
        """Leaving it ends every waiting process."""
        async with self._background.running():
            yield self

    @property
    def count(self) -> int:
        return len(self._idle)

    def is_warm(self, name: str) -> bool:
        return name.casefold() in self._idle

    async def take(self, name: str, key: WarmKey) -> AgentProcess | None:
        """The agent's waiting process, if it was started for `key` and still lives; any other is
        ended first (two processes never hold one session). The caller's run holds the agent's
        lock, so the process's own hold is let go."""
        idle = self._idle.pop(name.casefold(), None)
        if idle is None:
            return None
        self.generation += 1
        if idle.key != key or not idle.process.reusable:
            log.info("ending the warm claude of %s: %s", name, "it changed" if idle.key != key else "not reusable")
            idle.scope.cancel()  # its keeper ends it
            await idle.gone.wait()
            return None
        idle.taken = True
        idle.scope.cancel()
        self.locks.release(name)
        await idle.process.settle()  # what it wrote while it waited counts too
        if not idle.process.reusable:
            log.info("ending the warm claude of %s: it wrote on its output while it waited", name)
            await idle.process.end()
            return None
        return idle.process

    async def keep(self, name: str, key: WarmKey, process: AgentProcess) -> None:
        """After a turn that ended well: the process waits for the agent's next message, unless warm
        agents are off, it is gone, or another server wants the agent; then it is ended now."""
        if not self._background.live or self.ttl_s <= 0 or not process.reusable or self.locks.wanted(name):
            await process.end()
            return
        self.locks.hold(name)
        idle = _Idle(name, key, process)
        self._idle[name.casefold()] = idle
        self.generation += 1
        self._background.start_soon(self._wait, idle, name=f"warm claude of {name}")
        while len(self._idle) > self.max_warm:
            oldest = min(self._idle.values(), key=lambda entry: entry.since)
            log.info("more than %d warm claude processes: ending %s's", self.max_warm, oldest.name)
            self._drop(oldest)

    async def end(self, name: str) -> None:
        """End the agent's waiting process, if any, and wait until it is gone."""
        idle = self._idle.get(name.casefold())
        if idle is not None:
            self._drop(idle)
            await idle.gone.wait()

    def _drop(self, idle: _Idle) -> None:
        if self._idle.get(idle.name.casefold()) is idle:
            del self._idle[idle.name.casefold()]
            self.generation += 1
        idle.scope.cancel()

    async def _wait(self, idle: _Idle) -> None:
        """Until the TTL runs out, the process exits, another server wants the agent, or the
        process is taken or dropped; then, unless taken, it is ended."""
        try:
            with idle.scope:
                deadline = idle.since + self.ttl_s
                while idle.process.reusable and not self.locks.wanted(idle.name):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    await idle.process.idle(min(left, WANTED_POLL_S))
        finally:
            if not idle.taken:
                self._drop(idle)
                with anyio.CancelScope(shield=True):
                    await idle.process.end()
                self.locks.release(idle.name)
            idle.gone.set()
