"""Lock files that several agent-mcp servers on one state directory share.

flock, because the kernel drops the lock when its holder dies: a killed server never leaves a
name or an agent locked.

Each kind of lock has a directory of its own under `locks/` (`agents/`, `creating/`, `wanted/`),
and a file there is named by the casefolded agent name alone: no agent name can be taken for
another lock's file (agent `x.create` once held `x`'s creation lock). A holder writes what it is
into the file, so a waiter that gives up can say what held it.

An agent's lock is held while a run of it executes and for as long as its warm claude process
lives (that process holds the conversation in memory: another server resuming the session from
disk meanwhile would fork it). A server that has to wait for the lock says so with a marker file,
and the holder ends its idle warm process rather than keep the other waiting for its TTL. A run
waits for its agent's lock as long as it takes (that is its place in the queue, and cancel_run
ends it); a tool call (create_agent, delete_agent) waits at most --lock-timeout, then is refused.

Lock files go with what they guard: a creation's when it ends, an agent's when it is deleted.
A file is only ever removed by a holder of its lock, and whoever gets a lock checks that its file
is still the one at the path (else it was removed meanwhile, and it locks the new one): so two
holders never each hold a file of their own for one name.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from agent_mcp.core.errors import Busy

POLL_S = 0.1
_HOLDER_BYTES = 300


def _is_file_at(fd: int, path: Path) -> bool:
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _holder(fd: int) -> str:
    said = os.pread(fd, _HOLDER_BYTES, 0).decode("utf-8", "replace").strip()
    return said or "another agent-mcp server (it did not say what it does)"


async def _locked(
    path: Path, holder: str, timeout_s: float | None, while_waiting: Callable[[], None] | None = None
) -> int:
    """An open descriptor of the file, holding its lock. Polled rather than blocking, so a waiter
    stays cancellable and holds no thread; while_waiting is called on each poll that finds it held.
    Busy, naming the holder, once timeout_s have passed (None: no limit)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = None if timeout_s is None else anyio.current_time() + timeout_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if while_waiting is not None:
                        while_waiting()
                    if deadline is not None and anyio.current_time() >= deadline:
                        raise Busy(
                            f"the lock file {str(path)!r} is held by {_holder(fd)}; waited {timeout_s:g} s for it "
                            "(AGENT_MCP_LOCK_TIMEOUT / --lock-timeout). Try again once that is done, or raise the limit"
                        ) from None
                    await anyio.sleep(POLL_S)
            if _is_file_at(fd, path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, holder.encode(), 0)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder removed it while this one waited: the lock is now the new file's


def _remove(path: Path, fd: int) -> None:
    """Only while fd holds the file's lock (the module's docstring says why)."""
    path.unlink(missing_ok=True)
    os.close(fd)


class AgentLocks:
    """This server's holds on agents' lock files, counted: a run and the agent's warm process may
    hold the one lock together, and it is let go when the last of them does."""

    def __init__(self, lock_dir: Path, timeout_s: float) -> None:
        self.lock_dir = lock_dir
        self.timeout_s = timeout_s
        self._held: dict[str, list[int]] = {}  # casefolded name -> [fd, holds]

    def _path(self, kind: str, name: str) -> Path:
        return self.lock_dir / kind / name.casefold()

    def _doing(self, what: str) -> str:
        return f"{what} in the agent-mcp server with pid {os.getpid()}"

    def wanted(self, name: str) -> bool:
        """Whether another server waits for this agent's lock."""
        return self._path("wanted", name).exists()

    async def acquire(self, name: str) -> None:
        """For a run: it waits its turn however long the agent is busy elsewhere."""
        await self._acquire(name, f"agent {name!r} (a message of it running, or its CLI process kept warm)", None)

    async def _acquire(self, name: str, doing: str, timeout_s: float | None) -> None:
        held = self._held.get(name.casefold())
        if held is not None:
            held[1] += 1
            return
        marker = self._path("wanted", name)
        try:
            fd = await _locked(self._path("agents", name), self._doing(doing), timeout_s, lambda: _touch(marker))
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

    @asynccontextmanager
    async def creating(self, name: str) -> AsyncIterator[None]:
        """Held across a creation's check that the name is free and its insert, so a leftover of
        this name (a creation cut short) can be cleared without clearing another server's creation
        in progress. Waits at most the lock timeout."""
        path = self._path("creating", name)
        fd = await _locked(path, self._doing(f"the creation of agent {name!r}"), self.timeout_s)
        try:
            yield
        finally:
            _remove(path, fd)  # taken or refused, the name needs it no more

    @asynccontextmanager
    async def deleting(self, name: str) -> AsyncIterator[None]:
        """The agent's lock, held while it is deleted (a run of another server waits, then finds it
        gone); its lock files are removed with it. Waits at most the lock timeout: an idle warm
        process elsewhere lets go at once, a run elsewhere is refused before this (pool.delete)."""
        await self._acquire(name, f"the deletion of agent {name!r}", self.timeout_s)
        try:
            yield
        except BaseException:
            self.release(name)
            raise
        fd, holds = self._held.pop(name.casefold())
        if holds > 1:  # a message sent meanwhile runs on: the file stays for its release
            self._held[name.casefold()] = [fd, holds - 1]
            return
        self._path("wanted", name).unlink(missing_ok=True)
        _remove(self._path("agents", name), fd)


def _touch(marker: Path) -> None:
    marker.parent.mkdir(exist_ok=True, mode=0o700)
    marker.touch(mode=0o600)
