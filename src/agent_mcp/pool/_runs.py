"""A run: one message's journey, queued behind its agent's earlier messages, running, finished.

"Run" means this and only this in the code: a Run is the live run in the server that started it; a
RunRecord (core/rows.py) is what the store keeps of any run (this server's or another's); RunInfo is
what callers see, built from a RunRecord in one place.

A Run outlives the request that started it (start_message returns at once), so it carries its
own cancel scope, a finished event for waiters, and the progress listeners of whoever is waiting
on it right now.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from agent_mcp.core.clock import now
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.long_strings import WholeText
from agent_mcp.core.models import AgentResponse, RunInfo, RunStatus
from agent_mcp.core.rows import RunRecord
from agent_mcp.pool.permissions import Asker, RunPermissions

log = logging.getLogger(__name__)

EventHandler = Callable[[str], Awaitable[None]]
"""Told each step of the run in a line (`Bash: pytest -q`): progress for whoever waits on it."""

RUN_ID_RE = re.compile(r"[a-z2-7]{12}|[0-9a-f]{16}")
"""12 characters of base32 (60 random bits: every result that names a run carries its id into the
caller's context); stores from before hold 16 hex digits."""


def new_run_id() -> str:
    return base64.b32encode(secrets.token_bytes(8)).decode()[:12].lower()


ACTIVE_STATUSES: tuple[RunStatus, ...] = ("queued", "running", "waiting_permission")
"""A run in one of these has not finished."""

_STATUS_OF_KIND: dict[str, RunStatus] = {
    "timed_out": "timed_out",
    "cancelled": "cancelled",
    "interrupted": "interrupted",
}


async def first_of(*waits: Callable[[], Awaitable[object]]) -> None:
    """Until the first of them returns."""
    async with anyio.create_task_group() as tasks:

        async def one(wait: Callable[[], Awaitable[object]]) -> None:
            await wait()
            tasks.cancel_scope.cancel()

        for wait in waits:
            tasks.start_soon(one, wait)


@dataclass(eq=False)
class Run:
    agent: str
    preview: str
    """The message's first MESSAGE_PREVIEW characters: the whole message waits in the store until its
    turn, so a long queue of large messages costs the server no memory."""
    timeout_s: float | None
    message_chars: int = 0
    """The whole message's length: a preview shorter than it says so (message_truncated)."""
    run_id: str = field(default_factory=new_run_id)
    status: RunStatus = "queued"
    queued_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    response: AgentResponse | None = None
    failure: RunFailed | None = None
    session_id: str | None = None
    """The latest session the CLI named during this run."""
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    turn: anyio.Event = field(default_factory=anyio.Event)
    """Set when every earlier message to the same agent has finished."""
    finished: anyio.Event = field(default_factory=anyio.Event)
    """Set once its outcome is in the store, so whoever it wakes reads the store up to date."""
    listeners: list[EventHandler] = field(default_factory=list)
    permissions: RunPermissions = field(default_factory=RunPermissions)
    whole_text: WholeText | None = None
    """An answer too long to hold, decoded to a file: the store keeps it whole (the response, its ends)."""
    held_until: str | None = None
    """While its account's usage limit holds it (queued): when that resets (ISO 8601)."""
    held_step: str | None = None
    """The progress line that said so: whoever starts waiting on the run meanwhile is told it too."""
    held_since: float | None = None
    """When (monotonic) a usage limit first held it: it waits --max-rate-limit-wait at most, in all."""

    def __post_init__(self) -> None:
        self.permissions.agent = self.agent

    @property
    def active(self) -> bool:
        return not self.finished.is_set()

    def start(self) -> None:
        self.status = "running"
        self.started_at = now()

    @property
    def concluded(self) -> bool:
        """Whether its outcome is known (it may not be stored yet)."""
        return self.finished_at is not None

    def succeed(self, response: AgentResponse) -> None:
        self.response = response
        self._conclude("done")

    def fail(self, failure: RunFailed) -> None:
        self.failure = failure
        self._conclude(_STATUS_OF_KIND.get(failure.kind, "failed"))

    def _conclude(self, status: RunStatus) -> None:
        """Called once, by the run's own task: a concluded run never changes again."""
        assert not self.concluded, f"run {self.run_id} concluded twice"
        self.status = status
        self.finished_at = now()

    async def publish(self, step: str) -> None:
        """A waiter that has gone away (its client disconnected) must not break the run."""
        for listener in list(self.listeners):
            try:
                await listener(step)
            except Exception:
                log.debug("dropping a progress listener of run %s", self.run_id, exc_info=True)
                with contextlib.suppress(ValueError):
                    self.listeners.remove(listener)

    async def wait(
        self,
        seconds: float | None,
        on_event: EventHandler | None = None,
        asker: Asker | None = None,
        until_asked: bool = False,
    ) -> bool:
        """Wait up to `seconds` (None: without limit) for the run to finish; True if it has. With
        an asker, the caller's person is asked about its permission requests meanwhile; until_asked
        (a caller that cannot ask) also returns as soon as a request waits for an answer."""
        if on_event is not None:
            self.listeners.append(on_event)
        try:
            if on_event is not None and self.held_until is not None and self.held_step is not None:
                await on_event(self.held_step)
            with anyio.move_on_after(seconds), self.permissions.asker(asker):
                if until_asked and asker is None:
                    await first_of(self.finished.wait, lambda: self.permissions.asked.wait())
                else:
                    await self.finished.wait()
        finally:
            if on_event is not None:
                self.listeners.remove(on_event)
        return self.finished.is_set()

    def info(self, position: int) -> RunInfo:
        update: dict[str, Any] = {"pending_permission": self.permissions.pending}
        if self.held_until is not None and self.status == "queued":
            update.update(waiting_for="rate_limit", resets_at=self.held_until)
        if self.message_chars > len(self.preview):
            update.update(message_truncated=True, message_chars=self.message_chars)
        return self.record().info(position).model_copy(update=update)

    def record(self) -> RunRecord:
        failure, response = self.failure, self.response
        return RunRecord(
            run_id=self.run_id,
            agent=self.agent,
            status=self.status,
            message=self.preview,
            queued_at=self.queued_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            response=response,
            error=str(failure) if failure else None,
            error_kind=failure.kind if failure else (response.error_kind if response else None),
            permission_requests=list(self.permissions.records) if response is None else [],
            resets_at=failure.resets_at if failure else None,
        )
