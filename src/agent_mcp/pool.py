"""The agents and their state: who exists, which session each resumes, what each has cost.

Ordering rules live here. A message takes its agent's lock first (anyio's lock is FIFO, so
messages to one agent run in the order sent, each resuming the session the previous reply named),
then a slot of the global concurrency cap. Different agents only meet at the cap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio

from . import validation
from .argv import build_argv
from .config import Settings
from .errors import AgentMCPError, InvalidInput, RunFailed, UnknownAgent
from .models import AgentInfo, AgentOptions, AgentResponse
from .runner import (
    ExecutableNotFound,
    ProcessExit,
    ProcessRegistry,
    RunSpec,
    RunTimedOut,
    SpawnFailed,
    run_process,
)
from .stream import StreamState, clean_text

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]

# Variables that would make the child believe it runs inside another Claude Code session.
_STRIPPED_ENV = ("CLAUDECODE",)


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
    running: bool = False
    pending: int = 0
    """Messages accepted and not yet finished, the running one included."""
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def info(self) -> AgentInfo:
        return AgentInfo(
            **self.options.model_dump(),
            name=self.name,
            role=self.role,
            cwd=self.cwd,
            session_id=self.session_id,
            status="running" if self.running else "idle",
            queued=self.pending - (1 if self.running else 0),
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


class AgentPool:
    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._agents: dict[str, Agent] = {}  # keyed by casefolded name: names are unique ignoring case
        self._slots = anyio.Semaphore(settings.max_concurrent)
        self._processes = ProcessRegistry()
        base = dict(os.environ if env is None else env)
        self._child_env = {k: v for k, v in base.items() if k not in _STRIPPED_ENV}

    # --- agents ------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        role: str,
        cwd: str,
        options: AgentOptions,
    ) -> AgentInfo:
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
        agent = self._agents.get(name.casefold()) if isinstance(name, str) else None
        if agent is None:
            raise UnknownAgent(name)
        return agent

    def list(self) -> list[AgentInfo]:
        return [agent.info() for agent in sorted(self._agents.values(), key=lambda a: a.name)]

    # --- messages ----------------------------------------------------------------------------

    async def send(
        self,
        name: str,
        message: str,
        timeout_s: float | None = None,
        on_event: EventHandler | None = None,
    ) -> AgentResponse:
        agent = self.get(name)
        validation.check_text("message", message, self.settings.max_message_bytes)
        validation.check_timeout(timeout_s)
        agent.pending += 1
        try:
            async with agent.lock, self._slots:
                agent.running = True
                try:
                    return await self._run(agent, message, timeout_s, on_event)
                finally:
                    agent.running = False
        finally:
            agent.pending -= 1

    async def _run(
        self, agent: Agent, message: str, timeout_s: float | None, on_event: EventHandler | None
    ) -> AgentResponse:
        state = StreamState()

        async def on_line(line: bytes) -> bool:
            event = state.feed(line)
            if event is not None and on_event is not None:
                await on_event(event)
            return state.done

        spec = RunSpec(
            argv=build_argv(self.settings.claude_bin, agent.name, agent.role, agent.options, agent.session_id),
            cwd=agent.cwd,
            env=self._child_env,
            stdin=message.encode("utf-8"),
            timeout_s=timeout_s or self.settings.timeout_s,
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

    # --- lifetime ----------------------------------------------------------------------------

    def kill_all(self) -> None:
        """Shutdown: end every claude process group now, whatever its run is doing."""
        self._processes.kill_all()

    @property
    def live_processes(self) -> int:
        return len(self._processes)


def _describe_exit(outcome: ProcessExit) -> str:
    if outcome.signal is not None:
        how = f"was killed by signal {outcome.signal}"
    else:
        how = f"exited with code {outcome.returncode}"
    return f"the claude CLI {how} without a result"


__all__ = ["AgentMCPError", "AgentPool"]
