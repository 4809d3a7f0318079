"""What refuses a message before it is queued: its size and timeout, the nesting depth this server
runs at, and the room left in its agent's queue. Each refusal names the setting that made it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from agent_mcp.core import validation
from agent_mcp.core.config import Settings
from agent_mcp.core.errors import Busy, DepthExceeded


def check_message(settings: Settings, message: str, timeout_s: float | None) -> None:
    validation.check_text("message", message, settings.max_message_bytes)
    validation.check_timeout(timeout_s)
    depth, limit = settings.depth, settings.max_depth
    if depth >= limit:
        raise DepthExceeded(
            f"this agent-mcp runs at depth {depth} (started by an agent that was itself run by agent-mcp), "
            f"and the limit is {limit} (AGENT_MCP_MAX_DEPTH / --max-depth): nested agent pools stop here so "
            "they cannot recurse without end; do this work directly instead"
        )


def check_queue_room(agents: list[str], queued_of: Callable[[str], int], max_queued: int) -> None:
    """The limit that keeps a flood of messages from piling up without end: the agents named (one
    may be named more than once) and how many each already has queued or running."""
    wanted = Counter(agent.casefold() for agent in agents)
    for agent in dict.fromkeys(agents):
        queued = queued_of(agent)
        if queued + wanted[agent.casefold()] > max_queued:
            raise Busy(
                f"agent {agent!r} has {queued} message(s) queued or running, and {max_queued} is the limit "
                "(AGENT_MCP_MAX_QUEUED / --max-queued); wait for some to finish (wait_runs) or cancel them, then "
                "send again, or raise the limit"
            )
