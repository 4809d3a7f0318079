"""The environment an agent's CLI gets, and the depth that stops nested pools: the one home of both.

reaper.py's remote mode applies the same rule on an SSH host (nothing of agent-mcp is installed there,
so it carries its own copy of OWN_PREFIX and the stripped names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DEPTH_ENV = "AGENT_MCP_DEPTH"
MAX_DEPTH_ENV = "AGENT_MCP_MAX_DEPTH"
PASSED_TO_HOSTS = (DEPTH_ENV, MAX_DEPTH_ENV)
"""What of this machine's child environment reaches a CLI on a host: the depth that stops nested
pools. Nothing else (API keys included): the host's CLI runs with the host's login."""

MAX_ARG_BYTES = 32 * 4096 - 1
"""The most one argv entry can carry on Linux (MAX_ARG_STRLEN, less its NUL): a longer one makes
exec fail with "Argument list too long", on every run."""

ROLE_ROOM = 256
"""What an agent kind may add to a role in the one argv entry that carries it (its flag, a sentence
naming the agent): each kind's tests hold it to this."""


def largest_role() -> int:
    """The largest role, in UTF-8 bytes, that reaches any kind's CLI in one argv entry with any name."""
    return MAX_ARG_BYTES - ROLE_ROOM


OWN_PREFIX = "AGENT_MCP_"
"""agent-mcp's own settings stay with the server: the bearer token drives the whole pool, and a nested
agent-mcp given this one's transport and port would try to listen on them."""


def child_environment(env: Mapping[str, str], depth: int, max_depth: int, stripped: Iterable[str]) -> dict[str, str]:
    """The user's environment as their CLI needs it (PATH, HOME, proxies, its API settings), less what
    belongs to this server and the `stripped` names (a kind's: what would make its CLI believe it runs
    inside another session), plus the depth variables."""
    drop = set(stripped)
    child = {key: value for key, value in env.items() if key not in drop and not key.startswith(OWN_PREFIX)}
    # A child CLI may load agent-mcp itself: tell that one how deep it is, and this server's limit
    # (however it was given), so nested pools cannot recurse without end.
    child[DEPTH_ENV] = str(depth + 1)
    child[MAX_DEPTH_ENV] = str(max_depth)
    return child


def depth_of(env: Mapping[str, str]) -> int:
    """How deep in nested pools this server runs (set by a parent agent-mcp); ValueError if malformed."""
    depth = env.get(DEPTH_ENV, "0")
    if not depth.isdigit():
        raise ValueError(f"{DEPTH_ENV}: must be a whole number of at least 0, got {depth!r}")
    return int(depth)
