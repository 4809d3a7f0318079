"""A pure parser from the CLI's stream-json output lines to an AgentResponse.

It owns everything the CLI's output format implies (docs/claude-cli.md#pty and #events): not every
line is JSON (and a line may carry `\\r` and terminal escapes); `system/init` may be missing; the
`result` event ends a run; and a failure can hide behind `subtype: "success"`.

It believes nothing it is not sure of. The output comes from a socket the agent's tools cannot
write into (process.py), but a line is still only data: a number is taken only when it is finite,
not negative and in a range no real turn leaves (else dropped, and said so in `dropped`); JSON's
NaN and Infinity, which the CLI never writes, make a line no event at all; a session id only in the
CLI's UUID form, only from the turn's own `init`, and the `result` must name the same one (and a
resumed turn the session it resumed); a second `init` in a turn breaks the protocol (`violation`);
events of an earlier turn that come after its result are counted (`leftovers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_mcp.agents.output import (
    MAX_DURATION_MS,
    MAX_EPOCH_S,
    RATE_LIMIT_STATUSES,
    Checked,
    is_session_id,
    read_event,
)
from agent_mcp.core.entries import first_line, tool_subject
from agent_mcp.core.long_strings import SpilledText
from agent_mcp.core.models import AgentResponse, ErrorKind, PermissionDenial
from agent_mcp.core.rows import LimitReport

# The tools that change files, and the input field that names the file.
FILE_TOOLS = {"Edit": "file_path", "MultiEdit": "file_path", "Write": "file_path", "NotebookEdit": "notebook_path"}


def _denials(raw: Any) -> list[PermissionDenial]:
    """The result's permission_denials ([{tool_name, tool_use_id, tool_input}]) as the caller needs
    them: which tool, and for what, in a line."""
    denials = []
    for denial in raw if isinstance(raw, list) else ():
        if not isinstance(denial, dict) or not isinstance(denial.get("tool_name"), str):
            continue
        denials.append(PermissionDenial(tool_name=denial["tool_name"], summary=tool_subject(denial.get("tool_input"))))
    return denials


def _list(value: Any) -> list[Any]:
    """A list the output should hold there, or none: a forged value of another type is no list."""
    return value if isinstance(value, list) else []


_USER_EVENT = b'{"type":"user",'


@dataclass
class StreamState:
    """What the events of one run have said so far. Feed it every line; it never does I/O."""

    session_id: str | None = None
    model: str | None = None
    api_key_source: str | None = None
    rate_limit: dict[str, Any] = field(default_factory=dict)
    limit: LimitReport | None = None
    """The latest rate_limit_event, checked: the account's window as the CLI reported it."""
    worked: bool = False
    """The model wrote text or used a tool this turn (a synthetic error message is neither): a turn
    rejected before that may run again, since nothing of it happened."""
    texts: list[str] = field(default_factory=list)
    edits: dict[str, str] = field(default_factory=dict)
    """tool_use id -> the file a file-editing tool was asked to change, until its result arrives."""
    files_changed: list[str] = field(default_factory=list)
    assistant_error: str | None = None
    result: dict[str, Any] | None = None
    awaiting_init: bool = False
    """For a turn on a process that answered before: its events start at the turn's own system/init
    (the CLI writes one per turn), and anything earlier is what the last turn left behind."""
    resumed: str | None = None
    """The session the turn resumes (--resume=, or the warm process's): the CLI names it again."""
    init_seen: bool = False
    leftovers: int = 0
    """Events before the turn's own init on a process that answered before: the CLI leaves none (a
    rate_limit_event may come before a turn's init: that one is the turn's), so its last turn went on
    after its result (which then was not the CLI's): it gets no further turn."""
    violation: str | None = None
    """How the output broke the CLI's protocol, once it did: the turn's output is not believed."""
    dropped: list[str] = field(default_factory=list)
    """Values the output gave that no real turn gives (name=value), left out of the response."""

    @property
    def spilled_text(self) -> SpilledText | None:
        """The answer, when it was too long to hold (long_strings.py): the response has its preview."""
        final = self.result.get("result") if self.result is not None else None
        return final if isinstance(final, SpilledText) else None

    @property
    def answered(self) -> bool:
        """The CLI ended the turn itself (its result)."""
        return self.result is not None

    @property
    def done(self) -> bool:
        """The result event is the CLI's completion signal; nothing after it matters (nor after a
        violation of the protocol)."""
        return self.result is not None or self.violation is not None

    def droppable(self, head: bytes) -> bool:
        """Whether a long line that starts with `head` can go unread: a tool's output (the CLI writes
        it twice in the line) while no file edit awaits its result; nothing in it counts for the
        response, and parsing megabytes of it would."""
        return not self.edits and head.startswith(_USER_EVENT)

    def feed(self, raw: bytes) -> dict[str, Any] | None:
        event = read_event(raw, self.droppable)
        if event is None or self.done:
            return event
        kind = event["type"]
        is_init = kind == "system" and event.get("subtype") == "init"
        if self.awaiting_init and not is_init and kind != "rate_limit_event":
            self.leftovers += 1
            return None
        self.awaiting_init = self.awaiting_init and not is_init
        if is_init:
            self._init(event)
        elif kind == "assistant":
            self._assistant(event)
        elif kind == "user":
            self._tool_results(event)
        elif kind == "rate_limit_event" and isinstance(event.get("rate_limit_info"), dict):
            self.rate_limit = event["rate_limit_info"]
            self.limit = _limit_report(self.rate_limit, Checked(self.dropped))
        elif kind == "result":
            self._result(event)
        return event

    def _init(self, event: dict[str, Any]) -> None:
        session_id = event.get("session_id")
        if self.init_seen:
            self.violation = "a second system/init within one turn"
        elif not is_session_id(session_id):
            self.violation = f"system/init named no session in the CLI's UUID form ({str(session_id)[:80]!r})"
        elif self.resumed is not None and session_id != self.resumed:
            self.violation = f"the turn resumed session {self.resumed} but system/init named {session_id}"
        else:
            self.init_seen, self.session_id = True, session_id
            checked = Checked(self.dropped)
            self.model = checked.word("model", event.get("model")) or self.model
            self.api_key_source = checked.word("apiKeySource", event.get("apiKeySource"))

    def _result(self, event: dict[str, Any]) -> None:
        """The session a result names must be the turn's: its init's, or the one it resumed."""
        named, known = event.get("session_id"), self.session_id or self.resumed
        if named is not None and known is not None and named != known:
            self.violation = f"the result named session {str(named)[:80]!r}, not the turn's {known}"
            return
        self.result = event
        self.session_id = self.session_id or self.resumed  # a failed resume has no init: it names the one asked
        if isinstance(event.get("result"), str):
            self.texts.clear()  # the answer is the result's; a long reply need not be held twice

    def _assistant(self, event: dict[str, Any]) -> None:
        message = event.get("message")
        if not isinstance(message, dict):
            return
        if self.model is None:
            self.model = Checked(self.dropped).word("model", message.get("model"))
        if isinstance(event.get("error"), str):
            self.assistant_error = event["error"]
        elif _list(message.get("content")):
            self.worked = True
        # Sub-agent (Task) messages carry a parent_tool_use_id; their text is not this agent's answer.
        if event.get("parent_tool_use_id") is not None:
            return
        for block in _list(message.get("content")):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                self.texts.append(block["text"])
            elif block.get("type") == "tool_use" and block.get("name") in FILE_TOOLS:
                tool_input = block.get("input")
                path = tool_input.get(FILE_TOOLS[block["name"]]) if isinstance(tool_input, dict) else None
                if isinstance(path, str) and isinstance(block.get("id"), str):
                    self.edits[block["id"]] = path

    def _tool_results(self, event: dict[str, Any]) -> None:
        """A file counts as changed once its tool's result says it succeeded (a denied Write did not)."""
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result":
                path = self.edits.pop(str(block.get("tool_use_id")), None)
                if path is not None and block.get("is_error") is not True and path not in self.files_changed:
                    self.files_changed.append(path)

    def response(self, agent: str) -> AgentResponse:
        """The run's AgentResponse; only valid once `done`. Every value is checked (_Checked)."""
        result = self.result
        if result is None:
            raise ValueError("the run produced no result event")
        raw_usage = result.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        final = result.get("result")
        text = final if isinstance(final, str) else "\n".join(self.texts)
        checked = Checked(self.dropped)
        subtype = checked.word("subtype", result.get("subtype"))
        # A failure can come as subtype "success" with is_error true (auth, API errors, bad model).
        is_error = result.get("is_error") is True or subtype != "success"
        limit = self.rate_limit if self.rate_limit.get("status") != "allowed" else {}  # "allowed" says nothing
        return AgentResponse(
            agent=agent,
            text=text,
            session_id=self.session_id,
            model=self.model,
            api_key_source=self.api_key_source,
            rate_limit_type=checked.word("rateLimitType", limit.get("rateLimitType")),
            rate_limit_status=checked.choice("status", limit.get("status"), RATE_LIMIT_STATUSES),
            rate_limit_resets_at=checked.count("resetsAt", limit.get("resetsAt"), MAX_EPOCH_S),
            cost_usd=_turn_cost(result, checked),
            input_tokens=checked.count("input_tokens", usage.get("input_tokens")) or 0,
            output_tokens=checked.count("output_tokens", usage.get("output_tokens")) or 0,
            cache_creation_input_tokens=checked.count(
                "cache_creation_input_tokens", usage.get("cache_creation_input_tokens")
            )
            or 0,
            cache_read_input_tokens=checked.count("cache_read_input_tokens", usage.get("cache_read_input_tokens")) or 0,
            duration_ms=checked.count("duration_ms", result.get("duration_ms"), MAX_DURATION_MS),
            num_turns=checked.count("num_turns", result.get("num_turns")),
            is_error=is_error,
            error=self._error_text(result, text) if is_error else None,
            subtype=subtype,
            api_error_status=checked.count("api_error_status", result.get("api_error_status"), 599),
            error_kind=self._error_kind(result) if is_error else None,
            files_changed=list(self.files_changed),
            permission_denials=_denials(result.get("permission_denials")),
        )

    def _error_kind(self, result: dict[str, Any]) -> ErrorKind:
        """docs/claude-cli.md#error-kinds: the subtype, the errors list, the synthetic message's
        error category and the HTTP status together say what went wrong."""
        subtype = result.get("subtype")
        status = result.get("api_error_status")
        errors = " ".join(e for e in _list(result.get("errors")) if isinstance(e, str))
        if subtype == "error_max_turns":
            return "max_turns"
        if subtype == "error_max_budget_usd":
            return "max_budget"
        if "No conversation found with session ID" in errors or "--resume requires a valid session" in errors:
            return "resume_failed"
        if self.assistant_error in ("authentication_failed", "oauth_org_not_allowed"):
            return "not_logged_in"
        if self.assistant_error == "rate_limit" or status == 429 or self.rate_limit.get("status") == "rejected":
            return "rate_limited"
        if result.get("terminal_reason") in ("aborted_streaming", "aborted_tools"):
            return "cancelled"
        return "api_error"

    def _error_text(self, result: dict[str, Any], text: str) -> str:
        errors = [e for e in _list(result.get("errors")) if isinstance(e, str) and e]
        if errors:
            return "; ".join(errors)
        if text:
            return text
        return self.assistant_error or f"the claude CLI reported an error ({result.get('subtype')})"


