"""What agent-mcp writes to claude's stdin (stream-json input), and the control requests it reads.

Watched with the real CLI (docs/claude-cli.md): a message is a `user` event on one line; an interrupt
and a permission answer are control messages (the Agent SDK's `_internal/query.py` sends the same);
a `can_use_tool` control request asks for a permission, a `control_cancel_request` withdraws one.
"""

from __future__ import annotations

import json
import time
from typing import Any

from agent_mcp.agents.kind import PermissionAsk

REQUEST_ID_CHARS = 128
"""The CLI's request ids are UUIDs (36 characters): a much longer one is not the CLI's."""

TOOL_NAME_CHARS = 256
"""Tool names, MCP ones included (mcp__<server>__<tool>), are far shorter: a longer one is not the CLI's."""

_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})
"""Characters some line readers end a line at: JSON may hold them raw, the frame holds them escaped."""


def user_frame(message: str) -> bytes:
    """The message as the CLI's stream-json input takes it: one line, its text exactly as given."""
    frame = {"type": "user", "message": {"role": "user", "content": message}, "parent_tool_use_id": None,
             "session_id": ""}  # fmt: skip
    return json.dumps(frame, ensure_ascii=False).translate(_LINE_BREAKS).encode("utf-8") + b"\n"


def interrupt_frame() -> bytes:
    request = {"type": "control_request", "request_id": f"interrupt-{time.monotonic_ns()}",
               "request": {"subtype": "interrupt"}}  # fmt: skip
    return json.dumps(request).encode() + b"\n"


def answer_frame(ask: PermissionAsk, allow: bool, message: str) -> bytes:
    """The control response the CLI waits for (observed with 2.1.332): allow with `updatedInput`, or
    deny with a message. ASCII: no character in it that a line reader could take for the end of the line."""
    if allow:
        response: dict[str, Any] = {"behavior": "allow", "updatedInput": ask.tool_input}
    else:
        response = {"behavior": "deny", "message": message}
    reply = {"subtype": "success", "request_id": ask.request_id, "response": response}
    return json.dumps({"type": "control_response", "response": reply}).encode() + b"\n"


class NotTheClis(Exception):
    """A control request the CLI would not send: the message says why."""


def permission_ask(event: dict[str, Any]) -> PermissionAsk:
    """The request's id, tool name and input, when it is in the shape the CLI sends."""
    request_id, body = event.get("request_id"), event.get("request")
    if not (isinstance(request_id, str) and 0 < len(request_id) <= REQUEST_ID_CHARS and request_id.isprintable()):
        raise NotTheClis(f"its request_id is not 1 to {REQUEST_ID_CHARS} printable characters")
    if not isinstance(body, dict) or body.get("subtype") != "can_use_tool":
        raise NotTheClis("it is not a can_use_tool request")
    name, tool_input = body.get("tool_name"), body.get("input")
    if not (isinstance(name, str) and 0 < len(name) <= TOOL_NAME_CHARS and name.isprintable()):
        raise NotTheClis(f"its tool_name is not 1 to {TOOL_NAME_CHARS} printable characters")
    if not isinstance(tool_input, dict):
        raise NotTheClis("its input is not an object")
    return PermissionAsk(request_id, name, tool_input)
