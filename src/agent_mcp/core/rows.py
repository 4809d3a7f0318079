"""The plain records every layer shares: an agent, its worktree, a run, a transcript entry, a command
to a run's owner, what is active per agent; and the store's rows read back as them.

Plain data only (and core's models), so the store, the pool and the agent kinds can all hold them
without importing each other. The agents table's columns are AgentRecord's fields (options,
worktree and allowed tools as JSON); a run's row gives a RunRecord (its response as JSON).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from agent_mcp.core.models import AgentOptions, AgentResponse, ErrorKind, PermissionRequest, RunInfo, RunStatus

__all__ = [
    "MESSAGE_PREVIEW",
    "Account",
    "ActiveCounts",
    "AgentRecord",
    "Command",
    "Entry",
    "LimitReport",
    "RunRecord",
    "Worktree",
    "agent_of",
    "run_of",
]


@dataclass(frozen=True)
class Entry:
    """One step of a run's transcript, as the store keeps it."""

    kind: str
    summary: str
    content: str
    chars: int
    """The content's whole length, when it was cut; 0 when it is whole."""


@dataclass(frozen=True)
class Worktree:
    """An agent's own git checkout and branch (hosts/worktree.py makes and removes it)."""

    path: str
    branch: str
    repo: str
    """The repository root the worktree was made from."""


@dataclass
class AgentRecord:
    """An agent as the store keeps it: the one shape of an agent inside the server."""

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
    worktree: Worktree | None = None
    always_allowed: list[str] = field(default_factory=list)
    """Tools a person allowed for good (ask mode): allowed without asking."""
    host: str | None = None
    """The listed SSH host it runs on (its alias); None: this machine."""
    cli: str = "claude"
    """Its agent kind (agents/ KINDS): claude, codex or gemini."""
    sandbox: bool = False
    """Its CLI runs in a bubblewrap box (processes/sandbox.py)."""


@dataclass(frozen=True)
class Account:
    """A login whose usage limits a pool spends: one CLI's, on this machine (host None) or on a host."""

    host: str | None
    cli: str = "claude"

    def __str__(self) -> str:
        where = "this machine" if self.host is None else f"host {self.host!r}"
        return f"the {self.cli} login of {where}"


@dataclass(frozen=True)
class LimitReport:
    """One usage-limit window of an account as a CLI reported it (claude's rate_limit_event), checked:
    the pool keeps the account's state from these, and the store keeps that state."""

    window: str
    """five_hour, seven_day, ...: the CLI's word for the window."""
    status: str
    """allowed, allowed_warning or rejected."""
    resets_at: int | None = None
    """Epoch seconds."""
    utilization: float | None = None
    """0..1, when reported."""


@dataclass(frozen=True)
class ActiveCounts:
    running: int
    """Running runs, those waiting for a permission answer included."""
    queued: int
    waiting: int = 0
    """Runs waiting for a permission answer."""


MESSAGE_PREVIEW = 2000
"""A message can be 4 MiB: a run's record carries its first MESSAGE_PREVIEW characters (all the store
reads back of it, and all a RunInfo shows); the whole message is read from the store by part."""


@dataclass(frozen=True)
class RunRecord:
    """What the store keeps of any run, this server's or another's (pool/_runs.py says what a run is)."""

    run_id: str
    agent: str
    status: RunStatus
    message: str
    """The message, or (read back from the store) its first MESSAGE_PREVIEW characters."""
    queued_at: str
    started_at: str | None = None
    finished_at: str | None = None
    response: AgentResponse | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    permission_requests: list[PermissionRequest] = field(default_factory=list)
    """Of a run that ended without a response (a response lists them itself)."""
    resets_at: str | None = None
    """Of a run its account's usage limit ended before it started: when that resets."""

    def info(self, position: int = 0) -> RunInfo:
        """RunInfo's fields are this record's, plus the run's place in its agent's queue."""
        return RunInfo(**{**self.__dict__, "position": position, "message": self.message[:MESSAGE_PREVIEW]})


@dataclass(frozen=True)
class Command:
    """Another server's request to the server that owns a run (pool/_commands.py carries it out)."""

    id: int
    run_id: str
    action: str
    """cancel, or answer (payload: request_id, decision, message)."""
    payload: dict[str, Any]


def agent_of(row: sqlite3.Row) -> AgentRecord:
    """The agents table's columns are AgentRecord's fields; options and worktree are JSON."""
    worktree = row["worktree"]
    return AgentRecord(
        **{
            **dict(row),
            # Written by add_agent from a checked AgentOptions: read back without checking it again.
            "options": AgentOptions.model_construct(**json.loads(row["options"])),
            "worktree": Worktree(**json.loads(worktree)) if worktree else None,
            "always_allowed": json.loads(row["always_allowed"]),
            "sandbox": bool(row["sandbox"]),
        }
    )


def run_of(row: sqlite3.Row) -> RunRecord:
    """The columns the store reads of a run (store/_runs.py) are RunRecord's fields; the response is JSON."""
    response = row["response"]
    fields = {key: row[key] for key in row.keys() if key != "place"}  # noqa: SIM118 (a Row iterates its values)
    requests = row["permission_requests"]
    return RunRecord(
        **{
            **fields,
            "response": AgentResponse.model_validate_json(response) if response else None,
            "permission_requests": [PermissionRequest.model_validate(r) for r in json.loads(requests or "[]")],
        }
    )
