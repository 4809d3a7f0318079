"""The pool's state as pool_status (and the resource agent-mcp://pool) shows it: small enough to read
often, since every byte lands in the caller's context."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from agent_mcp.core.models import Lean


class LimitWindow(Lean):
    ALWAYS: ClassVar[frozenset[str]] = frozenset({"type", "status", "resets_at"})

    type: str = Field(description="the usage-limit window, e.g. five_hour, seven_day")
    status: str = Field(description="allowed | allowed_warning | rejected")
    resets_at: str | None = Field(description="ISO 8601, UTC")
    utilization: float | None = Field(default=None, description="the share of the window used, when reported")


class AccountStatus(BaseModel):
    host: str | None = Field(description="the SSH host whose login it is; null: this machine's")
    cli: str = Field(description="the agent CLI whose login it is (each has its own limits)")
    paused_until: str | None = Field(
        description="while the account is past its usage limit: when it resets (ISO 8601, UTC); its runs wait "
        "(--on-rate-limit wait) or fail until then"
    )
    windows: list[LimitWindow] = Field(description="as its CLI last reported them (subscription logins report them)")


class SpendStatus(Lean):
    ALWAYS: ClassVar[frozenset[str]] = frozenset({"cost_usd", "max_cost_usd", "window_s"})

    cost_usd: float = Field(description="what the pool spent over the window, USD")
    max_cost_usd: float | None = Field(description="the cap (--max-cost-usd); null: none")
    window_s: float = Field(description="the rolling window, in seconds; 0: the store's whole life")
    unknown_cost_runs: int = Field(default=0, description="runs in the window whose CLI reports no cost")


class PoolStatus(BaseModel):
    running: int = Field(description="runs running now (waiting for a permission answer included)")
    queued: int = Field(description="runs waiting for their turn (held for a usage limit included)")
    warm: int = Field(description="idle agent processes kept for their agent's next message")
    accounts: list[AccountStatus]
    spend: SpendStatus
