"""The Codex CLI as an agent kind: `codex exec --json`, one process per message, read into Steps.

Everything that knows codex's flags and events is in this package; the pool sees only AgentKind.
codex exec answers one message and exits, so its process is never kept warm: the pool writes the
message and closes its stdin (Capabilities.warm_turns False), and a cancelled turn's process is
ended (codex has no interrupt on its input). It never asks before a tool use (its sandbox decides),
stops at no cost, and reports no cost. A resumed turn reports its thread's running totals of tokens
(02_resume, 03_resume_again): the pool gives the caller the difference (cumulative_usage).
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_mcp.agents.codex import _argv as codex_argv
from agent_mcp.agents.codex._stream import CodexStream
from agent_mcp.agents.codex._transcript import describe_event, entries_of
from agent_mcp.agents.commands import cli_missing, exec_problem
from agent_mcp.agents.kind import Capabilities, PermissionAsk, Step
from agent_mcp.agents.reading import ParsedTurn
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.models import AgentOptions, ErrorKind

_INSTALL = "npm install -g @openai/codex"
UNKNOWN_THREAD = "no rollout found for thread id"
"""What codex writes on its terminal when `resume` names a thread it does not have (09_resume_unknown)."""


class CodexReader(ParsedTurn):
    """The parser (CodexStream) of one turn, its events read out as the pool's Steps."""

    stream: CodexStream

    def feed(self, line: bytes) -> Step | None:
        event = self.stream.feed(line)
        if event is None or self.stream.violation is not None:
            return None
        return Step(entries_of(event), describe_event(event))


class CodexKind:
    name = "codex"
    capabilities = Capabilities(
        warm_turns=False, ask_mode=False, budgets=False, effort=True, options=codex_argv.OPTIONS,
        cumulative_usage=True,
    )  # fmt: skip
    stripped_env: tuple[str, ...] = ()
    bin_setting = "codex_bin"
    remote_bin_setting = "codex_bin"

    def argv(self, executable: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]:
        return codex_argv.build_argv(executable, name, role, options, resume)

    def exec_problem(self, argv: list[str], env: Mapping[str, str]) -> str | None:
        return exec_problem("codex", argv, env)

    def message_frame(self, message: str) -> bytes:
        """The message as codex reads it with `-`: stdin verbatim, to its end (10_dash_message)."""
        return message.encode("utf-8")

    def interrupt_frame(self) -> bytes:
        return b""  # never sent: a one-shot process is ended instead

    def answer_frame(self, ask: PermissionAsk, allow: bool, message: str) -> bytes:
        return b""  # never sent: codex exec asks nothing (ask_mode False)

    def reader(self, *, resumed: str | None, awaiting_init: bool) -> CodexReader:
        return CodexReader(CodexStream(resumed=resumed))

    def ended_without_result(self, returncode: int | None, signal: int | None, tail: str = "") -> tuple[ErrorKind, str]:
        if UNKNOWN_THREAD in tail:
            return "resume_failed", "the codex CLI has no such thread to resume (its sessions are in CODEX_HOME)"
        how = f"was killed by signal {signal}" if signal is not None else f"exited with code {returncode}"
        return "crashed", f"the codex CLI {how} without ending its turn"

    def state_paths(self, home: str, env: Mapping[str, str]) -> tuple[str, ...]:
        """CODEX_HOME holds its login, config and threads (default ~/.codex)."""
        return (env.get("CODEX_HOME") or f"{home}/.codex",)

    def not_found(self, executable: str, host: str | None, tail: str = "") -> RunFailed:
        return cli_missing("codex", executable, host, _INSTALL, "AGENT_MCP_CODEX_BIN / --codex-bin", tail)
