"""Stream events as progress notifications to the caller that waits (a no-op without a progress token).

A client with an idle timer keeps waiting while progress comes, and a person sees what the agent does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context

from agent_mcp.agents.claude.stream import describe_event


class ProgressRelay:
    """Turns stream events into progress notifications (a no-op without a progress token)."""

    def __init__(self, ctx: Context[Any]) -> None:
        self._ctx = ctx
        self._count = 0

    async def __call__(self, event: dict[str, Any], prefix: str = "") -> None:
        message = describe_event(event)
        if message is None:
            return
        self._count += 1
        await self._ctx.report_progress(self._count, None, prefix + message)

    def for_agent(self, agent: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """One relay for many runs: the count stays monotonic and each line names its agent."""

        async def relay(event: dict[str, Any]) -> None:
            await self(event, f"{agent}: ")

        return relay
