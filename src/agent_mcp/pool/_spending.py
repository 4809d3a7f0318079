"""Spending caps: the pool's spend over a rolling window (--max-cost-usd, --cost-window) and an agent's
lifetime total (create_agent's max_total_usd).

A message sent once a cap is reached is refused (BudgetExhausted); a run whose turn comes once it is
reached ends budget_exhausted without starting; any other run's CLI is given the smaller remainder as
its own budget (when its kind takes one), so the CLI itself stops at the cap. Spend is the store's
ledger (runs.finished writes it), which outlives pruned runs and deleted agents; a run whose CLI
reports no cost is counted as unknown, never as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_mcp.core.clock import ago
from agent_mcp.core.config import Settings
from agent_mcp.core.errors import BudgetExhausted, RunFailed
from agent_mcp.core.rows import AgentRecord
from agent_mcp.store.database import Spent, Store


@dataclass(frozen=True)
class Remainder:
    usd: float
    cap: str
    """The cap that leaves the least, in words that say how to raise it."""


class Spending:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._reserved: dict[str, float] = {}
        """What each running run of this server may still spend (its CLI's budget): runs side by side
        share the pool's remainder rather than each get all of it."""

    def spent(self) -> Spent:
        """The pool's spend over its window (the store's whole life for a window of 0)."""
        window = self._settings.cost_window_s
        return self._store.accounts.spent(ago(window) if window > 0 else None)

    def remainder(self, agent: AgentRecord) -> Remainder | None:
        """The least any cap on this agent leaves; None when no cap applies."""
        left: list[Remainder] = []
        cap = self._settings.max_cost_usd
        if cap is not None:
            window = self._settings.cost_window_s
            over = f"over the last {window:g} s" if window > 0 else "over the store's whole life"
            in_flight = sum(self._reserved.values())
            left.append(Remainder(cap - self.spent().cost_usd - in_flight, f"the pool's cap of ${cap:g} {over} "
                                  "(AGENT_MCP_MAX_COST_USD / --max-cost-usd, AGENT_MCP_COST_WINDOW / --cost-window): "
                                  "raise it, or wait for earlier spend to leave the window"))  # fmt: skip
        total = agent.options.max_total_usd
        if total is not None:
            left.append(Remainder(total - agent.total_cost_usd, f"agent {agent.name!r}'s max_total_usd of ${total:g} "
                                  "(it has spent that much): create another agent for more work"))  # fmt: skip
        return min(left, key=lambda r: r.usd, default=None)

    def refuse_if_exhausted(self, agent: AgentRecord) -> None:
        """At send time: a message that could only end budget_exhausted is refused before it queues."""
        left = self.remainder(agent)
        if left is not None and left.usd <= 0:
            raise BudgetExhausted(f"nothing is left of {left.cap}; the message was not sent")

    def budget(self, agent: AgentRecord, run_id: str) -> float | None:
        """At run time: what the run may spend (None: no cap), held for it until release(run_id); or the
        run ends budget_exhausted."""
        left = self.remainder(agent)
        if left is None:
            return None
        if left.usd <= 0:
            raise RunFailed("budget_exhausted", f"nothing is left of {left.cap}; the message was not sent")
        if self._settings.max_cost_usd is not None:
            self._reserved[run_id] = left.usd
        return left.usd

    def release(self, run_id: str) -> None:
        """The run has ended: what it spent is in the ledger now."""
        self._reserved.pop(run_id, None)
