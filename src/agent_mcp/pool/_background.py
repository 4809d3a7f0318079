"""Work that outlives the request that started it, in a task group of its owner's lifetime.

The scheduler's runs and the warm processes' keepers both run here: started by one request, they
go on after it returns, and leaving `running` cancels whatever is still going.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup


class Background:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: TaskGroup | None = None

    @property
    def live(self) -> bool:
        return self._tasks is not None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Leaving it cancels every task still going, and waits for each to end."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                self._tasks = None

    def start_soon(self, work: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str) -> None:
        if self._tasks is None:
            raise RuntimeError(f"{self.owner} is not running; use `async with {self.owner}.running()`")
        self._tasks.start_soon(work, *args, name=name)