def _turn_cost(result: dict[str, Any], checked: Checked) -> float | None:
    """What this turn cost. total_cost_usd is the process's running total (a warm process's second
    turn reports both turns: tests/fixtures/45_*); model_usage_since_last_result, where the CLI gives
    it, is the turn's own spend per model."""
    since = result.get("model_usage_since_last_result")
    if not isinstance(since, dict):
        return checked.cost("total_cost_usd", result.get("total_cost_usd"))
    costs = [checked.cost("costUSD", u.get("costUSD")) if isinstance(u, dict) else None for u in since.values()]
    if any(cost is None for cost in costs):
        return None  # a part not believed: the whole is unknown
    return sum(cost for cost in costs if cost is not None)


def _limit_report(info: dict[str, Any], checked: Checked) -> LimitReport | None:
    """A window the account reported, when its status and window are the CLI's words. A report naming
    no window is none of the account's (a server throttle's 429 gives a bare rejected: 50_*)."""
    status = checked.choice("status", info.get("status"), RATE_LIMIT_STATUSES)
    window = checked.word("rateLimitType", info.get("rateLimitType"))
    if status is None or window is None:
        return None
    return LimitReport(
        window,
        status,
        checked.count("resetsAt", info.get("resetsAt"), MAX_EPOCH_S),
        checked.fraction("utilization", info.get("utilization")),
    )


def describe_event(event: dict[str, Any]) -> str | None:
    """A short human line for progress notifications (`Bash: pytest -q`), or None for noise."""
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "init":
        return f"session started ({event.get('model')})"
    if kind == "result":
        return "finished" if event.get("is_error") is not True else "finished with an error"
    request = event.get("request")
    if kind == "control_request" and isinstance(request, dict) and request.get("subtype") == "can_use_tool":
        return first_line(f"asks to use {request.get('tool_name')}: {tool_subject(request.get('input'))}")
    if kind != "assistant" or not isinstance(event.get("message"), dict):
        return None
    for block in _list(event["message"].get("content")):
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"].strip():
            return first_line(block["text"])
        if block.get("type") == "tool_use":
            raw_input = block.get("input")
            tool_input: dict[str, Any] = raw_input if isinstance(raw_input, dict) else {}
            detail = next((v for k, v in tool_input.items() if isinstance(v, str) and k != "description"), "")
            return first_line(f"{block.get('name')}: {detail}" if detail else str(block.get("name")))
        if block.get("type") == "thinking":
            return "thinking"
    return None
