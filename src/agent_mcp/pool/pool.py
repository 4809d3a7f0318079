"""The agents and their runs, as the tools see them: what may be done, and in which order.

The pool checks every request before it changes anything, then hands the work to the room that
owns it: the store keeps agents and runs (and is the source of truth, so a second server sees
them too), the scheduler decides when a run may go, a turn runs one message through one claude
process, the listing answers list_agents, and waiting.py waits on several runs at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio

from agent_mcp.agents import kind_for, stripped_env
from agent_mcp.core import validation
from agent_mcp.core.clock import now
from agent_mcp.core.config import Settings
from agent_mcp.core.entries import transcript_page
from agent_mcp.core.environment import child_environment
from agent_mcp.core.errors import Busy, InvalidInput, RunFailed, UnknownAgent, UnknownRun
from agent_mcp.core.models import (
    AgentInfo,
    AgentOptions,
    AgentResponse,
    PersonOrCaller,
    RunInfo,
    TranscriptPage,
)
from agent_mcp.core.rows import MESSAGE_PREVIEW, Account, AgentRecord
from agent_mcp.core.status import PoolStatus
from agent_mcp.hosts.boxes import Boxes
from agent_mcp.hosts.places import Places
from agent_mcp.hosts.ssh import SshLinks
from agent_mcp.hosts.worktree import remove_worktree, uncommitted_changes
from agent_mcp.pool import _cursors as cursors
from agent_mcp.pool._admission import check_answer, check_message, check_queue_room, check_wait
from agent_mcp.pool._commands import Actions, ask_owner, carry_out
from agent_mcp.pool._limits import Limits
from agent_mcp.pool._listing import NO_ACTIVITY, AgentPage, ListingCache, info_fields
from agent_mcp.pool._listing import page as listing_page
from agent_mcp.pool._locks import AgentLocks
from agent_mcp.pool._placement import Remote
from agent_mcp.pool._registration import Registration, register_agent
from agent_mcp.pool._runs import ACTIVE_STATUSES, RUN_ID_RE, EventHandler, Run
from agent_mcp.pool._scheduler import Scheduler
from agent_mcp.pool._spending import Spending
from agent_mcp.pool._status import pool_status
from agent_mcp.pool._turn import TurnContext, take_turn
from agent_mcp.pool._waiting import wait_for_runs
from agent_mcp.pool._warm import WarmProcesses
from agent_mcp.pool.permissions import Answer, Asker
from agent_mcp.processes.local import LocalLauncher
from agent_mcp.processes.process import ProcessRegistry
from agent_mcp.store.database import Store
from agent_mcp.store.owners import owner_alive, owner_of

log = logging.getLogger(__name__)

ANSWER_TAKEN_S = 2.0
"""How long answer_permission waits for the run to take the answer before it returns."""


class AgentPool:
    limits: Limits
    """The accounts' usage limits (made with the store, in running())."""
    spending: Spending
    """The spending caps (made with the store, in running())."""

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._processes = ProcessRegistry()
        self._locks = AgentLocks(settings.state_dir / "locks", settings.lock_timeout_s)
        self._scheduler = Scheduler(self._locks, settings.max_concurrent, {h.alias: h.cap for h in settings.hosts})
        self._warm = WarmProcesses(settings.warm_ttl_s, settings.max_warm, self._locks)
        self._listing = ListingCache()
        self._store: Store | None = None
        given = os.environ if env is None else env
        self._child_env = child_environment(given, settings.depth, settings.max_depth, stripped_env())
        links = SshLinks(settings.state_dir, settings.ssh_config, settings.connect_timeout_s)
        self.remote = Remote(settings.hosts, links, settings.timeout_s)
        boxes = Boxes(settings.bwrap_bin, settings.state_dir, self._child_env, lambda: self.store.agents.all(),
                      lambda cli, home, env: kind_for(cli).state_paths(home, env))  # fmt: skip
        self._places = Places(settings, links, LocalLauncher(self._processes, settings.max_line_bytes), boxes)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AgentPool]:
        """The pool's lifetime: the store is open inside it, and leaving it ends every run."""
        self._store = Store(self.settings.state_dir, owner_of(os.getpid()))
        self._scheduler.limits = self.limits = Limits(self._store, self.settings)
        self.spending = Spending(self._store, self.settings)
        try:
            await self._sweep()
            async with self._warm.running(), self._scheduler.running(), anyio.create_task_group() as watching:
                actions = Actions(self.cancel, self.answer_permission)
                watching.start_soon(carry_out, self._store, self._store.owner, actions.carry_out)
                watching.start_soon(self.remote.links.reap)
                try:
                    yield self
                finally:
                    watching.cancel_scope.cancel()
                    self._processes.kill_all()
        finally:
            self.remote.links.close()
            self._store.close()
            self._store = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the pool is not running; use `async with pool.running()`")
        return self._store

    async def _sweep(self) -> None:
        """Runs of a server that died mid-run must not look queued or running forever."""
        dead = self.store.runs.dead_owners()
        if dead:
            await self.store.runs.mark_interrupted(dead, now())

    # --- agents ------------------------------------------------------------------------------

    async def create(
        self,
        name: str,
        role: str,
        cwd: str,
        options: AgentOptions,
        worktree: bool = False,
        host: str | None = None,
        sandbox: bool | None = None,
        cli: str = "claude",
    ) -> AgentInfo:
        await register_agent(self.store, self.settings, self._child_env, self._locks, self.remote, self._places.boxes,
                             Registration(name, role, cwd, options, worktree, host, sandbox, cli))  # fmt: skip
        return await self.info(name)

    def get(self, name: str) -> AgentRecord:
        if not validation.NAME_RE.fullmatch(name):  # not a name any agent can have (nor text SQLite takes)
            raise UnknownAgent(name)
        agent = self.store.agents.get(name)
        if agent is None:
            raise UnknownAgent(name)
        return agent

    async def info(self, name: str) -> AgentInfo:
        agent = self.get(name)
        await self._sweep()
        activity = self.store.runs.active_counts().get(agent.name.casefold(), NO_ACTIVITY)
        return AgentInfo.model_validate(info_fields(agent, activity, self._warm.is_warm(agent.name)))

    async def listing(
        self,
        status: str | None = None,
        name_prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        cli: str | None = None,
    ) -> AgentPage:
        """A page of the agents' entries, sorted by name."""
        await self._sweep()  # may change the store, so it comes before the listing's mark is read
        return listing_page(self._listing.get(self.store, self._warm), status, name_prefix, limit, cursor, cli)

    async def delete(self, name: str, force: bool) -> str:
        """Refused while a message is in flight, unless force: then its runs are cancelled first."""
        agent = self.get(name)
        self._refuse_if_busy_elsewhere(agent.name, "delete")
        queue = self._scheduler.queue(agent.name)
        if queue and not force:
            raise Busy(
                f"agent {agent.name!r} has {len(queue)} message(s) queued or running; wait for them, cancel them "
                "with cancel_run, or call delete_agent with force=true to cancel them and delete"
            )
        if agent.worktree is not None:
            changes = await uncommitted_changes(self.remote.machine_of(agent.host), agent.worktree)
            if changes and not force:
                raise InvalidInput(
                    f"agent {agent.name!r} has uncommitted work in its worktree {agent.worktree.path!r} "
                    f"({len(changes)} changed path(s)); commit it on branch {agent.worktree.branch!r}, or call "
                    "delete_agent with force=true to drop it"
                )
        for run in queue:
            await self.cancel(run.run_id)
        await self._warm.end(agent.name)
        async with self._locks.deleting(agent.name):
            if agent.worktree is not None:
                await remove_worktree(self.remote.machine_of(agent.host), agent.worktree, force)
            await self.store.agents.delete(agent.name)
        log.info("deleted agent %s", agent.name)
        return agent.name

    async def reset(self, name: str) -> AgentInfo:
        agent = self.get(name)
        self._refuse_if_busy_elsewhere(agent.name, "reset")
        if self._scheduler.queue(agent.name):
            raise Busy(
                f"agent {agent.name!r} has a message queued or running; reset it once that is done (or cancel it)"
            )
        await self._warm.end(agent.name)
        await self.store.sessions.reset(agent.name)
        return await self.info(agent.name)

    def _refuse_if_busy_elsewhere(self, name: str, action: str) -> None:
        others = [o for o in self.store.runs.active_owners(name) if o != self.store.owner and owner_alive(o)]
        if others:
            pid = others[0].partition(":")[0]
            raise Busy(
                f"agent {name!r} has a message in flight in another agent-mcp server (pid {pid}) on the same state "
                f"directory; {action} it once that finishes"
            )

    # --- runs --------------------------------------------------------------------------------

    def _check_message(self, name: str, message: str, timeout_s: float | None) -> AgentRecord:
        """Everything that refuses a message before it is queued."""
        agent = self.get(name)
        check_message(self.settings, message, timeout_s, kind_for(agent.cli))
        self.spending.refuse_if_exhausted(agent)
        return agent

    def _check_queue_room(self, agents: list[str]) -> None:
        check_queue_room(agents, lambda agent: len(self._scheduler.queue(agent)), self.settings.max_queued)

    async def start(self, name: str, message: str, timeout_s: float | None = None) -> Run:
        """Queue a message behind the agent's earlier ones and return at once."""
        agent = self._check_message(name, message, timeout_s)
        self._check_queue_room([agent.name])
        return await self._enqueue(agent, message, timeout_s)

    async def broadcast(self, messages: list[tuple[str, str]], timeout_s: float | None = None) -> list[Run]:
        """Every message is checked before any starts, so one bad entry starts nothing."""
        agents = [self._check_message(name, message, timeout_s) for name, message in messages]
        self._check_queue_room([agent.name for agent in agents])
        return [
            await self._enqueue(agent, message, timeout_s) for agent, (_, message) in zip(agents, messages, strict=True)
        ]

    async def _enqueue(self, agent: AgentRecord, message: str, timeout_s: float | None) -> Run:
        run = Run(agent=agent.name, preview=message[:MESSAGE_PREVIEW], timeout_s=timeout_s, message_chars=len(message))
        # Stored before it is queued, so its row exists before anything of its turn is written. Writes
        # are done in the order they are asked for, so messages still queue in the order sent.
        await self.store.runs.add(replace(run.record(), message=message))
        self._scheduler.submit(run, self._work, self._finished, Account(agent.host, agent.cli))
        return run

    async def _work(self, run: Run) -> None:
        """The run's turn has come: it holds its agent's lock and a slot."""
        agent = self.store.agents.get(run.agent)  # read now: another server may have moved it on
        message = self.store.runs.message(run.run_id)
        if agent is None or message is None:
            raise RunFailed("cancelled", f"agent {run.agent!r} was deleted before the message ran")
        budget = self.spending.budget(agent, run.run_id)
        context = TurnContext(self.settings, self._child_env, self.store, self._warm, self._places, self.limits)
        run.succeed(await take_turn(context, agent, run, message, budget))

    async def _finished(self, run: Run) -> None:
        self.spending.release(run.run_id)
        whole, run.whole_text = run.whole_text, None
        try:
            await self.store.runs.finished(run.record(), run.session_id, whole)
        finally:
            if whole is not None:
                whole.close()
        await self.store.events.prune(run.agent, self.settings.keep_runs)

    async def send(
        self,
        name: str,
        message: str,
        timeout_s: float | None = None,
        on_event: EventHandler | None = None,
        asker: Asker | None = None,
    ) -> AgentResponse:
        """start + wait: the run belongs to this call, so cancelling the call cancels the run."""
        run = await self.start(name, message, timeout_s)
        try:
            await run.wait(None, on_event, asker)
        finally:
            if run.active:
                run.scope.cancel()
                with anyio.CancelScope(shield=True):
                    await run.finished.wait()
        if run.response is None:
            assert run.failure is not None
            raise run.failure
        return run.response

    def run_info(self, run: Run) -> RunInfo:
        return run.info(self._scheduler.position(run))

    def get_run(self, run_id: str) -> RunInfo:
        if not RUN_ID_RE.fullmatch(run_id):  # not an id any run can have (nor text SQLite takes)
            raise UnknownRun(run_id)
        run = self._scheduler.live(run_id)
        if run is not None:
            return self.run_info(run)
        stored = self.store.runs.get(run_id)
        if stored is None:
            raise UnknownRun(run_id)
        return stored.info()

    async def wait_run(
        self, run_id: str, seconds: float, on_event: EventHandler | None = None, asker: Asker | None = None
    ) -> RunInfo:
        """Until it finishes, or `seconds` pass, or (no asker) it waits for a permission answer."""
        run = self._scheduler.live(run_id)
        if run is not None:
            await run.wait(seconds, on_event, asker, until_asked=True)
        return self.get_run(run_id)

    async def wait_runs(
        self,
        run_ids: list[str],
        mode: str,
        seconds: float | None,
        listener_for: Callable[[str], EventHandler] | None = None,
        asker: Asker | None = None,
    ) -> tuple[list[RunInfo], bool]:
        """Wait for all (or the first) of the runs; (their infos, whether that happened in time)."""
        run_ids = check_wait(self.settings, run_ids, mode)
        for run_id in run_ids:
            self.get_run(run_id)
        done = await wait_for_runs(
            run_ids, mode == "any", seconds, self._scheduler.live, self._stored_finished, listener_for, asker
        )
        return [self.get_run(run_id) for run_id in run_ids], done

    async def _stored_finished(self, run_id: str) -> bool:
        """Whether a run of another server (or one this server has forgotten) has finished."""
        await self._sweep()
        return self.get_run(run_id).status not in ACTIVE_STATUSES

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a queued or running run and wait until its process group is gone."""
        run = self._scheduler.live(run_id)
        if run is None:
            if self.get_run(run_id).status in ACTIVE_STATUSES:
                await self._asked_owner(run_id, "cancel", {})
            return self.get_run(run_id)
        run.scope.cancel()
        await run.finished.wait()
        return self.run_info(run)

    async def answer_permission(
        self, run_id: str, request_id: str, decision: str, message: str | None, by: PersonOrCaller = "answer_permission"
    ) -> RunInfo:
        """An answer to a run's permission request, by the MCP caller or a person at the dashboard; the
        run goes on with it. The caller's authority is checked by the server that takes the answer and
        again by the run's owner (its own settings), which gets it with who gave it."""
        checked = check_answer(self.settings, decision, message, by)
        run = self._scheduler.live(run_id)
        if run is None:
            payload = {"request_id": request_id, "decision": checked, "message": message, "by": by}
            if self.get_run(run_id).status == "waiting_permission" and await self._asked_owner(
                run_id, "answer", payload
            ):
                return self.get_run(run_id)
            stored = self.get_run(run_id)
            raise InvalidInput(
                f"run {run_id!r} is {stored.status}, not waiting for a permission answer; nothing changed"
            )
        answer = Answer(checked, by, message if checked == "deny" else None)
        request = run.permissions.answer(request_id, answer, now())
        with anyio.move_on_after(ANSWER_TAKEN_S):  # the desk hands it to the CLI at once
            await request.closed.wait()
        return self.run_info(run)

    async def _asked_owner(self, run_id: str, action: str, payload: dict[str, Any]) -> bool:
        """A run of another live server on this store: that server is asked to act (commands.py).
        False when its server is gone (the sweep then marks the run interrupted)."""
        owner = self.store.runs.owner_of(run_id)
        if owner is None or owner == self.store.owner or not owner_alive(owner):
            await self._sweep()
            return False
        await ask_owner(self.store, run_id, owner, action, payload)
        return True

    def transcript(self, run_id: str, after: int, limit: int) -> TranscriptPage:
        """The run's events after `after`, at most `limit` of them and about PAGE_CHARS of content."""
        status = self.get_run(run_id).status
        validation.check_limit(limit)
        validation.check_after(after)
        return transcript_page(self.store.events.read(run_id, after, limit), after, status)

    def whole_text(self, info: RunInfo) -> str:
        """A finished run's whole answer: its response's text, or, for one too long to hold, the store's."""
        assert info.response is not None
        whole = self.store.replies.whole(info.run_id) if info.response.text_truncated else None
        return info.response.text if whole is None else whole

    def history_page(self, name: str, limit: int, cursor: str | None) -> tuple[list[RunInfo], str | None]:
        """A page of the agent's runs, newest first, and the cursor of the next page (None: the last)."""
        agent = self.get(name)
        validation.check_limit(limit)
        before = None if cursor is None else cursors.read_history(cursor)
        page = self.store.runs.history(agent.name, limit + 1, before)
        infos = []
        for record, _ in page[:limit]:
            run = self._scheduler.live(record.run_id)
            infos.append(record.info() if run is None else self.run_info(run))
        if len(page) <= limit:
            return infos, None
        last, place = page[limit - 1]
        return infos, cursors.history(last.queued_at, place)

    def status(self) -> PoolStatus:
        return pool_status(self.settings, self.store, self.limits, self.spending, self._warm.count)

    @property
    def live_processes(self) -> int:
        return len(self._processes)

    @property
    def running_processes(self) -> int:
        """Live processes less the warm ones waiting for their agent's next message."""
        return len(self._processes) - self._warm.count
