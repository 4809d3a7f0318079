"""One turn's side of the permission exchange with the CLI: its requests in, the answers out.

The CLI asks (a `can_use_tool` control request) and waits; the desk opens the request on the run
(permissions.py decides who may answer), holds the turn's idle timeout meanwhile (a person takes
time), says the run is waiting (its status, in the store too, so every server sees it), and writes
the answer back as the control response the CLI expects (observed with 2.1.332: allow with
`updatedInput`, or deny with a message). A request the CLI withdraws (`control_cancel_request`, after
an interrupt) gets no answer. When the turn ends, what still waits is withdrawn.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import anyio

from .clock import now
from .permissions import Answer, Request, RunPermissions

DENIED = "The person asked for permission denied this tool use."


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
    ) -> None:
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
        if not isinstance(request_id, str):
            return
        body = event.get("request")
        if kind == "control_request" and isinstance(body, dict) and body.get("subtype") == "can_use_tool":
            # A second request under an id that waits is not the CLI's (a tool can write to the
            # terminal): it is dropped, so it cannot take the place of the real one.
            if self._spawn is not None and request_id not in self.permissions.waiting:
                self._spawn(self._serve, self.permissions.open(request_id, body, now()))
        elif kind == "control_cancel_request" and (request := self.permissions.waiting.get(request_id)):
            self.permissions.settle(request, Answer("deny", "withdrawn"), now())

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
