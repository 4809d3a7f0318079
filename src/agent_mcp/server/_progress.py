"""A run's steps as progress notifications to the caller that waits (a no-op without a progress token).

A client with an idle timer keeps waiting while progress comes, and a person sees what the agent does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context


class ProgressRelay:
    """Turns a run's steps into progress notifications (a no-op without a progress token)."""

    def __init__(self, ctx: Context[Any]) -> None:
        self._ctx = ctx
        self._count = 0

    async def __call__(self, step: str, prefix: str = "") -> None:
        self._count += 1
        await self._ctx.report_progress(self._count, None, prefix + step)

    def for_agent(self, agent: str) -> Callable[[str], Awaitable[None]]:
        """One relay for many runs: the count stays monotonic and each line names its agent."""

        async def relay(step: str) -> None:
            await self(step, f"{agent}: ")

        return relay
