"""One message's journey: queued behind its agent's earlier messages, running, then finished.

A Run outlives the request that started it (start_message returns at once), so it carries its
own cancel scope, a finished event for waiters, and the progress listeners of whoever is waiting
on it right now.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio

from .errors import RunFailed
from .models import AgentResponse, RunInfo, RunStatus

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]

MESSAGE_PREVIEW = 2000

_STATUS_OF_KIND: dict[str, RunStatus] = {
    "timed_out": "timed_out",
    "cancelled": "cancelled",
    "interrupted": "interrupted",
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(eq=False)
class Run:
    agent: str
    message: str
    timeout_s: float | None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
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
    listeners: list[EventHandler] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return not self.finished.is_set()

    def start(self) -> None:
        self.status = "running"
        self.started_at = now()

    def succeed(self, response: AgentResponse) -> None:
        self.response = response
        self._finish("done")

    def fail(self, failure: RunFailed) -> None:
        self.failure = failure
        self._finish(_STATUS_OF_KIND.get(failure.kind, "failed"))

    def _finish(self, status: RunStatus) -> None:
        """Called once, by the run's own task: a finished run never changes again."""
        assert not self.finished.is_set(), f"run {self.run_id} finished twice"
        self.status = status
        self.finished_at = now()
        self.finished.set()

    async def publish(self, event: dict[str, Any]) -> None:
        """A waiter that has gone away (its client disconnected) must not break the run."""
        for listener in list(self.listeners):
            try:
                await listener(event)
            except Exception:
                log.debug("dropping a progress listener of run %s", self.run_id, exc_info=True)
                with contextlib.suppress(ValueError):
                    self.listeners.remove(listener)

    async def wait(self, seconds: float | None, on_event: EventHandler | None = None) -> bool:
        """Wait up to `seconds` (None: without limit) for the run to finish; True if it has."""
        if on_event is not None:
            self.listeners.append(on_event)
        try:
            with anyio.move_on_after(seconds):
                await self.finished.wait()
        finally:
            if on_event is not None:
                self.listeners.remove(on_event)
        return self.finished.is_set()

    def info(self, position: int) -> RunInfo:
        return RunInfo(
            run_id=self.run_id,
            agent=self.agent,
            status=self.status,
            position=position,
            message=self.message[:MESSAGE_PREVIEW],
            queued_at=self.queued_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            response=self.response,
            error=str(self.failure) if self.failure else None,
            error_kind=self.failure.kind if self.failure else (self.response.error_kind if self.response else None),
        )
