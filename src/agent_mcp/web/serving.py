"""Every HTTP server agent-mcp runs (the MCP transport and the dashboard) is built here, with the same
limits on its connections. uvicorn by itself keeps a connection that sends half a request open for
as long as its client likes (it has no header or body read timeout; its keep-alive timeout starts
only after a response) and takes any number of them: 50 half-sent requests stayed open a minute.
Here a client has a time for its headers and one for its body, each closing the connection with a
408, and connections past a cap are answered 503 and closed as they come.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent_mcp.core.config import Settings

log = logging.getLogger("agent_mcp.http")

TIMEOUT_SETTINGS = {
    "headers": "AGENT_MCP_HTTP_HEADER_TIMEOUT / --http-header-timeout",
    "body": "AGENT_MCP_HTTP_BODY_TIMEOUT / --http-body-timeout",
}


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int
    header_timeout_s: float
    body_timeout_s: float


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, timed: while the client has the turn (its request's head, then its
    body) a deadline runs, and a connection past the cap is refused before it is read."""

    limits: ClassVar[HttpLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        full = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if full:
            log.warning("refused an HTTP connection from %s: %d are open", self.client, len(self.connections) - 1)
            self._refuse(
                503,
                f"this agent-mcp already has {self.limits.max_connections} HTTP connections open, its limit "
                "(AGENT_MCP_MAX_HTTP_CONNECTIONS / --max-http-connections); close one, or raise the limit",
            )
            return
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_deadline(None)
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Which part of a request the client owes: h11 is IDLE until a request's head is whole
        (nothing of it yet, or part of it) and in SEND_BODY until its body is; otherwise the server
        has the turn (it works on the request, or streams its response) and no deadline runs."""
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        self._set_deadline("headers" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None)

    def _set_deadline(self, phase: str | None) -> None:
        if phase == self._phase and phase is not None:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None:
            seconds = self.limits.header_timeout_s if phase == "headers" else self.limits.body_timeout_s
            self._deadline = self.loop.call_later(seconds, self._too_slow, phase, seconds)

    def _too_slow(self, phase: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning("closed an HTTP connection from %s: no whole request %s within %g s", self.client, phase, seconds)
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the application answers already: nothing more can be said
            return
        self._refuse(
            408,
            f"the request's {phase} did not arrive within {seconds:g} s ({TIMEOUT_SETTINGS[phase]}); send it "
            "whole, faster",
        )

    def _refuse(self, status: int, text: str) -> None:
        """Written past h11, whose state does not allow a response before a request: the
        connection closes right after it."""
        body = text.encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def http_server(app: ASGIApp, settings: Settings, log_level: str, graceful_s: int) -> uvicorn.Server:
    """uvicorn's h11 protocol with the limits, whether or not httptools is installed (its "auto"
    would take that one), and no WebSocket protocol: nothing served here speaks it."""
    limits = HttpLimits(settings.max_http_connections, settings.http_header_timeout_s, settings.http_body_timeout_s)
    protocol = type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol,
        ws="none",
        log_level=log_level,
        log_config=None,  # ours: to stderr, access lines included (uvicorn's own writes those to stdout)
        timeout_graceful_shutdown=graceful_s,
    )
    return uvicorn.Server(config)
