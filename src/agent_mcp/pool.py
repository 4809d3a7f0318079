"""The agents and their runs: who exists, which session each resumes, what each has cost.

Ordering rules live here. Each agent has a queue of runs; only its head runs, so messages to one
agent run in the order sent, each resuming the session the previous reply named, and never fork
it. A head run then takes a slot of the global concurrency cap: different agents only meet there.
Runs execute in the pool's own task group, so a run started by one request outlives it.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
from anyio.abc import TaskGroup

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
from .runs import EventHandler, Run
from .stream import StreamState, clean_text

log = logging.getLogger(__name__)

# Variables that would make the child believe it runs inside another Claude Code session.
_STRIPPED_ENV = ("CLAUDECODE",)

FINISHED_RUNS_KEPT = 1000


@dataclass
class Agent:
    name: str
    role: str
    cwd: str
    options: AgentOptions
    created_at: str
    session_id: str | None = None
    message_count: int = 0
    total_cost_usd: float = 0.0
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_cache_creation_input_tokens: int = 0
    total_cache_read_input_tokens: int = 0
    queue: list[Run] = field(default_factory=list)
    """Its unfinished runs in the order sent; the head is the only one that may run."""

    @property
    def running(self) -> bool:
        return bool(self.queue) and self.queue[0].status == "running"

    def info(self) -> AgentInfo:
        return AgentInfo(
            **self.options.model_dump(),
            name=self.name,
            role=self.role,
            cwd=self.cwd,
            session_id=self.session_id,
            status="running" if self.running else "idle",
            queued=len(self.queue) - (1 if self.running else 0),
            message_count=self.message_count,
            created_at=self.created_at,
            total_cost_usd=self.total_cost_usd,
            total_input_tokens=self.total_input_tokens,
            total_output_tokens=self.total_output_tokens,
            total_cache_creation_input_tokens=self.total_cache_creation_input_tokens,
            total_cache_read_input_tokens=self.total_cache_read_input_tokens,
        )

    def record(self, response: AgentResponse) -> None:
        self.message_count += 1
        self.total_cost_usd += response.cost_usd
        self.total_input_tokens += response.input_tokens
        self.total_output_tokens += response.output_tokens
        self.total_cache_creation_input_tokens += response.cache_creation_input_tokens
        self.total_cache_read_input_tokens += response.cache_read_input_tokens

    def enqueue(self, run: Run) -> None:
        self.queue.append(run)
        if len(self.queue) == 1:
            run.turn.set()

    def dequeue(self, run: Run) -> None:
        self.queue.remove(run)
        if self.queue:
            self.queue[0].turn.set()


class AgentPool:
    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._agents: dict[str, Agent] = {}  # keyed by casefolded name: names are unique ignoring case
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._slots = anyio.Semaphore(settings.max_concurrent)
        self._processes = ProcessRegistry()
        self._tasks: TaskGroup | None = None
        base = dict(os.environ if env is None else env)
        self._child_env = {k: v for k, v in base.items() if k not in _STRIPPED_ENV}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AgentPool]:
        """The pool's lifetime: runs execute inside it, and leaving it ends every one of them."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield self
            finally:
                self._processes.kill_all()
                tasks.cancel_scope.cancel()
        self._tasks = None

    # --- agents ------------------------------------------------------------------------------

    def create(self, name: str, role: str, cwd: str, options: AgentOptions) -> AgentInfo:
        validation.check_name(name)
        if name.casefold() in self._agents:
            existing = self._agents[name.casefold()].name
            raise InvalidInput(f"an agent named {existing!r} already exists; pick another name (names ignore case)")
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
        )
        agent = Agent(
            name=name,
            role=role,
            cwd=str(resolved_cwd),
            options=checked,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self._agents[name.casefold()] = agent
        log.info("created agent %s in %s", name, agent.cwd)
        return agent.info()

    def get(self, name: str) -> Agent:
        agent = self._agents.get(name.casefold())
        if agent is None:
            raise UnknownAgent(name)
        return agent

    def list(self) -> list[AgentInfo]:
        return [agent.info() for agent in sorted(self._agents.values(), key=lambda a: a.name)]

    # --- runs --------------------------------------------------------------------------------

    def start(self, name: str, message: str, timeout_s: float | None = None) -> Run:
        """Queue a message behind the agent's earlier ones and return at once."""
        agent = self.get(name)
        validation.check_text("message", message, self.settings.max_message_bytes)
        validation.check_timeout(timeout_s)
        if self._tasks is None:
            raise RuntimeError("the pool is not running; use `async with pool.running()`")
        run = Run(agent=agent.name, message=message, timeout_s=timeout_s)
        agent.enqueue(run)
        self._remember(run)
        self._tasks.start_soon(self._execute, agent, run, name=f"run {run.run_id} of {agent.name}")
        return run

    def run_info(self, run: Run) -> RunInfo:
        agent = self._agents.get(run.agent.casefold())
        position = agent.queue.index(run) if agent is not None and run in agent.queue else 0
        return run.info(position)

    def get_run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise UnknownRun(run_id)
        return run

    async def cancel(self, run_id: str) -> Run:
        """Cancel a queued or running run and wait until its process group is gone."""
        run = self.get_run(run_id)
        run.scope.cancel()
        await run.finished.wait()
        return run

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

    async def _execute(self, agent: Agent, run: Run) -> None:
        try:
            with run.scope:
                await run.turn.wait()
                async with self._slots:
                    run.start()
                    run.succeed(await self._run(agent, run))
        except RunFailed as failure:
            run.fail(failure)
        finally:
            agent.dequeue(run)
            if run.active:
                why = "cancelled before it finished" if run.scope.cancel_called else "stopped by the server's shutdown"
                run.fail(RunFailed("cancelled", f"the message to {agent.name!r} was {why}"))

    async def _run(self, agent: Agent, run: Run) -> AgentResponse:
        state = StreamState()

        async def on_line(line: bytes) -> bool:
            event = state.feed(line)
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
        finally:
            # The CLI has written the turn into whatever session it named, whatever the outcome.
            if state.session_id is not None:
                agent.session_id = state.session_id
        if not state.done:
            raise RunFailed("crashed", _describe_exit(outcome), clean_text(outcome.tail))
        response = state.response(agent.name)
        agent.record(response)
        return response

    @property
    def live_processes(self) -> int:
        return len(self._processes)


def _describe_exit(outcome: ProcessExit) -> str:
    if outcome.signal is not None:
        how = f"was killed by signal {outcome.signal}"
    else:
        how = f"exited with code {outcome.returncode}"
    return f"the claude CLI {how} without a result"
