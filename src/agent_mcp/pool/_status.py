"""pool_status: what the pool runs, the accounts it spends (their usage limits) and what it has spent."""

from __future__ import annotations

from agent_mcp.core.clock import iso_of
from agent_mcp.core.config import Settings
from agent_mcp.core.rows import ActiveCounts
from agent_mcp.core.status import AccountStatus, LimitWindow, PoolStatus, SpendStatus
from agent_mcp.pool._limits import Limits
from agent_mcp.pool._spending import Spending
from agent_mcp.store.database import Store


def pool_status(settings: Settings, store: Store, limits: Limits, spending: Spending, warm: int) -> PoolStatus:
    """Every account the pool may spend: this machine's login and each listed host's, known or not yet."""
    counts: list[ActiveCounts] = list(store.runs.active_counts().values())
    reported = store.accounts.limits()
    accounts = []
    for host in [None, *(h.alias for h in settings.hosts)]:
        until = limits.paused_until(host)
        windows = [
            LimitWindow(
                type=r.window,
                status=r.status,
                resets_at=iso_of(r.resets_at) if r.resets_at is not None else None,
                utilization=r.utilization,
            )
            for r in reported.get(host, [])
        ]
        accounts.append(AccountStatus(host=host, paused_until=iso_of(until) if until else None, windows=windows))
    spent = spending.spent()
    return PoolStatus(
        running=sum(c.running for c in counts),
        queued=sum(c.queued for c in counts),
        warm=warm,
        accounts=accounts,
        spend=SpendStatus(
            cost_usd=round(spent.cost_usd, 6),
            max_cost_usd=settings.max_cost_usd,
            window_s=settings.cost_window_s,
            unknown_cost_runs=spent.unknown,
        ),
    )
