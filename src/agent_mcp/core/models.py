"""The shapes callers see: tool results and the options an agent is created with.

These models are the tools' outputSchema, so field descriptions are written for the caller.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

ErrorKind = Literal[
    "cli_not_found",
    "not_logged_in",
    "rate_limited",
    "max_turns",
    "max_budget",
    "api_error",
    "resume_failed",
    "crashed",
    "timed_out",
    "cancelled",
    "interrupted",
    "policy",
    "host_unreachable",
    "connection_lost",
    "protocol_error",
    "internal",
]


def informative(value: Any) -> bool:
    """Whether a field's value says anything: null, false, zero and empty say nothing."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, list | dict | str):
        return bool(value)
    return True


def lean(data: dict[str, Any], always: frozenset[str]) -> dict[str, Any]:
    """A result's fields as the model reading it needs them: the contract's fields always (null
    included), any other only when it carries information. The output schemas stay complete."""
    return {key: value for key, value in data.items() if key in always or informative(value)}


class Lean(BaseModel):
    """Every byte of a result lands in the caller's context: fields outside ALWAYS are left out when
    they say nothing. Read back (from the store, by a client), the defaults fill them in."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_the_uninformative(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return lean(data, self.ALWAYS) if isinstance(data, dict) else data


PERMISSION_MODES = ("acceptEdits", "ask", "auto", "bypassPermissions", "default", "dontAsk", "plan")
ASK = "ask"
"""agent-mcp's own mode: the CLI's permission prompts come to agent-mcp, which asks a person."""
EFFORTS = ("low", "medium", "high", "xhigh", "max")


class AgentOptions(Lean):
    """Per-agent claude options, repeated in AgentInfo under create_agent's argument names."""

    model_config = ConfigDict(frozen=True)

    model: str | None = Field(default=None, description="claude --model (passed through unchecked)")
    permission_mode: str | None = Field(
        default=None,
        description="claude --permission-mode, or ask: each tool use that needs approval waits for an answer "
        "(elicitation, or answer_permission)",
    )
    allowed_tools: list[str] | None = Field(default=None, description="claude --allowedTools")
    disallowed_tools: list[str] | None = Field(default=None, description="claude --disallowedTools")
    max_turns: int | None = Field(default=None, description="claude --max-turns")
    max_budget_usd: float | None = Field(default=None, description="claude --max-budget-usd")
    add_dirs: list[str] | None = Field(default=None, description="claude --add-dir, resolved absolute paths")
    mcp_config: dict[str, Any] | str | None = Field(
        default=None, description='claude --mcp-config: a {"mcpServers": {...}} object, or the path of such a file'
    )
    effort: str | None = Field(default=None, description="claude --effort")


class AgentInfo(AgentOptions):
    ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"name", "role", "cwd", "session_id", "status", "queued", "message_count", "model", "created_at",
         "total_cost_usd", "total_input_tokens", "total_output_tokens"}
    )  # fmt: skip

    name: str
    role: str
    cwd: str = Field(description="absolute, resolved working directory (on its host, for an agent on one)")
    host: str | None = Field(
        default=None, description="the SSH host (an alias of --hosts) its claude runs on; absent: this machine"
    )
    session_id: str | None = Field(description="the session the next message resumes; null until a reply")
    status: Literal["idle", "running", "waiting_permission"] = Field(
        description="running while a claude process runs for it; waiting_permission while its run waits for an "
        "answer to a permission request"
    )
    queued: int = Field(description="messages waiting for their turn")
    warm: bool = Field(
        default=False, description="its claude process is alive, waiting for its next message (which starts at once)"
    )
    message_count: int = Field(description="messages that got an AgentResponse, failed ones included")
    created_at: str = Field(description="ISO 8601, UTC")
    total_cost_usd: float
    total_input_tokens: int
    total_output_tokens: int
    total_cache_creation_input_tokens: int = 0
    total_cache_read_input_tokens: int = 0
    always_allowed: list[str] = Field(
        default_factory=list, description="tools answered allow_always: allowed without asking (ask mode)"
    )
    worktree: bool = Field(default=False, description="whether the agent works in its own git worktree")
    worktree_branch: str | None = Field(default=None, description="the branch of its worktree")
    worktree_repo: str | None = Field(default=None, description="the repository its worktree was made from")


class AgentEntry(AgentInfo):
    """An agent as a listing shows it: who it is and its state always (the role's first 200
    characters); its model, totals and options only when they say something (get_agent gives all)."""

    ALWAYS: ClassVar[frozenset[str]] = AgentInfo.ALWAYS - {
        "model", "total_cost_usd", "total_input_tokens", "total_output_tokens"
    }  # fmt: skip

    total_cost_usd: float = 0.0
    total_input_tokens: int = 0
    total_output_tokens: int = 0


