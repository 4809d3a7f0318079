"""The agents and their runs: who exists, which session each resumes, what each has cost.

Ordering rules live here. Within this server each agent has a queue of runs and only its head
runs, so messages to one agent run in the order sent, each resuming the session the previous reply
named, and never fork it. The head then takes the agent's lock file, which another server on the
same state directory also needs (so two editor windows never run one agent at once), and finally
a slot of the concurrency cap: different agents only meet there.

The store is the source of truth for agents, so a second server sees them too; runs execute in
the pool's own task group, so a run started by one request outlives it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup
from pydantic_core import to_json

from . import validation
from .argv import build_argv
from .config import Settings
from .errors import InvalidInput, RunFailed, UnknownAgent, UnknownRun
from .models import AgentInfo, AgentOptions, AgentResponse, RunInfo
from .runner import (
    ExecutableNotFound,
    ProcessExit,
    ProcessRegistry,
    RunSpec,
    RunTimedOut,
    SpawnFailed,
    run_process,
)
from .runs import EventHandler, Run, now
from .store import ActiveCounts, AgentRecord, Store, owner_alive, owner_of
from .stream import StreamState, clean_text
from .worktree import create_worktree, remove_worktree, uncommitted_changes

log = logging.getLogger(__name__)

# Variables that would make the child believe it runs inside another Claude Code session.
_STRIPPED_ENV = ("CLAUDECODE",)

FINISHED_RUNS_KEPT = 1000
DEPTH_ENV = "AGENT_MCP_DEPTH"
LOCK_POLL_S = 0.1
NO_ACTIVITY = ActiveCounts(running=0, queued=0)


@dataclass(frozen=True)
class AgentListing:
    """list_agents' result as plain data and as compact JSON, built once per change of the store:
    a client polling a pool of a thousand agents gets it again without a rebuild."""

    mark: tuple[int, int]
    data: dict[str, Any]
    json: str


def _info_fields(row: dict[str, Any], activity: ActiveCounts) -> dict[str, Any]:
    """AgentInfo's fields from the store's row: plain data, so a listing needs no model per agent."""
    worktree = row["worktree"]
    return {
        **row["options"],
        **{key: row[key] for key in _ROW_FIELDS},
        "status": "running" if activity.running else "idle",
        "queued": activity.queued,
        "worktree": worktree is not None,
        "worktree_branch": worktree["branch"] if worktree else None,
        "worktree_repo": worktree["repo"] if worktree else None,
    }


_ROW_FIELDS = (
    "name",
    "role",
    "cwd",
    "session_id",
    "message_count",
    "created_at",
    "total_cost_usd",
    "total_input_tokens",
    "total_output_tokens",
    "total_cache_creation_input_tokens",
    "total_cache_read_input_tokens",
)


class AgentPool:
    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._queues: dict[str, list[Run]] = {}  # casefolded name -> unfinished runs in the order sent
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._slots = anyio.Semaphore(settings.max_concurrent)
        self._processes = ProcessRegistry()
        self._tasks: TaskGroup | None = None
        self._store: Store | None = None
        self._listing: AgentListing | None = None
        self._lock_dir = settings.state_dir / "locks"
        base = dict(os.environ if env is None else env)
        self._child_env = {k: v for k, v in base.items() if k not in _STRIPPED_ENV}
        # A child claude may load agent-mcp itself: tell that one how deep it is.
        self._child_env[DEPTH_ENV] = str(settings.depth + 1)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AgentPool]:
        """The pool's lifetime: the store is open inside it, and leaving it ends every run."""
        self._store = Store(self.settings.state_dir, owner_of(os.getpid()))
        self._lock_dir.mkdir(exist_ok=True, mode=0o700)
        self._store.mark_interrupted(now())
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                try:
                    yield self
                finally:
                    self._processes.kill_all()
                    tasks.cancel_scope.cancel()
        finally:
            self._tasks = None
            self._store.close()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the pool is not running; use `async with pool.running()`")
        return self._store

    # --- agents ------------------------------------------------------------------------------

    async def create(self, name: str, role: str, cwd: str, options: AgentOptions, worktree: bool = False) -> AgentInfo:
        validation.check_name(name)
        validation.check_text("role", role, self.settings.max_role_bytes)
        roots = self.settings.allowed_roots
        resolved_cwd = validation.check_directory("cwd", cwd, roots)
        checked = AgentOptions(
            model=validation.check_model(options.model),
            permission_mode=validation.check_permission_mode(options.permission_mode),
            allowed_tools=validation.check_tools("allowed_tools", options.allowed_tools),
            disallowed_tools=validation.check_tools("disallowed_tools", options.disallowed_tools),
            max_turns=validation.check_max_turns(options.max_turns),
            max_budget_usd=validation.check_budget(options.max_budget_usd),
            add_dirs=None
            if options.add_dirs is None
            else [str(validation.check_directory("add_dirs entry", d, roots)) for d in options.add_dirs],
            mcp_config=validation.check_mcp_config(options.mcp_config, roots),
            effort=validation.check_effort(options.effort),
        )
        if self.store.agent_count() >= self.settings.max_agents:
            raise InvalidInput(
                f"this server already has {self.settings.max_agents} agents, its limit (AGENT_MCP_MAX_AGENTS / "
                "--max-agents); delete_agent one you no longer need, or raise the limit"
            )
        existing = self.store.agent(name)
        if existing is not None:
            raise _name_taken(existing.name)
        tree = None
        if worktree:
            tree, resolved_cwd = await create_worktree(resolved_cwd, self.settings.state_dir / "worktrees", name)
        agent = AgentRecord(
            name=name,
            role=role,
            cwd=str(resolved_cwd),
            options=checked,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            worktree=tree,
        )
        if not self.store.add_agent(agent):  # another server took the name a moment ago
            if tree is not None:
                await remove_worktree(tree, force=True)
            raise _name_taken(name)
        log.info("created agent %s in %s", name, agent.cwd)
        return self.info(name)

    def get(self, name: str) -> AgentRecord:
        agent = self.store.agent(name)
        if agent is None:
            raise UnknownAgent(name)
        return agent

    def info(self, name: str) -> AgentInfo:
        rows = self.store.agent_rows(name)
        if not rows:
            raise UnknownAgent(name)
        return AgentInfo.model_validate(_info_fields(rows[0], self._activity().get(name.casefold(), NO_ACTIVITY)))

    def listing(self) -> AgentListing:
        """Every agent's AgentInfo fields, sorted by name. Status and queue lengths are runs in the
        store too, so the store's change mark says when the last listing is out of date."""
        self.store.mark_interrupted(now())  # may change the store, so it comes before the mark
        mark = self.store.change_mark()
        if self._listing is None or self._listing.mark != mark:
            activity = self.store.active_counts()
            rows = self.store.agent_rows()
            data = {"agents": [_info_fields(row, activity.get(row["name"].casefold(), NO_ACTIVITY)) for row in rows]}
            self._listing = AgentListing(mark, data, to_json(data).decode())
        return self._listing

    def _activity(self) -> dict[str, ActiveCounts]:
        self.store.mark_interrupted(now())  # a server that died mid-run must not look busy forever
        return self.store.active_counts()

    async def delete(self, name: str, force: bool) -> str:
        """Refused while a message is in flight, unless force: then its runs are cancelled first."""
        agent = self.get(name)
        self._refuse_if_busy_elsewhere(agent.name, "delete")
        queue = list(self._queues.get(agent.name.casefold(), ()))
        if queue and not force:
            raise InvalidInput(
                f"agent {agent.name!r} has {len(queue)} message(s) queued or running; wait for them, cancel them "
                "with cancel_run, or call delete_agent with force=true to cancel them and delete"
            )
        if agent.worktree is not None:
            changes = await uncommitted_changes(agent.worktree)
            if changes and not force:
                raise InvalidInput(
                    f"agent {agent.name!r} has uncommitted work in its worktree {agent.worktree.path!r} "
                    f"({len(changes)} changed path(s)); commit it on branch {agent.worktree.branch!r}, or call "
                    "delete_agent with force=true to drop it"
                )
        for run in queue:
            await self.cancel(run.run_id)
        if agent.worktree is not None:
            await remove_worktree(agent.worktree, force)
        self.store.delete_agent(agent.name)
        log.info("deleted agent %s", agent.name)
        return agent.name

    def reset(self, name: str) -> AgentInfo:
        agent = self.get(name)
        self._refuse_if_busy_elsewhere(agent.name, "reset")
        if self._queues.get(agent.name.casefold()):
            raise InvalidInput(
                f"agent {agent.name!r} has a message queued or running; reset it once that is done (or cancel it)"
            )
        self.store.reset_agent(agent.name)
        return self.info(agent.name)

    def _refuse_if_busy_elsewhere(self, name: str, action: str) -> None:
        others = [o for o in self.store.active_owners(name) if o != self.store.owner and owner_alive(o)]
        if others:
            pid = others[0].partition(":")[0]
            raise InvalidInput(
                f"agent {name!r} has a message in flight in another agent-mcp server (pid {pid}) on the same state "
                f"directory; {action} it once that finishes"
            )

    # --- runs --------------------------------------------------------------------------------

    def _check_message(self, name: str, message: str, timeout_s: float | None) -> AgentRecord:
        """Everything that refuses a message before it is queued."""
        agent = self.get(name)
        validation.check_text("message", message, self.settings.max_message_bytes)
        validation.check_timeout(timeout_s)
        self._check_depth()
        return agent

    def start(self, name: str, message: str, timeout_s: float | None = None) -> Run:
        """Queue a message behind the agent's earlier ones and return at once."""
        agent = self._check_message(name, message, timeout_s)
        if self._tasks is None:
            raise RuntimeError("the pool is not running; use `async with pool.running()`")
        run = Run(agent=agent.name, message=message, timeout_s=timeout_s)
        queue = self._queues.setdefault(agent.name.casefold(), [])
        queue.append(run)
        if len(queue) == 1:
            run.turn.set()
        self.store.add_run(run.info(len(queue) - 1), message)
        self._remember(run)
        self._tasks.start_soon(self._execute, run, name=f"run {run.run_id} of {agent.name}")
        return run

    def _check_depth(self) -> None:
        depth, limit = self.settings.depth, self.settings.max_depth
        if depth >= limit:
            raise InvalidInput(
                f"this agent-mcp runs at depth {depth} (started by an agent that was itself run by agent-mcp), "
                f"and the limit is {limit} (AGENT_MCP_MAX_DEPTH / --max-depth): nested agent pools stop here so "
                "they cannot recurse without end; do this work directly instead"
            )

    def broadcast(self, messages: list[tuple[str, str]], timeout_s: float | None = None) -> list[Run]:
        """Every message is checked before any starts, so one bad entry starts nothing."""
        for name, message in messages:
            self._check_message(name, message, timeout_s)
        return [self.start(name, message, timeout_s) for name, message in messages]

    async def wait_runs(
        self,
        run_ids: list[str],
        mode: str,
        seconds: float | None,
        listener_for: Callable[[str], EventHandler] | None = None,
    ) -> tuple[list[RunInfo], bool]:
        """Wait for all (or the first) of the runs; (their infos, whether that happened in time).
        listener_for(agent) gives the progress listener for that agent's run."""
        if not run_ids:
            raise InvalidInput("run_ids is empty; pass the run_id of each run to wait for")
        for run_id in run_ids:
            self.get_run(run_id)
        if mode not in ("all", "any"):
            raise InvalidInput(f"mode must be 'all' or 'any', got {mode!r}")
        finished = anyio.Event()
        unique = list(dict.fromkeys(run_ids))
        pending = len(unique)

        async def wait_one(run_id: str) -> None:
            nonlocal pending
            run = self._runs.get(run_id)
            if run is not None:
                await run.wait(None, listener_for(run.agent) if listener_for else None)
            else:  # a run of another server (or already finished): its state is in the store
                while self.get_run(run_id).status in ("queued", "running"):
                    await anyio.sleep(LOCK_POLL_S)
            pending -= 1
            if mode == "any" or pending == 0:
                finished.set()

        with anyio.move_on_after(seconds):
            async with anyio.create_task_group() as tasks:
                for run_id in unique:
                    tasks.start_soon(wait_one, run_id)
                await finished.wait()
                tasks.cancel_scope.cancel()
        return [self.get_run(run_id) for run_id in run_ids], finished.is_set()

    def run_info(self, run: Run) -> RunInfo:
        queue = self._queues.get(run.agent.casefold(), [])
        return run.info(queue.index(run) if run in queue else 0)

    def get_run(self, run_id: str) -> RunInfo:
        run = self._runs.get(run_id)
        if run is not None:
            return self.run_info(run)
        stored = self.store.run(run_id)
        if stored is None:
            raise UnknownRun(run_id)
        return stored

    async def wait_run(self, run_id: str, seconds: float, on_event: EventHandler | None = None) -> RunInfo:
        run = self._runs.get(run_id)
        if run is not None:
            await run.wait(seconds, on_event)
        return self.get_run(run_id)

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a queued or running run and wait until its process group is gone."""
        run = self._runs.get(run_id)
        if run is None:
            stored = self.get_run(run_id)
            if stored.status in ("queued", "running"):
                raise InvalidInput(
                    f"run {run_id!r} belongs to another agent-mcp server on the same state directory; cancel it there"
                )
            return stored
        run.scope.cancel()
        await run.finished.wait()
        return self.run_info(run)

    def history(self, name: str, limit: int) -> list[RunInfo]:
        agent = self.get(name)
        validation.check_limit(limit)
        return [
            self.run_info(self._runs[info.run_id]) if info.run_id in self._runs else info
            for info in self.store.history(agent.name, limit)
        ]

    async def send(
        self, name: str, message: str, timeout_s: float | None = None, on_event: EventHandler | None = None
    ) -> AgentResponse:
        """start + wait: the run belongs to this call, so cancelling the call cancels the run."""
        run = self.start(name, message, timeout_s)
        try:
            await run.wait(None, on_event)
        finally:
            if run.active:
                run.scope.cancel()
                with anyio.CancelScope(shield=True):
                    await run.finished.wait()
        if run.response is None:
            assert run.failure is not None
            raise run.failure
        return run.response

    def _remember(self, run: Run) -> None:
        self._runs[run.run_id] = run
        finished = [rid for rid, r in self._runs.items() if not r.active]
        for rid in finished[: max(0, len(finished) - FINISHED_RUNS_KEPT)]:
            del self._runs[rid]

    async def _execute(self, run: Run) -> None:
        try:
            with run.scope:
                await run.turn.wait()
                async with self._agent_lock(run.agent), self._slots:
                    agent = self.store.agent(run.agent)  # read now: another server may have moved it on
                    if agent is None:
                        raise RunFailed("cancelled", f"agent {run.agent!r} was deleted before the message ran")
                    run.start()
                    self.store.run_started(run.run_id, run.started_at or now())
                    run.succeed(await self._run(agent, run))
        except RunFailed as failure:
            run.fail(failure)
        finally:
            queue = self._queues[run.agent.casefold()]
            queue.remove(run)
            if queue:
                queue[0].turn.set()
            else:
                del self._queues[run.agent.casefold()]
            if run.active and run.scope.cancel_called:
                run.fail(RunFailed("cancelled", f"the message to {run.agent!r} was cancelled before it finished"))
            elif run.active:
                run.fail(RunFailed("interrupted", "the agent-mcp server stopped before the message finished"))
            self.store.run_finished(run.info(0), run.session_id)

    @asynccontextmanager
    async def _agent_lock(self, name: str) -> AsyncIterator[None]:
        """A lock file per agent, shared with other servers on this state directory; the kernel
        drops it if this process dies, so a killed server never leaves an agent locked."""
        fd = os.open(self._lock_dir / f"{name.casefold()}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await anyio.sleep(LOCK_POLL_S)
            yield
        finally:
            os.close(fd)

    async def _run(self, agent: AgentRecord, run: Run) -> AgentResponse:
        state = StreamState()
        run.session_id = agent.session_id  # written again only when the CLI names another one

        async def on_line(line: bytes) -> bool:
            event = state.feed(line)
            if state.session_id is not None and state.session_id != run.session_id:
                run.session_id = state.session_id
                self.store.set_session(agent.name, state.session_id, now())
            if event is not None:
                await run.publish(event)
            return state.done

        spec = RunSpec(
            argv=build_argv(self.settings.claude_bin, agent.name, agent.role, agent.options, agent.session_id),
            cwd=agent.cwd,
            env=self._child_env,
            stdin=run.message.encode("utf-8"),
            timeout_s=run.timeout_s or self.settings.timeout_s,
            idle_timeout_s=self.settings.idle_timeout_s,
        )
        try:
            outcome = await run_process(spec, on_line, self._processes)
        except ExecutableNotFound:
            raise RunFailed(
                "cli_not_found",
                f"the claude CLI {self.settings.claude_bin!r} was not found or is not executable; install it "
                "(npm install -g @anthropic-ai/claude-code) or point AGENT_MCP_CLAUDE_BIN / --claude-bin at it",
            ) from None
        except SpawnFailed as exc:
            raise RunFailed("crashed", f"could not start the claude CLI in {agent.cwd}: {exc}") from None
        except RunTimedOut as exc:
            raise RunFailed(
                "timed_out",
                f"agent {agent.name!r} hit its {exc.limit} of {exc.seconds:g} s; the claude process was killed. "
                "The agent keeps its session; send a smaller task or raise the limit",
                clean_text(exc.tail),
            ) from None
        if not state.done:
            raise RunFailed("crashed", _describe_exit(outcome), clean_text(outcome.tail))
        response = state.response(agent.name)
        if response.error_kind == "resume_failed":
            # The session is gone (the CLI keeps sessions per working directory): retrying cannot help.
            run.session_id = None
            self.store.reset_agent(agent.name)
            response = response.model_copy(
                update={
                    "session_id": None,
                    "error": f"{response.error}. The CLI could not resume the agent's session, so agent "
                    f"{agent.name!r} was reset: send the message again to start a new session",
                }
            )
        return response

    @property
    def live_processes(self) -> int:
        return len(self._processes)


def _name_taken(name: str) -> InvalidInput:
    return InvalidInput(f"an agent named {name!r} already exists; pick another name (names ignore case)")


def _describe_exit(outcome: ProcessExit) -> str:
    if outcome.signal is not None:
        how = f"was killed by signal {outcome.signal}"
    else:
        how = f"exited with code {outcome.returncode}"
    return f"the claude CLI {how} without a result"
