"""HTTP mode's sessions, bounded: the SDK closes idle ones and caps their number; a client refused
at the cap is told which setting refused it (the SDK's own answer names none)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def naming_the_session_cap(app: ASGIApp, limit: int) -> ASGIApp:
    """The SDK answers only one thing with 503: a new session past max_sessions."""
    error = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32603,
            "message": f"this agent-mcp already has {limit} HTTP sessions open, its limit "
            "(AGENT_MCP_MAX_HTTP_SESSIONS / --max-http-sessions); close a session you no longer use (idle ones "
            "close by themselves after AGENT_MCP_HTTP_IDLE_TIMEOUT), or raise the limit",
        },
    }
    body = json.dumps(error).encode()

    async def bounded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        refused = False

        async def rewrite(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 503:
                refused = True
                headers: list[Any] = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                await send({**message, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            elif message["type"] == "http.response.body" and refused:
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": body})
            else:
                await send(message)

        await app(scope, receive, rewrite)

    return bounded
