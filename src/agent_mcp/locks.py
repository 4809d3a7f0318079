"""Lock files that several agent-mcp servers on one state directory share.

flock, because the kernel drops the lock when its holder dies: a killed server never leaves a
name or an agent locked.

An agent's lock is held while a run of it executes and for as long as its warm claude process
lives (that process holds the conversation in memory: another server resuming the session from
disk meanwhile would fork it). A server that has to wait for the lock says so with a marker file,
and the holder ends its idle warm process rather than keep the other waiting for its TTL.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

POLL_S = 0.1


async def _locked(path: Path, while_waiting: Callable[[], None] | None = None) -> int:
    """An open descriptor of the file, holding its lock. Polled rather than blocking, so a waiter
    stays cancellable and holds no thread; while_waiting is called on each poll that finds it held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if while_waiting is not None:
                    while_waiting()
                await anyio.sleep(POLL_S)
    except BaseException:
        os.close(fd)
        raise


@asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    fd = await _locked(path)
    try:
        yield
    finally:
        os.close(fd)


class AgentLocks:
    """This server's holds on agents' lock files, counted: a run and the agent's warm process may
    hold the one lock together, and it is let go when the last of them does."""

    def __init__(self, lock_dir: Path) -> None:
        self.lock_dir = lock_dir
        self._held: dict[str, list[int]] = {}  # casefolded name -> [fd, holds]

    def _path(self, name: str) -> Path:
        return self.lock_dir / f"{name.casefold()}.lock"

    def _marker(self, name: str) -> Path:
        return self.lock_dir / f"{name.casefold()}.wanted"

    def wanted(self, name: str) -> bool:
        """Whether another server waits for this agent's lock."""
        return self._marker(name).exists()

    async def acquire(self, name: str) -> None:
        held = self._held.get(name.casefold())
        if held is not None:
            held[1] += 1
            return
        marker = self._marker(name)
        try:
            fd = await _locked(self._path(name), lambda: marker.touch(mode=0o600))
        finally:
            marker.unlink(missing_ok=True)
        self._held[name.casefold()] = [fd, 1]

    def hold(self, name: str) -> None:
        """One more hold on a lock this server has."""
        self._held[name.casefold()][1] += 1

    def release(self, name: str) -> None:
        held = self._held[name.casefold()]
        held[1] -= 1
        if held[1] == 0:
            os.close(held[0])
            del self._held[name.casefold()]
