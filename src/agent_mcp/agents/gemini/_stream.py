"""A pure parser from gemini's stream-json output lines to an AgentResponse.

What gemini 0.61.0 writes (tests/fixtures/gemini/, docs/agent-kinds.md#gemini): one JSON event a line, `init`
(session_id, model) first, the prompt echoed as a user `message`, the answer as assistant `message`
deltas, `tool_use` / `tool_result` pairs joined by tool_id, `error` events (a warning, or an error the
turn goes on after), and one `result` (status success or error, an `error` {type, message} on a
failure, token `stats`) that ends the turn. It reports no cost.

It believes nothing it is not sure of, as claude's parser: a session id only in the CLI's UUID form,
only from the turn's own `init`, and a resumed turn's init must name the session it resumed; an event
before the init or a second init breaks the protocol (`violation`), since gemini writes neither; every
count only when an integer in range (else dropped, and said so in `dropped`). A line that is no JSON
object with a type is no event, and an event type gemini does not write is passed over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agent_mcp.agents.output import MAX_DURATION_MS, Checked, is_session_id, read_event
from agent_mcp.core.long_strings import SpilledText
from agent_mcp.core.models import AgentResponse, ErrorKind

FILE_TOOLS = {"write_file": "file_path", "replace": "file_path"}
"""gemini's tools that change a file, and the parameter that names it."""

EVENTS = ("init", "message", "tool_use", "tool_result", "error", "result")

_API_ERROR = "[API Error: "
_QUOTA_WORDS = ("exhausted your daily quota", "Resource has been exhausted", "Quota exceeded", "RESOURCE_EXHAUSTED")
_KEY_WORDS = ("API_KEY_INVALID", "API key not valid", "API key expired")
_ERROR_TYPES: dict[str, ErrorKind] = {
    "FatalAuthenticationError": "not_logged_in",
    "FatalTurnLimitedError": "max_turns",
    "FatalCancellationError": "cancelled",
}
"""The result's error.type when gemini names its own failure (its FatalError classes)."""

_TOOL_RESULT = b'{"type":"tool_result",'


def api_status(message: str) -> int | None:
    """The HTTP status in gemini's `[API Error: {"error":{"code":500,...}}]` text, when it holds one."""
    start = message.find(_API_ERROR)
    if start < 0:
        return None
    body, _, _ = message[start + len(_API_ERROR) :].rpartition("]")
    try:
        code = json.loads(body).get("error", {}).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 else None


def error_kind(error_type: str | None, message: str, status: int | None) -> ErrorKind:
    """What a failed result means: gemini's own error type first, then its API error's words and status."""
    if error_type in _ERROR_TYPES:
        return _ERROR_TYPES[error_type]
    if status == 429 or any(word in message for word in _QUOTA_WORDS):
        return "rate_limited"
    if status in (401, 403) or any(word in message for word in _KEY_WORDS):
        return "not_logged_in"
    return "api_error"


