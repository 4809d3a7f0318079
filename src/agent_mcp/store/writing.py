"""The store's writes, on the writer's worker thread one at a time: a write may wait for another
server's lock (busy_timeout), and that wait must not stall the event loop and every agent with it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import anyio


class Writes(Protocol):
    _write_limiter: anyio.CapacityLimiter | None


S = TypeVar("S", bound=Writes)
P = ParamSpec("P")
R = TypeVar("R")


def on_writer(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Runs the method on the writer's worker thread, one write at a time, and awaits it there."""

    async def off_the_loop(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._write_limiter is None:
            self._write_limiter = anyio.CapacityLimiter(1)
        call = functools.partial(method, self, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._write_limiter)

    off_the_loop.__doc__ = method.__doc__
    return off_the_loop
