"""pool_status: what the pool runs, the accounts it spends (their usage limits) and what it has spent."""

from __future__ import annotations

from agent_mcp.core.clock import iso_of
from agent_mcp.core.config import Settings
from agent_mcp.core.rows import Account, ActiveCounts
from agent_mcp.core.status import AccountStatus, LimitWindow, PoolStatus, SpendStatus
from agent_mcp.pool._limits import Limits
from agent_mcp.pool._spending import Spending
from agent_mcp.store.database import Store


def pool_status(settings: Settings, store: Store, limits: Limits, spending: Spending, warm: int) -> PoolStatus:
    """Every account the pool may spend: claude's login here and on each listed host, known or not yet,
    and any other kind's login that reported its limits."""
    counts: list[ActiveCounts] = list(store.runs.active_counts().values())
    reported = store.accounts.limits()
    logins = [Account(None), *(Account(h.alias) for h in settings.hosts)]  # claude's, known or not yet
    logins += [account for account in reported if account not in logins]  # other kinds' that reported some
    accounts = []
    for account in logins:
        until = limits.paused_until(account)
        windows = [
            LimitWindow(
                type=r.window,
                status=r.status,
                resets_at=iso_of(r.resets_at) if r.resets_at is not None else None,
                utilization=r.utilization,
            )
            for r in reported.get(account, [])
        ]
        accounts.append(AccountStatus(host=account.host, cli=account.cli, paused_until=iso_of(until) if until else None,
                                      windows=windows))  # fmt: skip
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
