"""What every kind of agent's run is made of, in words a person or a model reads: transcript entries,
a tool use's subject in a line, terminal text made plain, and a page of stored entries.

Each agent kind turns its own CLI's events into these (agents/<kind>/); the pool and the store only
ever see them. What an agent wrote is untrusted text: entries carry it as data, never as markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent_mcp.core.models import RunStatus, TranscriptEvent, TranscriptPage
from agent_mcp.core.rows import Entry

PAGE_CHARS = 16_000
"""A transcript page stops past this many characters (a model reads it whole)."""
CONTENT_CHARS = 8192
"""An entry's content is cut to this many characters; `chars` says how long it was."""
SUMMARY_CHARS = 200

# What a tool use is for, by the first of these its input has (Write: file_path, Bash: command…).
_SUBJECTS = ("file_path", "notebook_path", "command", "path", "pattern", "url", "query", "description")
SUBJECT_CHARS = 200

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), charset selection (ESC ( B), other 2-byte ESC
# sequences, and the C0 controls other than tab and newline (e.g. the SI in the CLI's exit trailer).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[()*+][0-~]"
    r"|\x1b[@-Z\\-_7-9=>]"
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)
_CONTROLS = bytes(c for c in range(32) if c not in (9, 10)) + b"\x7f"


def clean_text(raw: bytes) -> str:
    """Terminal output as plain text: decoded leniently, escapes and carriage returns removed."""
    if b"\x1b" not in raw:  # no escape sequence: dropping the control bytes is all (and fast on big lines)
        return raw.translate(None, _CONTROLS).decode("utf-8", "replace")
    return _ESCAPES.sub("", raw.decode("utf-8", "replace").replace("\r", ""))


def tool_subject(tool_input: Any) -> str:
    """What a tool use is for, in a line: the first of _SUBJECTS its input has, or the input."""
    given = tool_input if isinstance(tool_input, dict) else {}
    subject = next((given[key] for key in _SUBJECTS if isinstance(given.get(key), str)), None)
    summary = subject if subject is not None else json.dumps(given, ensure_ascii=False)
    return summary[:SUBJECT_CHARS]


def first_line(text: str, limit: int = 120) -> str:
    """A progress line: the text's first line, cut to `limit` characters."""
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def entry(kind: str, summary: str, content: str = "") -> Entry:
    """An entry whose summary is its first line and whose content is cut to CONTENT_CHARS."""
    line = summary.strip().split("\n", 1)[0]
    cut = content[:CONTENT_CHARS]
    return Entry(kind, line[:SUMMARY_CHARS], cut, len(content) if len(cut) < len(content) else 0)


def permission_entry(tool: str, request_id: str, tool_input: Any) -> Entry:
    """A permission request, with its id and input: a reader of the transcript can answer it."""
    detail = json.dumps({"request_id": request_id, "input": tool_input}, ensure_ascii=False)
    return entry("permission_request", f"asks to use {tool}: {tool_subject(tool_input)}", detail)


def dropped_output(size: int | None) -> Entry:
    """A tool's output the turn did not read (nothing awaited it): at most its size is known."""
    of = f" of {size} bytes" if size is not None else ""
    return Entry("tool_result", f"(a tool's output{of}, not kept: nothing awaited it)", "", 0)


def not_believed(what: str) -> Entry:
    """Output the turn did not take at its word: a value out of range, a broken protocol."""
    return entry("error", f"not believed: {what}", what)


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
