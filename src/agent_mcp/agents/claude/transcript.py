"""A run's transcript: its stream events as short entries a person or a model can follow, live.

Pure: an event in, its entries out (a text, a thinking block, a tool use as its command or file, a
tool's result, an error, a permission request), each with a one-line summary and its content cut to
CONTENT_CHARS (the whole length noted). The turn stores them as they come (store.events.add).

What an agent wrote is untrusted text: entries carry it as data, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

from agent_mcp.agents.claude.stream import tool_subject
from agent_mcp.core.models import RunStatus, TranscriptEvent, TranscriptPage
from agent_mcp.core.rows import Entry

PAGE_CHARS = 16_000
"""A transcript page stops past this many characters (a model reads it whole)."""
CONTENT_CHARS = 8192
"""An entry's content is cut to this many characters; `chars` says how long it was."""
SUMMARY_CHARS = 200


def _entry(kind: str, summary: str, content: str = "") -> Entry:
    line = summary.strip().split("\n", 1)[0]
    cut = content[:CONTENT_CHARS]
    return Entry(kind, line[:SUMMARY_CHARS], cut, len(content) if len(cut) < len(content) else 0)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def entries_of(event: dict[str, Any]) -> list[Entry]:
    kind = event.get("type")
    if kind == "control_request":
        request = event.get("request")
        if isinstance(request, dict) and request.get("subtype") == "can_use_tool":
            tool = str(request.get("tool_name"))
            # The request's id with its input: a reader of the transcript can answer it (answer_permission).
            detail = json.dumps(
                {"request_id": event.get("request_id"), "input": request.get("input")}, ensure_ascii=False
            )
            return [_entry("permission_request", f"asks to use {tool}: {tool_subject(request.get('input'))}", detail)]
        return []
    if kind == "result" and event.get("is_error") is True:
        errors = event.get("errors")
        text = "\n".join(map(str, errors)) if isinstance(errors, list) and errors else str(event.get("result") or "")
        return [_entry("error", f"ended with an error ({event.get('subtype')})", text)]
    message = event.get("message")
    if not isinstance(message, dict) or kind not in ("assistant", "user"):
        return []
    content = message.get("content")
    if kind == "user" and isinstance(content, str):
        return []  # the message sent to the agent: the run has it already
    found = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        part = block.get("type")
        if part == "text" and kind == "assistant" and str(block.get("text") or "").strip():
            text = str(block["text"])
            found.append(_entry("text", text, text))
        elif part == "thinking" and str(block.get("thinking") or "").strip():
            found.append(_entry("thinking", "thinking", str(block["thinking"])))
        elif part == "tool_use":
            tool_input = block.get("input")
            summary = f"{block.get('name')}: {tool_subject(tool_input)}"
            found.append(_entry("tool_use", summary, json.dumps(tool_input, ensure_ascii=False)))
        elif part == "tool_result":
            text = _text_of(block.get("content"))
            error = block.get("is_error") is True
            found.append(_entry("tool_result", ("error: " if error else "") + (text or "(no output)"), text))
    if isinstance(event.get("error"), str):
        found.append(_entry("error", str(event["error"]), _text_of(content)))
    return found


def dropped_output(size: int | None) -> Entry:
    """A tool's output the turn did not read (nothing awaited it): at most its size is known."""
    of = f" of {size} bytes" if size is not None else ""
    return Entry("tool_result", f"(a tool's output{of}, not kept: nothing awaited it)", "", 0)


def not_believed(what: str) -> Entry:
    """Output the turn did not take at its word: a value out of range, a broken protocol."""
    return _entry("error", f"not believed: {what}", what)


def transcript_page(rows: list[Any], after: int, status: RunStatus) -> TranscriptPage:
    """Stored events (rows with TranscriptEvent's fields, in order) as a page of about PAGE_CHARS."""
    events: list[TranscriptEvent] = []
    size = 0
    for row in rows:
        size += len(row["summary"]) + len(row["content"])
        if events and size > PAGE_CHARS:
            break
        events.append(TranscriptEvent(**dict(row)))
    return TranscriptPage(events=events, next=events[-1].seq if events else after, status=status)
