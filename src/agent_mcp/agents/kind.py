"""The agent-kind seam: what the pool needs from one agent CLI, and nothing the pool must know of it.

A kind turns an agent's options into its CLI's argv, frames a message, an interrupt and a permission
answer the way its CLI reads them, and reads its CLI's output, a line at a time, into what the pool
keeps: transcript entries, progress lines, permission requests and, at the end, the common
AgentResponse. The pool names no CLI flag and no CLI event: it asks the kind. A kind says what it can
do (Capabilities), so the pool refuses what it cannot at create time.

Adding a kind: a package agents/<kind>/ with a class that satisfies AgentKind, listed in
agents/__init__.py's KINDS; its test double and captures under tests/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_mcp.core.errors import RunFailed
from agent_mcp.core.long_strings import SpilledText
from agent_mcp.core.models import ASK, AgentOptions, AgentResponse, ErrorKind
from agent_mcp.core.rows import Entry, LimitReport

ALL_OPTIONS = frozenset(AgentOptions.model_fields)


@dataclass(frozen=True)
class Capabilities:
    warm_turns: bool
    """Its process takes the next message after answering one (so it can be kept warm). One that does
    not is a one-shot process: it is given its message and then the end of its input, answers one turn
    and exits; cancelling its turn ends it."""
    ask_mode: bool
    """It asks before a tool use, and waits for the answer (permission_mode "ask")."""
    budgets: bool
    """It stops a run at a cost (max_budget_usd)."""
    effort: bool
    """It takes a reasoning effort (effort)."""
    options: frozenset[str] = ALL_OPTIONS
    """The creation options (AgentOptions' fields) its CLI has a flag for; any other is refused."""
    max_message_bytes: int | None = None
    """The largest message its CLI answers whole (None: --max-message-bytes alone limits it)."""
    cumulative_usage: bool = False
    """A resumed turn reports its session's running totals of tokens, not its own: the pool keeps the
    last totals per session (store sessions.usage) and gives the caller the difference."""


POOL_OPTIONS = frozenset({"max_total_usd"})
"""Options the pool keeps itself (no CLI flag): checked above, by what the kind reports."""


def unhonoured(kind: AgentKind, options: AgentOptions) -> str | None:
    """The first option given that the kind cannot honour, with why, in words for the refusal."""
    can = kind.capabilities
    if options.permission_mode == ASK and not can.ask_mode:
        return f"permission_mode {ASK!r} (the {kind.name} CLI does not ask before a tool use)"
    if options.max_budget_usd is not None and not can.budgets:
        return f"max_budget_usd (the {kind.name} CLI cannot stop a run at a cost)"
    if options.effort is not None and not can.effort:
        return f"effort (the {kind.name} CLI takes no reasoning effort)"
    if options.max_total_usd is not None and not can.budgets:
        return f"max_total_usd (the {kind.name} CLI reports no cost, so a cap on what it spends cannot be kept)"
    for option, value in options:
        if value is not None and option not in can.options | POOL_OPTIONS:
            return f"{option} (the {kind.name} CLI has no flag for it)"
    return None


@dataclass(frozen=True)
class PermissionAsk:
    """A tool use the CLI waits to have answered, in the shape its CLI sends."""

    request_id: str
    tool_name: str
    tool_input: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """What one event of a turn means to the pool."""

    entries: list[Entry] = field(default_factory=list)
    progress: str | None = None
    """A short line for whoever waits on the run (`Bash: pytest -q`)."""
    ask: PermissionAsk | None = None
    withdrawn: str | None = None
    """The id of a request the CLI no longer waits on."""
    doubt: str | None = None
    """Why a permission request is not in the shape the CLI sends (then nobody is asked)."""
    limit: LimitReport | None = None
    """The account's usage limit, as the CLI reported it just now (a kind that reports none never sets it)."""


class TurnReader(Protocol):
    """One turn's output, read a line at a time. Pure: it never does I/O."""

    @property
    def session_id(self) -> str | None: ...

    @property
    def violation(self) -> str | None:
        """How the output broke the CLI's protocol, once it did: nothing of the turn is believed."""
        ...

    @property
    def leftovers(self) -> int:
        """Events of an earlier turn that came in this one's place: the process gets no further turn."""
        ...

    @property
    def dropped(self) -> list[str]:
        """Values no real turn gives (name=value), left out of the response."""
        ...

    @property
    def done(self) -> bool: ...

    @property
    def answered(self) -> bool:
        """The CLI ended the turn itself (with an answer or an error of its own)."""
        ...

    @property
    def worked(self) -> bool:
        """The model wrote or used a tool this turn: a turn rejected by a usage limit before it did may
        run again after the reset, since nothing of it happened."""
        ...

    @property
    def spilled_text(self) -> SpilledText | None: ...

    def feed(self, line: bytes) -> Step | None: ...

    def refuse(self, why: str) -> None:
        """The pool found the output untrue (a session another agent holds): a violation from now on."""
        ...

    def droppable(self, head: bytes) -> bool:
        """Whether a long line that starts with `head` can go unread (nothing in it counts)."""
        ...

    def response(self, agent: str) -> AgentResponse: ...


class AgentKind(Protocol):
    name: str
    capabilities: Capabilities
    stripped_env: tuple[str, ...]
    """Variables its CLI must not inherit (they would make it believe it runs inside another session)."""
    bin_setting: str
    """The Settings field that names its executable here (claude_bin, codex_bin, gemini_bin)."""
    remote_bin_setting: str
    """The Settings field that names its executable on an SSH host (remote_claude; codex_bin)."""

    def argv(self, executable: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]: ...

    def exec_problem(self, argv: list[str], env: Mapping[str, str]) -> str | None:
        """Why exec would refuse this argv with this environment, in the CLI's words, if it would."""
        ...

    def message_frame(self, message: str) -> bytes: ...

    def interrupt_frame(self) -> bytes: ...

    def answer_frame(self, ask: PermissionAsk, allow: bool, message: str) -> bytes: ...

    def reader(self, *, resumed: str | None, awaiting_init: bool) -> TurnReader:
        """`awaiting_init`: the process answered before, so the turn's events start at its own beginning."""
        ...

    def ended_without_result(self, returncode: int | None, signal: int | None, tail: str = "") -> tuple[ErrorKind, str]:
        """What a process that ended its turn without an answer did, in the CLI's name, and its error
        kind: from its exit and the last of its output and terminal (`tail`), where a CLI that fails
        before any event says why (resume_failed for a session it does not have; crashed else)."""
        ...

    def not_found(self, executable: str, host: str | None, tail: str = "") -> RunFailed:
        """The CLI is missing here (host None) or on a host: what to install, which setting points at it."""
        ...

    def state_paths(self, home: str, env: Mapping[str, str]) -> tuple[str, ...]:
        """The files and directories its CLI keeps its own state in (login, settings, sessions), for
        the login whose home is `home` and environment `env`: a sandboxed agent's box keeps them
        writable (processes/sandbox.py), and those that do not exist yet are not made."""
        ...
