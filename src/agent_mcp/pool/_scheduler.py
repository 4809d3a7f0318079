"""Who runs when: a FIFO queue per agent, a lock file per agent, and the concurrency cap.

Within this server each agent has a queue of runs and only its head runs, so messages to one
agent run in the order sent, each resuming the session the previous reply named, and never fork
it. The head then takes the agent's lock file, which another server on the same state directory
also needs (so two editor windows never run one agent at once), and finally a slot of the
concurrency cap: different agents only meet there. Before all that, and again once it holds a slot,
the run's account must not be paused for its usage limit (limits.py): a held run holds no lock and
no slot, and one the CLI rejected before it did anything (HeldBack) goes back to wait at the head
of its agent's queue.

Runs execute in the scheduler's own task group, so a run started by one request outlives it. Nothing
a run does can end that group: a run that fails in an unforeseen way (a store that cannot write,
output no check foresaw) fails alone, `internal`, with its reason in the log, and the other agents'
runs go on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import anyio

from agent_mcp.core.errors import RunFailed
from agent_mcp.core.rows import Account
from agent_mcp.pool._background import Background
from agent_mcp.pool._limits import HeldBack, Limits
from agent_mcp.pool._locks import AgentLocks
from agent_mcp.pool._runs import Run

log = logging.getLogger(__name__)

Work = Callable[[Run], Awaitable[None]]
"""Runs the run once it is its turn, holding its agent's lock and a slot; ends it or raises RunFailed."""


class Scheduler:
    def __init__(self, locks: AgentLocks, max_concurrent: int, host_caps: Mapping[str, int]) -> None:
        self.locks = locks
        self.limits: Limits | None = None
        """Set once the store is open (the pool's running())."""
        self._slots = anyio.Semaphore(max_concurrent)
        """This machine's claude processes; a run on an SSH host takes a slot of its host's instead."""
        self._host_slots = {host: anyio.Semaphore(cap) for host, cap in host_caps.items()}
        self._queues: dict[str, list[Run]] = {}  # casefolded name -> unfinished runs in the order sent
        self._runs: dict[str, Run] = {}
        """Unfinished runs only: a finished one is in the store, and holding its reply here would let
        memory grow with every large reply."""
        self._background = Background("scheduler")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Scheduler]:
        """Leaving it cancels every run still queued or running, and waits for each to end."""
        self.locks.lock_dir.mkdir(exist_ok=True, mode=0o700)
        async with self._background.running():
            yield self

    def submit(self, run: Run, work: Work, on_finished: Callable[[Run], Awaitable[None]], account: Account) -> int:
        """Queue the run behind its agent's earlier ones; returns its position in that queue.
        on_finished(run) records its outcome before the next run of its agent may start. A run
        for an agent on a host takes one of that host's slots."""
        if not self._background.live:
            raise RuntimeError("the scheduler is not running; use `async with scheduler.running()`")
        queue = self._queues.setdefault(run.agent.casefold(), [])
        queue.append(run)
        if len(queue) == 1:
            run.turn.set()
        self._runs[run.run_id] = run
        host = account.host
        slots = self._slots if host is None else self._host_slots.get(host, self._slots)
        self._background.start_soon(
            self._execute, run, work, on_finished, slots, account, name=f"run {run.run_id} of {run.agent}"
        )
        return len(queue) - 1

    def live(self, run_id: str) -> Run | None:
        """A run of this server's that has not finished."""
        return self._runs.get(run_id)

    def queue(self, agent: str) -> list[Run]:
        """The agent's unfinished runs in this server, its running one first."""
        return list(self._queues.get(agent.casefold(), ()))

    async def _run_when_open(self, run: Run, work: Work, slots: anyio.Semaphore, account: Account) -> None:
        assert self.limits is not None, "the scheduler runs only with the pool's store open"
        while True:
            await self.limits.admit(run, account)
            # The lock file is shared with other servers on this state directory, so two editor
            # windows never run one agent at once.
            await self.locks.acquire(run.agent)
            try:
                async with slots:
                    if self.limits.paused_until(account) is not None:
                        continue  # paused while it waited for the slot: wait again, holding nothing
                    try:
                        await work(run)
                        return
                    except HeldBack:
                        await self.limits.held_back(run)
            finally:
                self.locks.release(run.agent)

    def position(self, run: Run) -> int:
        queue = self._queues.get(run.agent.casefold(), [])
        return queue.index(run) if run in queue else 0

    async def _execute(
        self,
        run: Run,
        work: Work,
        on_finished: Callable[[Run], Awaitable[None]],
        slots: anyio.Semaphore,
        account: Account,
    ) -> None:
        try:
            with run.scope:
                await run.turn.wait()
                await self._run_when_open(run, work, slots, account)
        except RunFailed as failure:
            run.fail(failure)
        except Exception:
            log.exception("run %s of %s failed inside agent-mcp", run.run_id, run.agent)
            if not run.concluded:
                run.fail(RunFailed("internal", _INTERNAL))
        finally:
            if not run.concluded and run.scope.cancel_called:
                run.fail(RunFailed("cancelled", f"the message to {run.agent!r} was cancelled before it finished"))
            elif not run.concluded:
                run.fail(RunFailed("interrupted", "the agent-mcp server stopped before the message finished"))
            try:
                with anyio.CancelScope(shield=True):
                    await on_finished(run)
            except Exception:
                log.exception("could not record how run %s of %s ended", run.run_id, run.agent)
            finally:
                # Only now may the next message go, and waiters wake: both read what this run left.
                queue = self._queues[run.agent.casefold()]
                queue.remove(run)
                if queue:
                    queue[0].turn.set()
                else:
                    del self._queues[run.agent.casefold()]
                del self._runs[run.run_id]
                run.finished.set()


_INTERNAL = (
    "agent-mcp failed while running this message (its log, on stderr, says why); the agent and every other "
    "agent go on: send the message again, and report the log if it happens again"
)
