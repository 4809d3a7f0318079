"""Waiting on several runs at once, for all of them or the first, with a limit on the wait.

A run this server started is waited on directly (its finished event, with its progress relayed);
a run of another server on the same store, or one this server has forgotten, is polled in the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from agent_mcp.pool._runs import EventHandler, Run
from agent_mcp.pool.permissions import Asker

POLL_S = 0.1


async def wait_for_runs(
    run_ids: list[str],
    first_only: bool,
    seconds: float | None,
    live: Callable[[str], Run | None],
    stored_finished: Callable[[str], Awaitable[bool]],
    listener_for: Callable[[str], EventHandler] | None = None,
    asker: Asker | None = None,
) -> bool:
    """True once every run (or, first_only, any run) has finished; False when `seconds` ran out, or
    when a run waits for a permission answer that this caller cannot give through `asker` (it returns
    at once, so the caller notices). listener_for(agent) gives the progress listener for that agent's
    run. Duplicate ids are waited on once."""
    over = anyio.Event()
    unique = list(dict.fromkeys(run_ids))
    pending = len(unique)

    async def wait_one(run_id: str) -> None:
        nonlocal pending
        run = live(run_id)
        if run is not None:
            listener = listener_for(run.agent) if listener_for else None
            if not await run.wait(None, listener, asker, until_asked=True):
                over.set()  # it asks for permission
                return
        else:
            while not await stored_finished(run_id):
                await anyio.sleep(POLL_S)
        pending -= 1
        if first_only or pending == 0:
            over.set()

    with anyio.move_on_after(seconds):
        async with anyio.create_task_group() as tasks:
            for run_id in unique:
                tasks.start_soon(wait_one, run_id)
            await over.wait()
            tasks.cancel_scope.cancel()
    return pending == 0 or (first_only and pending < len(unique))
