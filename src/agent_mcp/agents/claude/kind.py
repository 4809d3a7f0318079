"""Claude Code as an agent kind: its argv, its stream-json frames, and its output read into Steps.

Everything that knows claude's flags and events is in this package; the pool sees only AgentKind.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_mcp.agents.claude import _argv as claude_argv
from agent_mcp.agents.claude import _frames as frames
from agent_mcp.agents.claude._stream import StreamState, describe_event
from agent_mcp.agents.claude._transcript import entries_of
from agent_mcp.agents.commands import cli_missing, exec_problem
from agent_mcp.agents.kind import Capabilities, PermissionAsk, Step
from agent_mcp.agents.reading import ParsedTurn
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.models import AgentOptions, ErrorKind

_INSTALL = "npm install -g @anthropic-ai/claude-code"


class ClaudeReader(ParsedTurn):
    """The parser (StreamState) of one turn, its events read out as the pool's Steps."""

    stream: StreamState

    def feed(self, line: bytes) -> Step | None:
        event = self.stream.feed(line)
        if event is None or self.stream.violation is not None:
            return None
        kind = event["type"]
        if kind == "control_request":
            try:
                ask = frames.permission_ask(event)
            except frames.NotTheClis as exc:
                return Step(doubt=str(exc))
            return Step(entries_of(event), describe_event(event), ask=ask)
        if kind == "rate_limit_event":
            return Step(limit=self.stream.limit) if self.stream.limit is not None else None
        withdrawn = event.get("request_id") if kind == "control_cancel_request" else None
        return Step(
            entries_of(event), describe_event(event), withdrawn=withdrawn if isinstance(withdrawn, str) else None
        )


class ClaudeKind:
    name = "claude"
    capabilities = Capabilities(warm_turns=True, ask_mode=True, budgets=True, effort=True)
    stripped_env: tuple[str, ...] = ("CLAUDECODE",)
    bin_setting = "claude_bin"
    remote_bin_setting = "remote_claude"

    def argv(self, executable: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]:
        return claude_argv.build_argv(executable, name, role, options, resume)

    def exec_problem(self, argv: list[str], env: Mapping[str, str]) -> str | None:
        return exec_problem("claude", argv, env)

    def message_frame(self, message: str) -> bytes:
        return frames.user_frame(message)

    def interrupt_frame(self) -> bytes:
        return frames.interrupt_frame()

    def answer_frame(self, ask: PermissionAsk, allow: bool, message: str) -> bytes:
        return frames.answer_frame(ask, allow, message)

    def reader(self, *, resumed: str | None, awaiting_init: bool) -> ClaudeReader:
        return ClaudeReader(StreamState(awaiting_init=awaiting_init, resumed=resumed))

    def ended_without_result(self, returncode: int | None, signal: int | None, tail: str = "") -> tuple[ErrorKind, str]:
        how = f"was killed by signal {signal}" if signal is not None else f"exited with code {returncode}"
        return "crashed", f"the claude CLI {how} without a result"  # its own failures come as results

    def state_paths(self, home: str, env: Mapping[str, str]) -> tuple[str, ...]:
        """CLAUDE_CONFIG_DIR holds everything (its .claude.json too); without it, ~/.claude and ~/.claude.json."""
        configured = env.get("CLAUDE_CONFIG_DIR")
        if configured:
            return (configured,)
        return (f"{home}/.claude", f"{home}/.claude.json")

    def not_found(self, executable: str, host: str | None, tail: str = "") -> RunFailed:
        setting = "AGENT_MCP_CLAUDE_BIN / --claude-bin" if host is None else "AGENT_MCP_REMOTE_CLAUDE / --remote-claude"
        return cli_missing("claude", executable, host, _INSTALL, setting, tail)
