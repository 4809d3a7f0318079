"""What refuses a request to the pool before it changes anything: a message (its size and timeout,
the nesting depth this server runs at, the room left in its agent's queue), an answer to a
permission request, and a wait on runs. A refusal that a setting made names the setting."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import cast, get_args

from agent_mcp.agents.kind import AgentKind
from agent_mcp.core import validation
from agent_mcp.core.config import Settings
from agent_mcp.core.errors import Busy, DepthExceeded, InvalidInput
from agent_mcp.core.models import Decision, PersonOrCaller
from agent_mcp.pool.permissions import caller_may_answer

DECISIONS: tuple[str, ...] = get_args(Decision)


def check_message(settings: Settings, message: str, timeout_s: float | None, kind: AgentKind) -> None:
    validation.check_text("message", message, settings.max_message_bytes)
    most = kind.capabilities.max_message_bytes
    if most is not None and len(message.encode("utf-8", "surrogatepass")) > most:
        raise InvalidInput(
            f"message is {len(message.encode('utf-8', 'surrogatepass'))} bytes, and the {kind.name} CLI answers "
            f"messages of at most {most} bytes whole (docs/agent-kinds.md); send a shorter message, or put the "
            "bulk in a file in the agent's directory and name it"
        )
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


def check_answer(settings: Settings, decision: str, message: str | None, by: PersonOrCaller) -> Decision:
    """The decision, once the one who gives it may, it is one, and its message fits."""
    if by == "answer_permission":
        caller_may_answer(decision, settings.permission_answerers)
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if message is not None:
        validation.check_text("message", message, settings.max_message_bytes)
    return cast(Decision, decision)


def check_wait(settings: Settings, run_ids: list[str], mode: str) -> list[str]:
    """The runs to wait for, each once (a run named twice is waited for and answered once), within
    the limit that keeps one call from holding the server's attention on runs without end."""
    if not run_ids:
        raise InvalidInput("run_ids is empty; pass the run_id of each run to wait for")
    run_ids = list(dict.fromkeys(run_ids))
    if len(run_ids) > settings.max_wait_runs:
        raise InvalidInput(
            f"run_ids names {len(run_ids)} runs, over the limit of {settings.max_wait_runs} "
            "(AGENT_MCP_MAX_WAIT_RUNS / --max-wait-runs); wait for them in batches"
        )
    if mode not in ("all", "any"):
        raise InvalidInput(f"mode must be 'all' or 'any', got {mode!r}")
    return run_ids