class AgentList(BaseModel):
    agents: list[AgentEntry] = Field(description="one page, sorted by name")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last")
    total: int = Field(description="how many agents match, on every page together")


class PermissionDenial(BaseModel):
    tool_name: str
    summary: str = Field(description="what it was denied for: the file path, the command, the pattern…")


Decision = Literal["allow", "allow_always", "deny"]
"""The one vocabulary of a permission answer: allow this use, allow this tool for good (a person's
alone: permissions.caller_may_answer), deny."""
DECISIONS: tuple[Decision, ...] = get_args(Decision)
AnsweredBy = Literal["elicitation", "dashboard", "answer_permission", "rule", "timeout", "withdrawn"]
PersonOrCaller = Literal["dashboard", "answer_permission"]
"""Who answers through pool.answer_permission: a person at the dashboard, or the MCP caller."""


class PendingPermission(BaseModel):
    """A tool use an ask-mode agent waits to be allowed: answer it with answer_permission."""

    request_id: str
    tool_name: str
    summary: str = Field(description="what the tool would do, in one line")
    input: dict[str, Any] = Field(description="the tool's input (strings over 2000 characters cut)")
    asked_at: str = Field(description="ISO 8601, UTC")


class PermissionRequest(Lean):
    """A permission request of the run and how it was answered."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset({"request_id", "tool_name", "summary", "decision", "answered_by"})

    request_id: str
    tool_name: str
    summary: str
    decision: Decision = Field(description="deny also when nobody answered or the request was withdrawn")
    answered_by: AnsweredBy = Field(
        description="elicitation (a person, through the client), dashboard (a person, at the dashboard), "
        "answer_permission (the MCP caller), rule (an earlier allow_always), "
        "timeout (nobody answered in time), withdrawn (the turn ended first: cancelled, timed out, interrupted)"
    )
    message: str | None = Field(default=None, description="what the agent was told with a denial")
    asked_at: str | None = None
    answered_at: str | None = None


class AgentResponse(Lean):
    """One turn's outcome as the CLI reported it; is_error marks failures the CLI itself reported."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"agent", "run_id", "text", "session_id", "model", "api_key_source", "rate_limit_type", "cost_usd",
         "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "duration_ms",
         "num_turns", "is_error", "error", "subtype"}
    )  # fmt: skip

    agent: str
    run_id: str | None = Field(default=None, description="the run this turn was; get_run(run_id) reads it again")
    text: str = Field(
        description="the final answer (or the CLI's error text); a long one is cut to its head and tail (see "
        "text_truncated)"
    )
    text_truncated: bool = Field(
        default=False,
        description="text holds only part of the reply: read the whole as the resource "
        "agent-mcp://runs/{run_id}/reply, or page through it with get_run(run_id, text_offset, text_limit)",
    )
    text_chars: int | None = Field(default=None, description="the whole reply's length in characters, when cut")
    session_id: str | None
    model: str | None
    api_key_source: str | None
    rate_limit_type: str | None = None
    rate_limit_status: str | None = Field(default=None, description="allowed | allowed_warning | rejected")
    rate_limit_resets_at: int | None = Field(default=None, description="epoch seconds")
    cost_usd: float | None
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    duration_ms: int | None
    num_turns: int | None
    is_error: bool
    error: str | None = Field(description="what went wrong, when is_error")
    subtype: str | None = Field(description="the result event's subtype, e.g. success, error_max_turns")
    api_error_status: int | None = Field(default=None, description="HTTP status of a failed API call")
    error_kind: ErrorKind | None = Field(
        default=None,
        description="null on success; what a program can branch on: not_logged_in, rate_limited, max_turns, "
        "max_budget, api_error, resume_failed, cancelled…",
    )
    files_changed: list[str] = Field(
        default_factory=list, description="files that successful Edit / Write / NotebookEdit tool uses targeted"
    )
    permission_denials: list[PermissionDenial] = Field(
        default_factory=list,
        description="tool uses the CLI denied (headless, it cannot ask): give the agent a permission_mode or "
        "allowed_tools that lets them",
    )
    permission_requests: list[PermissionRequest] = Field(
        default_factory=list, description="ask mode: what the agent asked to do during the turn, and the answers"
    )


RunStatus = Literal[
    "queued", "running", "waiting_permission", "done", "failed", "cancelled", "timed_out", "interrupted"
]


