"""Claude Code as an agent kind: its argv, its stream-json frames, and its output read into Steps.

Everything that knows claude's flags and events is in this package; the pool sees only AgentKind.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_mcp.agents.claude import _argv as claude_argv
from agent_mcp.agents.claude import _frames as frames
from agent_mcp.agents.claude._stream import StreamState, describe_event
from agent_mcp.agents.claude._transcript import entries_of
from agent_mcp.agents.kind import Capabilities, PermissionAsk, Step
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.long_strings import SpilledText
from agent_mcp.core.models import AgentOptions, AgentResponse, ErrorKind

_INSTALL = "npm install -g @anthropic-ai/claude-code"


class ClaudeReader:
    """The parser (StreamState) of one turn, its events read out as the pool's Steps."""

    def __init__(self, state: StreamState) -> None:
        self.state = state

    @property
    def session_id(self) -> str | None:
        return self.state.session_id

    @property
    def violation(self) -> str | None:
        return self.state.violation

    @property
    def leftovers(self) -> int:
        return self.state.leftovers

    @property
    def dropped(self) -> list[str]:
        return self.state.dropped

    @property
    def done(self) -> bool:
        return self.state.done

    @property
    def spilled_text(self) -> SpilledText | None:
        return self.state.spilled_text

    def droppable(self, head: bytes) -> bool:
        return self.state.droppable(head)

    def response(self, agent: str) -> AgentResponse:
        return self.state.response(agent)

    @property
    def answered(self) -> bool:
        return self.state.result is not None

    def refuse(self, why: str) -> None:
        self.state.violation = self.state.violation or why

    def feed(self, line: bytes) -> Step | None:
        event = self.state.feed(line)
        if event is None or self.state.violation is not None:
            return None
        kind = event["type"]
        if kind == "control_request":
            try:
                ask = frames.permission_ask(event)
            except frames.NotTheClis as exc:
                return Step(doubt=str(exc))
            return Step(entries_of(event), describe_event(event), ask=ask)
        withdrawn = event.get("request_id") if kind == "control_cancel_request" else None
        return Step(
            entries_of(event), describe_event(event), withdrawn=withdrawn if isinstance(withdrawn, str) else None
        )


class ClaudeKind:
    name = "claude"
    capabilities = Capabilities(warm_turns=True, ask_mode=True, budgets=True, effort=True)
    stripped_env: tuple[str, ...] = ("CLAUDECODE",)

    def argv(self, executable: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]:
        return claude_argv.build_argv(executable, name, role, options, resume)

    def exec_problem(self, argv: list[str], env: Mapping[str, str]) -> str | None:
        return claude_argv.exec_problem(argv, env)

    def message_frame(self, message: str) -> bytes:
        return frames.user_frame(message)

    def interrupt_frame(self) -> bytes:
        return frames.interrupt_frame()

    def answer_frame(self, ask: PermissionAsk, allow: bool, message: str) -> bytes:
        return frames.answer_frame(ask, allow, message)

    def reader(self, *, resumed: str | None, awaiting_init: bool) -> ClaudeReader:
        return ClaudeReader(StreamState(awaiting_init=awaiting_init, resumed=resumed))

    def ended_without_result(self, returncode: int | None, signal: int | None, tail: str) -> tuple[ErrorKind, str]:
        how = f"was killed by signal {signal}" if signal is not None else f"exited with code {returncode}"
        return "crashed", f"the claude CLI {how} without a result"

    def not_found(self, executable: str, host: str | None, tail: str = "") -> RunFailed:
        if host is None:
            return RunFailed(
                "cli_not_found",
                f"the claude CLI {executable!r} was not found or is not executable; install it ({_INSTALL}) or point "
                "AGENT_MCP_CLAUDE_BIN / --claude-bin at it",
                tail,
            )
        return RunFailed(
            "cli_not_found",
            f"the claude CLI {executable!r} was not found (or could not be started) on host {host!r}; install it "
            f"there ({_INSTALL}) or point AGENT_MCP_REMOTE_CLAUDE / --remote-claude at it",
            tail,
        )
