"""The store's writes, on the writer's worker thread one at a time: a write may wait for another
server's lock (busy_timeout), and that wait must not stall the event loop and every agent with it.

Every part of the store (agents, runs, …) writes through the one file it shares (file.StoreFile),
so one limiter holds all of their writes to one at a time."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import anyio

from agent_mcp.store.file import StoreFile


class Writes(Protocol):
    @property
    def _file(self) -> StoreFile: ...


S = TypeVar("S", bound=Writes)
P = ParamSpec("P")
R = TypeVar("R")


def on_writer(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Runs the method on the writer's worker thread, one write at a time, and awaits it there."""

    async def off_the_loop(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        file = self._file
        if file.write_limiter is None:
            file.write_limiter = anyio.CapacityLimiter(1)
        call = functools.partial(method, self, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=file.write_limiter)

    off_the_loop.__doc__ = method.__doc__
    return off_the_loop
