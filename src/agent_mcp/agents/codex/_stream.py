"""A pure parser from `codex exec --json` output lines to an AgentResponse (docs/agent-kinds.md#codex).

What it relies on, each seen in tests/fixtures/codex/: `thread.started` comes first and names the
thread (a UUID, the same one on resume); `turn.completed` (with the usage) or `turn.failed` (with the
error) ends the turn; the answer is the last `agent_message` item; `error` events and `error` items
are not fatal by themselves (codex writes them while it reconnects, falls back from WebSockets or
misses a model's metadata), only `turn.failed` is. A failure before any turn (an unknown resume id,
a bad flag) writes nothing on stdout: the process's exit and its terminal say it (kind.py).

It believes nothing it is not sure of: a thread id only in UUID form, from the turn's own
`thread.started`, and on resume only the thread it resumed (anything else breaks the protocol:
`violation`); a second `thread.started`; counts only in range (output.py's Checked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent_mcp.agents.output import Checked, is_session_id, read_event
from agent_mcp.core.long_strings import SpilledText
from agent_mcp.core.models import AgentResponse, ErrorKind

_NOT_LOGGED_IN = re.compile(r"\b401\b|Unauthorized|invalid_api_key|Missing bearer|not logged in", re.IGNORECASE)
_RATE_LIMITED = re.compile(
    r"\b429\b|usage limit|Too Many Requests|rate limit|Quota exceeded|insufficient_quota", re.IGNORECASE
)
_TOOL_OUTPUT = re.compile(rb'^\{"type":"item\.(?:started|updated|completed)","item":\{"id":"[^"]{0,64}",'
                          rb'"type":"command_execution"')  # fmt: skip
"""The start of a command's item: its output, however long, counts for nothing in the response."""


def error_kind(message: str) -> ErrorKind:
    """What a turn.failed message says went wrong (05_401, 16_no_key, 06_usage_limit, 07_500, 08_failed)."""
    if _NOT_LOGGED_IN.search(message):
        return "not_logged_in"
    if _RATE_LIMITED.search(message):
        return "rate_limited"
    return "api_error"


@dataclass
class CodexStream:
    """What the events of one turn have said so far. Feed it every line; it never does I/O."""

    resumed: str | None = None
    """The thread the turn resumes: thread.started must name it again."""
    thread_id: str | None = None
    answer: str | None = None
    """The last agent_message's text (a SpilledText when it was too long to hold)."""
    usage: dict[str, Any] | None = None
    failure: str | None = None
    files_changed: list[str] = field(default_factory=list)
    worked: bool = False
    """The model answered or used a tool this turn: a turn refused at a usage limit before that (no item
    but error notices) may run again after the reset, since nothing of it happened."""
    violation: str | None = None
    dropped: list[str] = field(default_factory=list)
    leftovers: int = 0
    """Always 0: a new process per turn, so nothing of an earlier turn can come."""

    @property
    def session_id(self) -> str | None:
        return self.thread_id

    @property
    def done(self) -> bool:
        return self.usage is not None or self.failure is not None or self.violation is not None

    @property
    def answered(self) -> bool:
        return self.usage is not None or self.failure is not None

    @property
    def spilled_text(self) -> SpilledText | None:
        return self.answer if isinstance(self.answer, SpilledText) else None

    def droppable(self, head: bytes) -> bool:
        return _TOOL_OUTPUT.match(head) is not None

    def feed(self, raw: bytes) -> dict[str, Any] | None:
        """The line as an event (None: not one), its meaning taken in."""
        event = read_event(raw, self.droppable)
        if event is None or self.done:
            return event
        kind = event["type"]
        if kind == "error":
            return event  # a notice (a retry, a fallback), before the thread too: never fatal by itself
        if kind == "thread.started":
            self._thread(event.get("thread_id"))
        elif self.thread_id is None:
            self.violation = f"{kind[:40]!r} came before thread.started"
        elif kind in ("item.started", "item.completed") and isinstance(event.get("item"), dict):
            self.worked = self.worked or event["item"].get("type") not in ("error", "reasoning")
            if kind == "item.completed":
                self._item(event["item"])
        elif kind == "turn.completed":
            self.usage = event["usage"] if isinstance(event.get("usage"), dict) else {}
        elif kind == "turn.failed":
            error = event.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            self.failure = message if isinstance(message, str) and message else "the turn failed"
        return event

    def _thread(self, thread_id: Any) -> None:
        if self.thread_id is not None:
            self.violation = "a second thread.started within one turn"
        elif not is_session_id(thread_id):
            self.violation = f"thread.started named no thread in codex's UUID form ({str(thread_id)[:80]!r})"
        elif self.resumed is not None and thread_id != self.resumed:
            self.violation = f"the turn resumed thread {self.resumed} but thread.started named {thread_id}"
        else:
            self.thread_id = thread_id

    def _item(self, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "agent_message" and isinstance(item.get("text"), str):
            if isinstance(self.answer, SpilledText):
                self.answer.spill.close()  # an earlier message, not the answer
            self.answer = item["text"]
        elif kind == "file_change" and item.get("status") == "completed":
            for change in item["changes"] if isinstance(item.get("changes"), list) else ():
                path = change.get("path") if isinstance(change, dict) else None
                if isinstance(path, str) and path not in self.files_changed:
                    self.files_changed.append(path)

    def response(self, agent: str) -> AgentResponse:
        """The turn's AgentResponse; only valid once it was answered. Every count is checked."""
        if not self.answered:
            raise ValueError("the turn produced neither turn.completed nor turn.failed")
        usage = self.usage or {}
        checked = Checked(self.dropped)
        given = checked.count("input_tokens", usage.get("input_tokens")) or 0
        cached = checked.count("cached_input_tokens", usage.get("cached_input_tokens")) or 0
        failure = self.failure
        kind = error_kind(failure) if failure is not None else None
        return AgentResponse(
            agent=agent,
            text=self.answer if self.answer is not None else failure or "",
            session_id=self.thread_id,
            model=None,
            api_key_source=None,
            rate_limit_status="rejected" if kind == "rate_limited" else None,
            cost_usd=None,  # codex reports no cost
            # OpenAI's input count includes the cached part; claude's (and the response's) does not.
            input_tokens=max(0, given - cached),
            output_tokens=checked.count("output_tokens", usage.get("output_tokens")) or 0,
            cache_creation_input_tokens=checked.count("cache_write_input_tokens", usage.get("cache_write_input_tokens"))
            or 0,
            cache_read_input_tokens=cached,
            duration_ms=None,
            num_turns=None,
            is_error=failure is not None,
            error=failure,
            subtype="turn.failed" if failure is not None else "turn.completed",
            error_kind=kind,
            files_changed=list(self.files_changed),
        )
