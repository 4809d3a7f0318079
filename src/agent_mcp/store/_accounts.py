"""The accounts a pool spends: each login's usage-limit windows (this machine's, and each SSH host's as
its own account), and what the pool has spent over time (the spend ledger runs.finished writes).

Kept in the store so a pause survives a restart and two servers on one store see the same account.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_mcp.core.rows import Account, LimitReport
from agent_mcp.store._writing import on_writer
from agent_mcp.store.file import StoreFile

LOCAL = ""
"""The host column of this machine's login."""


@dataclass(frozen=True)
class Spent:
    cost_usd: float
    """What the runs that reported a cost cost."""
    unknown: int
    """Runs whose CLI reports no cost: not counted as zero, counted here."""


class Accounts:
    def __init__(self, file: StoreFile) -> None:
        self._file = file

    @on_writer
    def record(self, account: Account, report: LimitReport, seen_at: str) -> None:
        with self._file.transaction() as db:
            db.execute(
                "INSERT INTO limits (host, cli, window, status, resets_at, utilization, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, cli, window) DO UPDATE SET status = excluded.status,"
                " resets_at = excluded.resets_at, utilization = excluded.utilization, seen_at = excluded.seen_at",
                (account.host or LOCAL, account.cli, report.window, report.status, report.resets_at,
                 report.utilization, seen_at),
            )  # fmt: skip

    def limits(self) -> dict[Account, list[LimitReport]]:
        """Every account's windows as last reported."""
        accounts: dict[Account, list[LimitReport]] = {}
        rows = self._file.reader.execute(
            "SELECT host, cli, window, status, resets_at, utilization FROM limits ORDER BY host, cli, window"
        ).fetchall()
        for host, cli, window, status, resets_at, utilization in rows:
            accounts.setdefault(Account(host or None, cli), []).append(
                LimitReport(window, status, resets_at, utilization)
            )
        return accounts

    def spent(self, since: str | None) -> Spent:
        """Since an ISO time (None: the store's whole life)."""
        row = self._file.reader.execute(
            "SELECT coalesce(sum(cost_usd), 0), count(*) - count(cost_usd) FROM spend WHERE at >= ?", (since or "",)
        ).fetchone()
        return Spent(float(row[0]), int(row[1]))
