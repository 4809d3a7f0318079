"""What list_agents answers: every agent's AgentInfo fields, built once per change of the store.

A client polling a pool of a thousand agents gets the same listing again without a rebuild: status
and queue lengths are runs in the store too, so the store's change mark says when a listing is out
of date. Entries are plain data (the SDK validates the result against AgentList once), so a
listing needs no model per agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from .store import ActiveCounts, AgentRecord, Store

NO_ACTIVITY = ActiveCounts(running=0, queued=0)


def info_fields(agent: AgentRecord, activity: ActiveCounts) -> dict[str, Any]:
    """AgentInfo's fields: the creation options under create_agent's names, then the agent's state."""
    worktree = agent.worktree
    return {
        **agent.options.__dict__,
        "name": agent.name,
        "role": agent.role,
        "cwd": agent.cwd,
        "session_id": agent.session_id,
        "message_count": agent.message_count,
        "created_at": agent.created_at,
        "total_cost_usd": agent.total_cost_usd,
        "total_input_tokens": agent.total_input_tokens,
        "total_output_tokens": agent.total_output_tokens,
        "total_cache_creation_input_tokens": agent.total_cache_creation_input_tokens,
        "total_cache_read_input_tokens": agent.total_cache_read_input_tokens,
        "status": "running" if activity.running else "idle",
        "queued": activity.queued,
        "worktree": worktree is not None,
        "worktree_branch": worktree.branch if worktree else None,
        "worktree_repo": worktree.repo if worktree else None,
    }


@dataclass(frozen=True)
class AgentListing:
    mark: int
    data: dict[str, Any]
    json: str
    """The same as compact JSON: the text copy of the result."""


class ListingCache:
    def __init__(self) -> None:
        self._listing: AgentListing | None = None

    def get(self, store: Store) -> AgentListing:
        mark = store.change_mark()
        if self._listing is None or self._listing.mark != mark:
            activity = store.active_counts()
            data = {
                "agents": [
                    info_fields(agent, activity.get(agent.name.casefold(), NO_ACTIVITY)) for agent in store.agents()
                ]
            }
            self._listing = AgentListing(mark, data, to_json(data).decode())
        return self._listing
