"""Permission requests of ask-mode agents: a tool use the CLI asks about waits here for its answer.

The CLI (`--permission-prompt-tool stdio`) writes a `can_use_tool` control request and waits for the
control response on its stdin. Who answers, whoever comes first:
- a rule: a tool a person allowed for good earlier (`allow_always`) is allowed at once;
- a person, through the client of a call that waits on the run, when that client can elicit, or
  through the dashboard;
- the MCP caller, with answer_permission: allow or deny, never allow_always, and nothing at all when
  the server takes answers from a person only (caller_may_answer);
- nobody: after the permission timeout it is denied, and the agent is told so.
A request the CLI withdraws (an interrupt: a cancelled or timed-out run) or that the turn outlives is
recorded as withdrawn. Every request and its answer is kept for the run's response.

Abuse this is built against: an agent that asks for the same thing again and again gets each answer
once (a rule answers repeats); a caller answering a request twice, or one that is not waiting, is
refused and changes nothing; a huge tool input is shown cut (the CLI gets the original back on allow).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from agent_mcp.core.clock import now
from agent_mcp.core.entries import tool_subject
from agent_mcp.core.errors import InvalidInput, PolicyRefusal
from agent_mcp.core.models import AnsweredBy, Decision, PendingPermission, PermissionRequest

log = logging.getLogger(__name__)

INPUT_STRING_CHARS = 2000
"""A string in a shown tool input is cut to this many characters (a Write's content can be megabytes)."""


@dataclass(frozen=True)
class Answer:
    decision: Decision
    by: AnsweredBy
    message: str | None = None


def caller_may_answer(decision: str, answerers: str) -> None:
    """The MCP caller is most often the model that delegated the work, not the person who owns it: it
    could allow what the agent asks for in that person's place, even while the person is being asked.
    So a rule that outlives the request (allow_always) is a person's alone, and a server set to
    answerers=person takes no answer from the caller at all. Refused before anything changes."""
    if answerers == "person":
        raise PolicyRefusal(
            "this server takes permission answers from a person only (AGENT_MCP_PERMISSION_ANSWERERS / "
            "--permission-answerers is person): the person answers through their client's question or the "
            "dashboard; nothing changed"
        )
    if decision == "allow_always":
        raise PolicyRefusal(
            "only a person can allow a tool for good (allow_always: through their client's question or the "
            'dashboard); answer decision="allow" to allow this one use; nothing changed'
        )


Asker = Callable[[str, PendingPermission], Awaitable[Answer | None]]
"""Asks a person about an agent's request (elicitation, from the MCP layer): their answer, or None
when none came (they dismissed it)."""


def shown_input(value: Any) -> Any:
    """The tool input as a caller sees it: long strings cut, saying how long they were."""
    if isinstance(value, str) and len(value) > INPUT_STRING_CHARS:
        return value[:INPUT_STRING_CHARS] + f"… ({len(value)} characters)"
    if isinstance(value, dict):
        return {key: shown_input(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shown_input(item) for item in value]
    return value


@dataclass(eq=False)
class Request:
    shown: PendingPermission
    tool_input: dict[str, Any]
    """The input as the CLI sent it: an allow gives it back unchanged."""
    answer: Answer | None = None
    answered_at: str | None = None
    settled: anyio.Event = field(default_factory=anyio.Event)
    closed: anyio.Event = field(default_factory=anyio.Event)
    """Set once the answer went to the CLI (or the request was withdrawn)."""
    asking: anyio.CancelScope | None = None
    """The elicitation asking about it, while one does."""
    asked_by: Asker | None = None

    def record(self) -> PermissionRequest:
        assert self.answer is not None
        return PermissionRequest(
            request_id=self.shown.request_id,
            tool_name=self.shown.tool_name,
            summary=self.shown.summary,
            decision=self.answer.decision,
            answered_by=self.answer.by,
            message=self.answer.message,
            asked_at=self.shown.asked_at,
            answered_at=self.answered_at,
        )


class RunPermissions:
    """One run's permission requests: those waiting, the record of those answered, and the people
    who can be asked (the askers of the calls waiting on the run)."""

    def __init__(self, agent: str = "") -> None:
        self.agent = agent
        self.waiting: dict[str, Request] = {}
        self.records: list[PermissionRequest] = []
        self.askers: list[Asker] = []
        self.asked = anyio.Event()
        """Set while a request waits for a person; a new one once none does."""
        self._spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], object] | None = None

    @property
    def pending(self) -> PendingPermission | None:
        """The oldest request still waiting for a person."""
        return next((r.shown for r in self.waiting.values() if r.answer is None), None)

    def open(self, request_id: str, tool_name: str, tool_input: dict[str, Any], asked_at: str) -> Request:
        shown = PendingPermission(
            request_id=request_id,
            tool_name=tool_name,
            summary=tool_subject(tool_input),
            input=shown_input(tool_input),
            asked_at=asked_at,
        )
        request = Request(shown, tool_input)
        self.waiting[request_id] = request
        return request

    def wait_for_a_person(self, request: Request) -> None:
        """No rule answered it: anyone waiting on the run hears of it, and an asker is asked."""
        self.asked.set()
        self._offer(request)

    def settle(self, request: Request, answer: Answer, at: str) -> bool:
        """The first answer counts; False for any later one."""
        if request.answer is not None:
            return False
        request.answer, request.answered_at = answer, at
        request.settled.set()
        if request.asking is not None:
            request.asking.cancel()
        return True

    def close(self, request: Request) -> None:
        """Done with it (answered and told to the CLI, or withdrawn): into the run's record."""
        self.waiting.pop(request.shown.request_id, None)
        self.records.append(request.record())
        request.closed.set()
        if not any(r.answer is None for r in self.waiting.values()):
            self.asked = anyio.Event()

    def answer(self, request_id: str, answer: Answer, at: str) -> Request:
        """A caller's answer (answer_permission). Refused, changing nothing, when that request is not
        waiting: unknown, answered already, or withdrawn."""
        request = self.waiting.get(request_id)
        if request is not None and self.settle(request, answer, at):
            return request
        earlier = (
            request.record()
            if request is not None
            else next((r for r in self.records if r.request_id == request_id), None)
        )
        if earlier is not None:
            raise InvalidInput(
                f"permission request {request_id!r} was answered already ({earlier.decision}, by "
                f"{earlier.answered_by}); nothing changed"
            )
        waiting = [r.shown.request_id for r in self.waiting.values() if r.answer is None]
        raise InvalidInput(
            f"this run has no permission request {request_id!r}"
            + (f"; waiting: {', '.join(waiting)}" if waiting else "; none is waiting")
        )

    # --- asking people -----------------------------------------------------------------------

    @contextlib.contextmanager
    def asking_through(self, spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], object]) -> Iterator[None]:
        """While a turn runs: elicitations run as tasks of the turn (so they end with it)."""
        self._spawn = spawn
        try:
            yield
        finally:
            self._spawn = None

    @contextlib.contextmanager
    def asker(self, asker: Asker | None) -> Iterator[None]:
        """A call waiting on the run whose client can ask its person: asked about what waits."""
        if asker is None:
            yield
            return
        self.askers.append(asker)
        for request in list(self.waiting.values()):
            self._offer(request)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                self.askers.remove(asker)
            for request in self.waiting.values():  # its call is over: its question goes with it
                if request.asked_by is asker and request.asking is not None:
                    request.asking.cancel()

    def _offer(self, request: Request) -> None:
        if request.answer is not None or request.asking is not None or not self.askers or self._spawn is None:
            return
        asker = self.askers[-1]
        request.asking, request.asked_by = anyio.CancelScope(), asker

        async def ask() -> None:
            answer, asking = None, request.asking
            assert asking is not None
            try:
                with asking:
                    answer = await asker(self.agent, request.shown)
            except Exception as exc:  # the client went away, or could not ask after all: not again
                log.info("could not ask about permission request %s: %s", request.shown.request_id, exc)
                with contextlib.suppress(ValueError):
                    self.askers.remove(asker)
                request.asking = request.asked_by = None
                self._offer(request)  # another waiting call may still ask
                return
            request.asking = request.asked_by = None
            if answer is not None:  # None: the person let it be; it waits for answer_permission
                self.settle(request, answer, now())
            elif asking.cancel_called:  # its call ended first (a get_run that did not wait): another may ask
                self._offer(request)

        self._spawn(ask)