class RunInfo(Lean):
    """One message's run. `done` means the CLI answered (the response may still have is_error)."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"run_id", "agent", "status", "position", "message", "queued_at", "started_at", "finished_at", "response",
         "error", "error_kind", "pending_permission"}
    )  # fmt: skip

    run_id: str
    agent: str
    status: RunStatus
    position: int = Field(description="messages ahead of it in its agent's queue; 0 when running")
    message: str = Field(description="the message (its first 2000 characters: see message_truncated)")
    message_truncated: bool = Field(
        default=False,
        description="message holds only part of the message: read the rest with get_run(run_id, message_offset, "
        "message_limit)",
    )
    message_chars: int | None = Field(default=None, description="the whole message's length in characters, when cut")
    queued_at: str = Field(description="ISO 8601, UTC")
    started_at: str | None = Field(description="when its claude process started")
    finished_at: str | None
    response: AgentResponse | None
    error: str | None = Field(description="why there is no response")
    error_kind: ErrorKind | None = Field(
        description="why it failed, when it did: the response's error_kind, or cli_not_found, crashed, timed_out, "
        "cancelled, interrupted (and host_unreachable, connection_lost for an agent on an SSH host) when there is "
        "no response"
    )
    pending_permission: PendingPermission | None = Field(
        default=None,
        description="while status is waiting_permission: the tool use waiting to be allowed (answer_permission)",
    )
    permission_requests: list[PermissionRequest] = Field(
        default_factory=list,
        description="ask mode, for a run that ended without a response: its permission requests and their answers "
        "(a response lists them itself)",
    )


class RunList(BaseModel):
    runs: list[RunInfo]


class ReplyHead(Lean):
    """A reply as a history page shows it: its first characters and what it cost and changed; every
    field but text only when it says something (get_run gives the whole AgentResponse)."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset({"text"})

    text: str = Field(description="the reply's first 500 characters")
    text_truncated: bool = Field(default=False, description="there is more: get_run(run_id) or the reply resource")
    text_chars: int | None = Field(default=None, description="the whole reply's length in characters, when cut")
    cost_usd: float | None = None
    is_error: bool = False
    error: str | None = None
    error_kind: ErrorKind | None = None
    files_changed: list[str] = Field(default_factory=list)
    permission_denials: list[PermissionDenial] = Field(default_factory=list)


class RunEntry(Lean):
    """A run as a history page shows it: run_id, status and the first 500 characters of its message
    always; any other field only when it says something (get_run gives the whole RunInfo)."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset({"run_id", "status", "message"})

    run_id: str
    status: RunStatus
    message: str = Field(description="the message's first 500 characters")
    position: int = Field(default=0, description="messages ahead of it in its agent's queue")
    finished_at: str | None = Field(default=None, description="ISO 8601, UTC")
    response: ReplyHead | None = None
    error: str | None = Field(default=None, description="why there is no response")
    error_kind: ErrorKind | None = None
    permission_requests: list[PermissionRequest] = Field(
        default_factory=list, description="ask mode: what the agent asked to do, and the answers"
    )


class HistoryPage(BaseModel):
    runs: list[RunEntry | RunInfo] = Field(
        description="newest first: RunEntry (message and reply cut to their first 500 characters), or RunInfo "
        "with full=true"
    )
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last")


class TranscriptEvent(Lean):
    """One step of a run, as it happened. What an agent wrote is untrusted text."""

    ALWAYS: ClassVar[frozenset[str]] = frozenset({"seq", "at", "kind", "summary"})

    seq: int = Field(description="its place in the run's transcript, from 1")
    at: str = Field(description="ISO 8601, UTC")
    kind: Literal["text", "thinking", "tool_use", "tool_result", "error", "permission_request", "cut"]
    summary: str = Field(description="one line: the command or file of a tool use, a text's first line…")
    content: str = Field(default="", description="the whole step, cut (see chars)")
    chars: int = Field(default=0, description="the content's whole length when it was cut (a cut: the events left out)")


class TranscriptPage(BaseModel):
    events: list[TranscriptEvent] = Field(description="in order; a page holds about 16,000 characters at most")
    next: int = Field(description="pass as `after` for the events that follow (also while the run goes on)")
    status: RunStatus = Field(description="the run's status: once it has finished, nothing more comes")


class Deleted(BaseModel):
    deleted: str = Field(description="the name of the agent that was deleted")


class AgentMessage(BaseModel):
    agent: str
    message: str


class RunWait(BaseModel):
    runs: list[RunInfo]
    done: bool = Field(description="false when wait_s ran out before the runs finished")
