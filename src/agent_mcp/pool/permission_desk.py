"""One turn's side of the permission exchange with the CLI: its requests in, the answers out.

The CLI asks (a `can_use_tool` control request) and waits; the desk opens the request on the run
(permissions.py decides who may answer), holds the turn's idle timeout meanwhile (a person takes
time), says the run is waiting (its status, in the store too, so every server sees it), and writes
the answer back as the control response the CLI expects (observed with 2.1.332: allow with
`updatedInput`, or deny with a message). A request the CLI withdraws (`control_cancel_request`, after
an interrupt) gets no answer. When the turn ends, what still waits is withdrawn.

A line on the stream is not proof that the CLI wrote it (a tool the agent runs may write where the
stream is read): a request is taken only from an agent in ask mode, whose CLI asks, and only in the
shape the CLI sends; anything else is dropped with a log line, before anyone is asked.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import anyio

from agent_mcp.core.clock import now
from agent_mcp.pool.permissions import Answer, Request, RunPermissions

log = logging.getLogger(__name__)

DENIED = "The person asked for permission denied this tool use."

REQUEST_ID_CHARS = 128
"""The CLI's request ids are UUIDs (36 characters): a much longer one is not the CLI's."""

TOOL_NAME_CHARS = 256
"""Tool names, MCP ones included (mcp__<server>__<tool>), are far shorter: a longer one is not the CLI's."""


class NotTheClis(Exception):
    """A control request the CLI would not send: the message says why."""


class PermissionDesk:
    def __init__(
        self,
        permissions: RunPermissions,
        always_allowed: list[str],
        timeout_s: float,
        respond: Callable[[bytes], Awaitable[None]],
        set_waiting: Callable[[bool], Awaitable[None]],
        allow_always: Callable[[str], Awaitable[None]],
        hold_idle: Callable[[], AbstractContextManager[None]],
        *,
        accepting: bool = True,
    ) -> None:
        """`accepting`: whether the agent is in ask mode. Only then does its CLI ask, so only then is a
        request on its stream taken; any other agent's would be forged."""
        self.accepting = accepting
        self.permissions = permissions
        self.always_allowed = set(always_allowed)
        self.timeout_s = timeout_s
        self._respond = respond
        self._set_waiting = set_waiting
        self._allow_always = allow_always
        self._hold_idle = hold_idle
        self._spawn: Callable[..., object] | None = None

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """While the turn runs: each request is served by a task of its own."""
        async with anyio.create_task_group() as tasks:
            self._spawn = tasks.start_soon
            try:
                with self.permissions.asking_through(tasks.start_soon):
                    yield
            finally:
                self._spawn = None
                tasks.cancel_scope.cancel()

    def take(self, event: dict[str, Any]) -> None:
        """Called with every event of the turn; acts on the permission exchange's."""
        kind, request_id = event.get("type"), event.get("request_id")
        if kind == "control_request":
            try:
                request_id, tool_name, tool_input = self._as_the_cli_asks(event)
            except NotTheClis as exc:
                log.warning("agent %r: dropped a control request: %s", self.permissions.agent, exc)
                return
            if self._spawn is not None:
                self._spawn(self._serve, self.permissions.open(request_id, tool_name, tool_input, now()))
        elif (
            kind == "control_cancel_request"
            and isinstance(request_id, str)
            and (request := self.permissions.waiting.get(request_id))
        ):
            self.permissions.settle(request, Answer("deny", "withdrawn"), now())

    def doubt(self, event: dict[str, Any]) -> str | None:
        """Why this control request is not one the CLI would send this agent (None: it could be, or the
        event is no control request): the turn shows such a line as not believed, not as a request."""
        if event.get("type") != "control_request":
            return None
        try:
            self._as_the_cli_asks(event)
        except NotTheClis as exc:
            return str(exc)
        return None

    def _as_the_cli_asks(self, event: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """The request's id, tool name and input, when the CLI could have sent it to this agent."""
        if not self.accepting:
            raise NotTheClis("the agent is not in ask mode, so its CLI asks nothing")
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
        # The CLI names each request anew: a known id would take the place (or the record) of the CLI's.
        if request_id in self.permissions.waiting or any(r.request_id == request_id for r in self.permissions.records):
            raise NotTheClis(f"request {request_id!r} was asked already in this run")
        return request_id, name, tool_input

    async def _serve(self, request: Request) -> None:
        permissions = self.permissions
        asked = False
        try:
            if request.shown.tool_name in self.always_allowed:
                permissions.settle(request, Answer("allow", "rule"), now())
            else:
                asked = True
                await self._set_waiting(True)
                with self._hold_idle(), anyio.move_on_after(self.timeout_s):
                    permissions.wait_for_a_person(request)
                    await request.settled.wait()
                permissions.settle(request, Answer("deny", "timeout", self._timed_out()), now())
            await self._answer(request)
        finally:
            with anyio.CancelScope(shield=True):
                permissions.settle(request, Answer("deny", "withdrawn"), now())
                permissions.close(request)
                if asked and permissions.pending is None:
                    with contextlib.suppress(Exception):  # the turn is over: its status goes with it
                        await self._set_waiting(False)

    async def _answer(self, request: Request) -> None:
        answer = request.answer
        assert answer is not None
        if answer.by == "withdrawn":
            return  # the CLI no longer waits for it
        if answer.decision == "allow_always" and request.shown.tool_name not in self.always_allowed:
            self.always_allowed.add(request.shown.tool_name)
            await self._allow_always(request.shown.tool_name)
        if answer.decision == "deny":
            response: dict[str, Any] = {"behavior": "deny", "message": answer.message or DENIED}
        else:
            response = {"behavior": "allow", "updatedInput": request.tool_input}
        reply = {"subtype": "success", "request_id": request.shown.request_id, "response": response}
        # ASCII: no character in it that a line reader could take for the end of the line.
        await self._respond(json.dumps({"type": "control_response", "response": reply}).encode() + b"\n")

    def _timed_out(self) -> str:
        return (
            f"Nobody answered this permission request within {self.timeout_s:g} s (AGENT_MCP_PERMISSION_TIMEOUT / "
            "--permission-timeout), so it is denied."
        )
