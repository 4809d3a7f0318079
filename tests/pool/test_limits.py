"""The accounts' usage limits as the pool keeps them, attacked as a misbehaving CLI would: a flood of
reports, a reset far in the future or in the past, a rejection without a reset, another account's
pause; and the spending caps attacked with what is spent, unknown costs included."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from agent_mcp.core.config import Settings, load_settings
from agent_mcp.core.errors import BudgetExhausted, RunFailed
from agent_mcp.core.models import AgentOptions, AgentResponse
from agent_mcp.core.rows import AgentRecord, LimitReport, RunRecord
from agent_mcp.pool._limits import MAX_PAUSE_S, RESET_MARGIN_S, Limits
from agent_mcp.pool._runs import Run
from agent_mcp.pool._spending import Spending
from agent_mcp.store.database import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "state", "1:1")
    yield store
    store.close()


def rejected(seconds: float | None, window: str = "five_hour") -> LimitReport:
    return LimitReport(window, "rejected", None if seconds is None else int(time.time() + seconds))


@pytest.mark.attack
async def test_a_flood_of_reports_writes_only_what_changed(store, monkeypatch):
    limits = Limits(store, Settings())
    writes = []
    record = store.accounts.record
    monkeypatch.setattr(store.accounts, "record", lambda *args: writes.append(args) or record(*args))
    report = LimitReport("five_hour", "allowed_warning", int(time.time()) + 3600, 0.93)
    for _ in range(1000):
        await limits.observe(None, report)
    assert len(writes) == 1
    await limits.observe(None, replace(report, utilization=0.94))
    assert len(writes) == 2
    assert store.accounts.limits() == {None: [replace(report, utilization=0.94)]}


@pytest.mark.attack
async def test_a_reset_far_in_the_future_is_cut_to_the_longest_window(store):
    limits = Limits(store, Settings())
    await limits.observe(None, rejected(10**9))
    until = limits.paused_until(None)
    assert until is not None and until <= time.time() + MAX_PAUSE_S + RESET_MARGIN_S + 1


@pytest.mark.attack
@pytest.mark.parametrize("seconds", [-60, None])
async def test_a_reset_in_the_past_or_unknown_pauses_nothing(store, seconds):
    limits = Limits(store, Settings())
    await limits.observe(None, rejected(seconds))
    assert limits.paused_until(None) is None
    assert not limits.holds_back(None)
    await limits.admit(Run(agent="a", preview="m", timeout_s=None), None)  # returns at once


async def test_a_pause_is_its_account_s_alone(store):
    limits = Limits(store, Settings(on_rate_limit="fail"))
    await limits.observe("gpu1", rejected(60))
    await limits.admit(Run(agent="a", preview="m", timeout_s=None), None)
    with pytest.raises(RunFailed) as failed:
        await limits.admit(Run(agent="b", preview="m", timeout_s=None), "gpu1")
    assert failed.value.kind == "rate_limited" and failed.value.resets_at is not None
    assert "host 'gpu1'" in str(failed.value)


async def test_a_later_allowed_report_lifts_the_pause_at_once(store):
    limits = Limits(store, Settings())
    await limits.observe(None, rejected(3600))
    assert limits.paused_until(None) is not None
    await limits.observe(None, LimitReport("five_hour", "allowed", int(time.time()) + 18000))
    assert limits.paused_until(None) is None


def agent(**options) -> AgentRecord:
    return AgentRecord("a", "r", "/tmp", AgentOptions(**options), "2026-01-01T00:00:00.000+00:00")


async def spend(store: Store, cost: float | None, at: str = "2099-01-01T00:00:00.000+00:00") -> None:
    if store.agents.get("a") is None:
        await store.agents.add(agent())
    counts = dict.fromkeys(["input_tokens", "output_tokens", "cache_creation_input_tokens"], 0)
    counts["cache_read_input_tokens"] = 0
    response = AgentResponse(agent="a", text="", session_id=None, model=None, api_key_source=None, cost_usd=cost,
                             duration_ms=None, num_turns=None, is_error=False, error=None, subtype="success",
                             **counts)  # fmt: skip
    run = RunRecord(run_id=f"r{time.monotonic_ns()}", agent="a", status="done", message="m", queued_at=at,
                    finished_at=at, response=response)  # fmt: skip
    await store.runs.add(run)
    await store.runs.finished(run, None)


async def test_the_smaller_remainder_is_the_budget_and_unknown_costs_are_not_zero(store):
    spending = Spending(store, Settings(max_cost_usd=1.0, cost_window_s=0))
    await spend(store, 0.25)
    await spend(store, None)
    assert spending.spent().cost_usd == 0.25 and spending.spent().unknown == 1
    assert spending.budget(agent()) == 0.75
    assert spending.budget(agent(max_total_usd=0.5)) == 0.5  # the agent's own total is 0 in this record
    assert spending.budget(replace(agent(max_total_usd=0.5), total_cost_usd=0.4)) == pytest.approx(0.1)
    await spend(store, 0.75)
    with pytest.raises(BudgetExhausted, match="AGENT_MCP_MAX_COST_USD"):
        spending.refuse_if_exhausted(agent())
    with pytest.raises(RunFailed) as failed:
        spending.budget(agent())
    assert failed.value.kind == "budget_exhausted"


async def test_spend_older_than_the_window_leaves_it(store):
    await spend(store, 5.0, at="2000-01-01T00:00:00.000+00:00")
    assert Spending(store, Settings(max_cost_usd=1.0, cost_window_s=86400)).budget(agent()) == 1.0
    assert Spending(store, Settings(max_cost_usd=1.0, cost_window_s=0)).remainder(agent()).usd == -4.0


@pytest.mark.attack
@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "1e400", "2000000", "ten"])
def test_a_pool_cap_that_is_no_budget_stops_start_up_naming_its_source(value):
    with pytest.raises(ValueError, match=r"^AGENT_MCP_MAX_COST_USD: must be a positive number of US dollars"):
        load_settings({}, {"AGENT_MCP_MAX_COST_USD": value})


@pytest.mark.attack
@pytest.mark.parametrize(("name", "value"), [("AGENT_MCP_ON_RATE_LIMIT", "retry"), ("AGENT_MCP_COST_WINDOW", "-5")])
def test_a_limit_setting_out_of_its_range_stops_start_up(name, value):
    with pytest.raises(ValueError, match=f"^{name}: "):
        load_settings({}, {name: value})
