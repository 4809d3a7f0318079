"""codex's events as transcript entries (core/entries.py) and progress lines, live.

Pure: an event in, its entries and a short line out. A tool step is named for what it did: a
command_execution by its command, a file_change by its files, an mcp_tool_call by its server and
tool, a web_search by its query. A step's start is its tool_use, its completion its tool_result.
What an agent wrote is untrusted text: entries carry it as data, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

from agent_mcp.core.entries import entry, first_line, tool_subject
from agent_mcp.core.rows import Entry


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _files(item: dict[str, Any]) -> str:
    changes = item["changes"] if isinstance(item.get("changes"), list) else []
    return ", ".join(f"{c.get('kind')} {c.get('path')}" for c in changes if isinstance(c, dict))


def tool_name(item: dict[str, Any]) -> str | None:
    """What a tool step did, in a line; None for an item that is no tool step."""
    kind = item.get("type")
    if kind == "command_execution":
        return f"command: {_text(item.get('command'))}"
    if kind == "file_change":
        return f"file_change: {_files(item)}"
    if kind == "mcp_tool_call":
        return f"{_text(item.get('server'))}.{_text(item.get('tool'))}: {tool_subject(item.get('arguments'))}"
    if kind == "web_search":
        return f"web_search: {_text(item.get('query'))}"
    return None


def _result(item: dict[str, Any]) -> Entry:
    kind = item.get("type")
    failed = item.get("status") == "failed" or (kind == "command_execution" and item.get("exit_code") not in (0, None))
    if kind == "command_execution":
        output = _text(item.get("aggregated_output"))
    elif kind == "mcp_tool_call":
        output = json.dumps(item.get("error") or item.get("result"), ensure_ascii=False)
    else:
        output = _files(item) if kind == "file_change" else _text(item.get("status"))
    return entry("tool_result", ("error: " if failed else "") + (output or "(no output)"), output)


def entries_of(event: dict[str, Any]) -> list[Entry]:
    kind = event.get("type")
    if kind == "error":
        return [entry("error", _text(event.get("message")), _text(event.get("message")))]
    if kind == "turn.failed":
        error = event.get("error")
        message = _text(error.get("message")) if isinstance(error, dict) else ""
        return [entry("error", "ended with an error", message)]
    item = event.get("item")
    if not isinstance(item, dict) or kind not in ("item.started", "item.completed"):
        return []
    step = tool_name(item)
    if step is not None:
        detail = json.dumps({k: v for k, v in item.items() if k not in ("id", "aggregated_output")}, ensure_ascii=False)
        return [entry("tool_use", step, detail)] if kind == "item.started" else [_result(item)]
    if kind != "item.completed":
        return []
    part = item.get("type")
    if part == "agent_message" and _text(item.get("text")).strip():
        return [entry("text", item["text"], item["text"])]
    if part == "reasoning" and _text(item.get("text")).strip():
        return [entry("thinking", "thinking", item["text"])]
    if part == "todo_list" and isinstance(item.get("items"), list):
        todos = [t for t in item["items"] if isinstance(t, dict)]
        lines = "\n".join(f"[{'x' if t.get('completed') else ' '}] {_text(t.get('text'))}" for t in todos)
        done = sum(1 for t in todos if t.get("completed"))
        return [entry("thinking", f"todo list: {done} of {len(todos)} done", lines)]
    if part == "error":
        return [entry("error", _text(item.get("message")), _text(item.get("message")))]
    return []


def describe_event(event: dict[str, Any]) -> str | None:
    """A short line for whoever waits on the run (`command: /bin/bash -lc 'pytest -q'`), or None."""
    kind = event.get("type")
    if kind == "thread.started":
        return "session started"
    if kind == "turn.completed":
        return "finished"
    if kind == "turn.failed":
        return "finished with an error"
    if kind == "error":
        return first_line(_text(event.get("message")))
    item = event.get("item")
    if not isinstance(item, dict):
        return None
    step = tool_name(item)
    if kind == "item.started" and step is not None:
        return first_line(step)
    if kind == "item.completed" and item.get("type") == "agent_message":
        return first_line(_text(item.get("text"))) or None
    if kind == "item.completed" and item.get("type") == "reasoning":
        return "thinking"
    return None
