"""What list_agents answers: pages of the agents' entries, built once per change of the store.

A client polling a pool of a thousand agents gets its page from the same entries without a rebuild:
status and queue lengths are runs in the store too, so the store's change mark says when the entries
are out of date. Entries are plain data (the SDK validates the result against AgentList once), lean
like every result, with the role's first ROLE_PREVIEW characters (get_agent gives the whole).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from agent_mcp.agents import KINDS
from agent_mcp.core import validation
from agent_mcp.core.errors import InvalidInput, quoted
from agent_mcp.core.models import AgentEntry, lean
from agent_mcp.core.rows import ActiveCounts, AgentRecord
from agent_mcp.pool import _cursors as cursors
from agent_mcp.pool._warm import WarmProcesses
from agent_mcp.store.database import Store

NO_ACTIVITY = ActiveCounts(running=0, queued=0)
ROLE_PREVIEW = 200
STATUSES = ("idle", "running", "waiting_permission", "queued")


def info_fields(agent: AgentRecord, activity: ActiveCounts, warm: bool) -> dict[str, Any]:
    """AgentInfo's fields: the creation options under create_agent's names, then the agent's state."""
    worktree = agent.worktree
    return {
        **agent.options.__dict__,
        "name": agent.name,
        "role": agent.role,
        "cli": agent.cli,
        "cwd": agent.cwd,
        "host": agent.host,
        "session_id": agent.session_id,
        "message_count": agent.message_count,
        "created_at": agent.created_at,
        "total_cost_usd": agent.total_cost_usd,
        "total_input_tokens": agent.total_input_tokens,
        "total_output_tokens": agent.total_output_tokens,
        "total_cache_creation_input_tokens": agent.total_cache_creation_input_tokens,
        "total_cache_read_input_tokens": agent.total_cache_read_input_tokens,
        "status": "waiting_permission" if activity.waiting else "running" if activity.running else "idle",
        "always_allowed": agent.always_allowed,
        "queued": activity.queued,
        "warm": warm,
        "worktree": worktree is not None,
        "worktree_branch": worktree.branch if worktree else None,
        "worktree_repo": worktree.repo if worktree else None,
        "sandbox": agent.sandbox,
    }


@dataclass(frozen=True)
class AgentListing:
    mark: tuple[int, int]
    """The store's change mark and the warm processes' generation it was built at."""
    entries: list[dict[str, Any]]
    """Every agent's entry, sorted by name."""


@dataclass(frozen=True)
class AgentPage:
    data: dict[str, Any]
    json: str
    """The same as compact JSON: the text copy of the result."""


def entry(agent: AgentRecord, activity: ActiveCounts, warm: bool) -> dict[str, Any]:
    fields = info_fields(agent, activity, warm)
    fields["role"] = fields["role"][:ROLE_PREVIEW]
    if fields["cli"] == "claude":  # the default says nothing in a listing
        del fields["cli"]
    return lean(fields, AgentEntry.ALWAYS)


class ListingCache:
    def __init__(self) -> None:
        self._listing: AgentListing | None = None

    def get(self, store: Store, warm: WarmProcesses) -> AgentListing:
        mark = (store.file.change_mark(), warm.generation)
        if self._listing is None or self._listing.mark != mark:
            activity = store.runs.active_counts()
            entries = [
                entry(agent, activity.get(agent.name.casefold(), NO_ACTIVITY), warm.is_warm(agent.name))
                for agent in store.agents.all()
            ]
            self._listing = AgentListing(mark, entries)
        return self._listing


def page(
    listing: AgentListing,
    status: str | None,
    name_prefix: str | None,
    limit: int,
    cursor: str | None,
    cli: str | None = None,
) -> AgentPage:
    """The agents that match, after the cursor's, at most `limit`; total counts every match."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if cli is not None and cli not in KINDS:
        raise InvalidInput(f"cli must be one of {', '.join(KINDS)}, got {quoted(cli)}")
    validation.check_limit(limit)
    prefix = None if name_prefix is None else name_prefix.casefold()
    matching = [
        agent
        for agent in listing.entries
        if (prefix is None or agent["name"].casefold().startswith(prefix))
        and (status is None or _has_status(agent, status))
        and (cli is None or agent.get("cli", "claude") == cli)
    ]
    after = None if cursor is None else cursors.read_agents(cursor)
    start = 0 if after is None else next((i for i, a in enumerate(matching) if a["name"] > after), len(matching))
    agents = matching[start : start + limit]
    more = start + limit < len(matching)
    data = {
        "agents": agents,
        "next_cursor": cursors.agents(agents[-1]["name"]) if more else None,
        "total": len(matching),
    }
    return AgentPage(data, to_json(data).decode())


def _has_status(agent: dict[str, Any], status: str) -> bool:
    return bool(agent["queued"] > 0 if status == "queued" else agent["status"] == status)
