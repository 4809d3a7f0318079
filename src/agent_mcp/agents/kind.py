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
from agent_mcp.core.models import AgentOptions, AgentResponse, ErrorKind
from agent_mcp.core.rows import Entry


@dataclass(frozen=True)
class Capabilities:
    warm_turns: bool
    """Its process takes the next message after answering one (so it can be kept warm)."""
    ask_mode: bool
    """It asks before a tool use, and waits for the answer (permission_mode "ask")."""
    budgets: bool
    """It stops a run at a cost (max_budget_usd)."""
    effort: bool
    """It takes a reasoning effort (effort)."""


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

    def ended_without_result(self, returncode: int | None, signal: int | None, tail: str) -> tuple[ErrorKind, str]:
        """What a process that ended its turn without an answer did, in the CLI's name, and its error kind:
        `crashed` unless the exit (its code, the last words it printed: `tail`) says more, as a one-shot
        CLI's exit code does (gemini exits 41 when it has no credentials)."""
        ...

    def not_found(self, executable: str, host: str | None, tail: str = "") -> RunFailed:
        """The CLI is missing here (host None) or on a host: what to install, which setting points at it."""
        ...
