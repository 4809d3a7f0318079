"""claude's stream events as transcript entries (core/entries.py) a person or a model can follow, live.

Pure: an event in, its entries out (a text, a thinking block, a tool use as its command or file, a
tool's result, an error, a permission request), each with a one-line summary and its content cut to
CONTENT_CHARS (the whole length noted). The turn stores them as they come (store.events.add).

What an agent wrote is untrusted text: entries carry it as data, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

from agent_mcp.core.entries import entry, permission_entry, tool_subject
from agent_mcp.core.rows import Entry


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
            return [permission_entry(str(request.get("tool_name")), str(event.get("request_id")), request.get("input"))]
        return []
    if kind == "result" and event.get("is_error") is True:
        errors = event.get("errors")
        text = "\n".join(map(str, errors)) if isinstance(errors, list) and errors else str(event.get("result") or "")
        return [entry("error", f"ended with an error ({event.get('subtype')})", text)]
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
            found.append(entry("text", text, text))
        elif part == "thinking" and str(block.get("thinking") or "").strip():
            found.append(entry("thinking", "thinking", str(block["thinking"])))
        elif part == "tool_use":
            tool_input = block.get("input")
            summary = f"{block.get('name')}: {tool_subject(tool_input)}"
            found.append(entry("tool_use", summary, json.dumps(tool_input, ensure_ascii=False)))
        elif part == "tool_result":
            text = _text_of(block.get("content"))
            error = block.get("is_error") is True
            found.append(entry("tool_result", ("error: " if error else "") + (text or "(no output)"), text))
    if isinstance(event.get("error"), str):
        found.append(entry("error", str(event["error"]), _text_of(content)))
    return found
