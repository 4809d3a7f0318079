"""One turn's side of the permission exchange with the CLI: its requests in, the answers out.

The CLI asks (a `can_use_tool` control request) and waits; the desk opens the request on the run
(permissions.py decides who may answer), holds the turn's idle timeout meanwhile (a person takes
time), says the run is waiting (its status, in the store too, so every server sees it), and writes
the answer back framed as the agent's kind frames it. A request the CLI withdraws (after an
interrupt) gets no answer. When the turn ends, what still waits is withdrawn.

A line on the stream is not proof that the CLI wrote it (a tool the agent runs may write where the
stream is read): a request is taken only from an agent in ask mode, whose CLI asks, only in the shape
the CLI sends (the kind's reader checks that) and only once per run; anything else is dropped with a
log line, before anyone is asked.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager

import anyio

from agent_mcp.agents.kind import PermissionAsk, Step
from agent_mcp.core.clock import now
from agent_mcp.pool.permissions import Answer, Request, RunPermissions

log = logging.getLogger(__name__)

DENIED = "The person asked for permission denied this tool use."


class PermissionDesk:
    def __init__(
        self,
        permissions: RunPermissions,
        always_allowed: list[str],
        timeout_s: float,
        respond: Callable[[bytes], Awaitable[None]],
        frame: Callable[[PermissionAsk, bool, str], bytes],
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
        self._frame = frame
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

    def take(self, step: Step) -> None:
        """Called with every step of the turn; acts on the permission exchange's."""
        if step.ask is not None or step.doubt is not None:
            why = self.doubt(step)
            if why is not None:
                log.warning("agent %r: dropped a control request: %s", self.permissions.agent, why)
            elif step.ask is not None and self._spawn is not None:
                ask = step.ask
                self._spawn(self._serve, self.permissions.open(ask.request_id, ask.tool_name, ask.tool_input, now()))
        elif step.withdrawn is not None and (request := self.permissions.waiting.get(step.withdrawn)):
            self.permissions.settle(request, Answer("deny", "withdrawn"), now())

    def doubt(self, step: Step) -> str | None:
        """Why this permission request is not one the CLI would send this agent (None: it could be, or
        the step asks nothing): the turn shows such a line as not believed, not as a request."""
        if step.ask is None and step.doubt is None:
            return None
        if not self.accepting:
            return "the agent is not in ask mode, so its CLI asks nothing"
        if step.doubt is not None or step.ask is None:
            return step.doubt
        # The CLI names each request anew: a known id would take the place (or the record) of the CLI's.
        request_id = step.ask.request_id
        if request_id in self.permissions.waiting or any(r.request_id == request_id for r in self.permissions.records):
            return f"request {request_id!r} was asked already in this run"
        return None

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
        ask = PermissionAsk(request.shown.request_id, request.shown.tool_name, request.tool_input)
        await self._respond(self._frame(ask, answer.decision != "deny", answer.message or DENIED))

    def _timed_out(self) -> str:
        return (
            f"Nobody answered this permission request within {self.timeout_s:g} s (AGENT_MCP_PERMISSION_TIMEOUT / "
            "--permission-timeout), so it is denied."
        )
