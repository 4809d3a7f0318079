"""gemini's stream events as transcript entries (core/entries.py) and progress lines, live.

Pure: an event in, its entries out: a tool use as its command or file (`run_shell_command: pytest -q`),
a tool's result (its output, or its error), an error event, a failed result. The answer's text is
written as deltas: the reader (kind.py) makes one text entry of each stretch of them once it ends.
What an agent wrote is untrusted text: entries carry it as data, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

from agent_mcp.core.entries import entry, first_line, tool_subject
from agent_mcp.core.rows import Entry


def _tool_result(event: dict[str, Any]) -> Entry:
    output = event.get("output")
    text = output if isinstance(output, str) else ""
    failed = event.get("status") != "success"
    error = event.get("error")
    if failed and not text and isinstance(error, dict) and isinstance(error.get("message"), str):
        text = error["message"]
    return entry("tool_result", ("error: " if failed else "") + (text or "(no output)"), text)


def entries_of(event: dict[str, Any]) -> list[Entry]:
    kind = event.get("type")
    if kind == "tool_use":
        parameters = event.get("parameters")
        summary = f"{event.get('tool_name')}: {tool_subject(parameters)}"
        return [entry("tool_use", summary, json.dumps(parameters, ensure_ascii=False))]
    if kind == "tool_result":
        return [_tool_result(event)]
    if kind == "error" and isinstance(event.get("message"), str):
        return [entry("error", f"{event.get('severity', 'error')}: {event['message']}", event["message"])]
    if kind == "result" and event.get("status") != "success":
        error = event.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        text = message if isinstance(message, str) else ""
        return [entry("error", f"ended with an error ({error.get('type') if isinstance(error, dict) else None})", text)]
    return []


def describe_event(event: dict[str, Any]) -> str | None:
    """A short human line for progress notifications, or None for noise."""
    kind = event.get("type")
    if kind == "init":
        return f"session started ({event.get('model')})"
    if kind == "result":
        return "finished" if event.get("status") == "success" else "finished with an error"
    if kind == "tool_use":
        parameters = event.get("parameters")
        given: dict[str, Any] = parameters if isinstance(parameters, dict) else {}
        detail = next((v for k, v in given.items() if isinstance(v, str) and k != "description"), "")
        return first_line(f"{event.get('tool_name')}: {detail}" if detail else str(event.get("tool_name")))
    return None