@dataclass
class GeminiStream:
    """What the events of one turn have said so far. Feed it every line; it never does I/O."""

    resumed: str | None = None
    """The session the turn resumes (--resume=): its init names it again."""
    awaiting_init: bool = False
    session_id: str | None = None
    model: str | None = None
    segments: list[list[str]] = field(default_factory=list)
    """The answer: assistant text, one list of deltas per stretch between tool steps."""
    edits: dict[str, str] = field(default_factory=dict)
    """tool_id -> the file a file tool was asked to change, until its result comes."""
    files_changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """The messages of `error` events with severity error: a result without its own error says these."""
    result: dict[str, Any] | None = None
    tools_used: bool = False
    leftovers: int = 0
    violation: str | None = None
    dropped: list[str] = field(default_factory=list)
    _texting: bool = False

    @property
    def answered(self) -> bool:
        return self.result is not None

    @property
    def worked(self) -> bool:
        """The model wrote or used a tool this turn."""
        return any(self.segments) or self.tools_used

    @property
    def done(self) -> bool:
        return self.result is not None or self.violation is not None

    @property
    def spilled_text(self) -> SpilledText | None:
        """The answer, when it is one piece too long to hold (long_strings.py)."""
        pieces = [piece for segment in self.segments for piece in segment]
        return pieces[0] if len(pieces) == 1 and isinstance(pieces[0], SpilledText) else None

    def droppable(self, head: bytes) -> bool:
        """A long line that can go unread: a tool's result while no file edit awaits one (nothing else
        in it counts for the response)."""
        return not self.edits and head.startswith(_TOOL_RESULT)

    def feed(self, raw: bytes) -> dict[str, Any] | None:
        event = read_event(raw, self.droppable)
        if event is None or self.done or event["type"] not in EVENTS:
            return None
        kind = event["type"]
        if self.awaiting_init and kind != "init":
            self.leftovers += 1
            return None
        if kind == "init":
            self._init(event)
        elif self.session_id is None:
            self.violation = f"a {kind} event before the turn's init"
        elif kind == "message":
            self._message(event)
        elif kind == "tool_use":
            self._tool_use(event)
        elif kind == "tool_result":
            self._tool_result(event)
        elif kind == "error":
            self._texting = False
            if event.get("severity") == "error" and isinstance(event.get("message"), str):
                self.errors.append(event["message"])
        else:
            self.result = event
        return None if self.violation is not None else event

    def _init(self, event: dict[str, Any]) -> None:
        session_id = event.get("session_id")
        if self.session_id is not None:
            self.violation = "a second init within one turn"
        elif not is_session_id(session_id):
            self.violation = f"init named no session in the CLI's UUID form ({str(session_id)[:80]!r})"
        elif self.resumed is not None and session_id != self.resumed:
            self.violation = f"the turn resumed session {self.resumed} but init named {session_id}"
        else:
            self.awaiting_init = False
            self.session_id = session_id
            self.model = Checked(self.dropped).word("model", event.get("model"))

    def _message(self, event: dict[str, Any]) -> None:
        content = event.get("content")
        if event.get("role") != "assistant" or not isinstance(content, str):
            return  # the prompt, echoed: the run has it already
        if not self._texting or not self.segments:
            self.segments.append([])
        self._texting = True
        self.segments[-1].append(content)

    def _tool_use(self, event: dict[str, Any]) -> None:
        self._texting = False
        self.tools_used = True
        name, parameters, tool_id = event.get("tool_name"), event.get("parameters"), event.get("tool_id")
        path = parameters.get(FILE_TOOLS[name]) if name in FILE_TOOLS and isinstance(parameters, dict) else None
        if isinstance(path, str) and isinstance(tool_id, str):
            self.edits[tool_id] = path

    def _tool_result(self, event: dict[str, Any]) -> None:
        """A file counts as changed once its tool's result says it succeeded."""
        self._texting = False
        path = self.edits.pop(str(event.get("tool_id")), None)
        if path is not None and event.get("status") == "success" and path not in self.files_changed:
            self.files_changed.append(path)

    def text(self) -> str:
        return "\n".join("".join(segment) for segment in self.segments)

    def response(self, agent: str) -> AgentResponse:
        """The turn's AgentResponse; only valid once `done`. Every value is checked."""
        result = self.result
        if result is None:
            raise ValueError("the run produced no result event")
        checked = Checked(self.dropped)
        raw_stats = result.get("stats")
        stats: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
        status = checked.choice("status", result.get("status"), ("success", "error"))
        is_error = status != "success"
        raw_error = result.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else None
        message = message or "; ".join(self.errors) or ("" if not is_error else "the gemini CLI reported an error")
        text = self.text()
        api = api_status(message) if is_error else None
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
        return AgentResponse(
            agent=agent,
            text=text or (message if is_error else ""),
            session_id=self.session_id,
            model=self._model(stats, checked),
            api_key_source=None,
            cost_usd=None,
            input_tokens=checked.count("input", stats.get("input")) or 0,
            output_tokens=checked.count("output_tokens", stats.get("output_tokens")) or 0,
            cache_creation_input_tokens=0,
            cache_read_input_tokens=checked.count("cached", stats.get("cached")) or 0,
            duration_ms=checked.count("duration_ms", stats.get("duration_ms"), MAX_DURATION_MS),
            num_turns=None,
            is_error=is_error,
            error=message if is_error else None,
            subtype=status,
            api_error_status=api,
            error_kind=error_kind(error_type, message, api) if is_error else None,
            files_changed=list(self.files_changed),
        )

    def _model(self, stats: dict[str, Any], checked: Checked) -> str | None:
        """The model that did the turn's work: init says `auto` unless one was chosen, so the one of
        the stats' models that used the most tokens, when it names any."""
        models = stats.get("models")
        used: dict[str, int] = {
            name: tokens["total_tokens"]
            for name, tokens in (models.items() if isinstance(models, dict) else ())
            if isinstance(tokens, dict) and isinstance(tokens.get("total_tokens"), int) and tokens["total_tokens"] > 0
        }
        if not used:
            return self.model
        return checked.word("model", max(used, key=used.__getitem__)) or self.model
