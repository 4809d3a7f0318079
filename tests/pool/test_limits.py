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
from agent_mcp.core.rows import Account, AgentRecord, LimitReport, RunRecord
from agent_mcp.pool._limits import MAX_PAUSE_S, RESET_MARGIN_S, Limits
from agent_mcp.pool._runs import Run
from agent_mcp.pool._spending import Spending
from agent_mcp.store.database import Store

pytestmark = pytest.mark.anyio

HERE = Account(None)
"""claude's login on this machine."""


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "state", "1:1")
    yield store
    store.close()


def rejected(seconds: float | None, window: str = "five_hour") -> LimitReport:
    return LimitReport(window, "rejected", None if seconds is None else int(time.time() + seconds))


@pytest.fixture
def writes(store, monkeypatch) -> list[tuple]:
    """Every write of an account's window to the store."""
    made: list[tuple] = []
    record = store.accounts.record
    monkeypatch.setattr(store.accounts, "record", lambda *args: made.append(args) or record(*args))
    return made


@pytest.mark.attack
async def test_a_flood_of_reports_writes_only_what_changed(store, writes):
    limits = Limits(store, Settings())
    report = LimitReport("five_hour", "allowed_warning", int(time.time()) + 3600, 0.93)
    for _ in range(1000):
        await limits.observe(HERE, report)
    assert len(writes) == 1
    await limits.observe(HERE, replace(report, utilization=0.94))
    assert len(writes) == 2
    assert store.accounts.limits() == {HERE: [replace(report, utilization=0.94)]}


@pytest.mark.attack
async def test_a_reset_far_in_the_future_is_cut_to_the_longest_window(store):
    limits = Limits(store, Settings())
    await limits.observe(HERE, rejected(10**9))
    until = limits.paused_until(HERE)
    assert until is not None and until <= time.time() + MAX_PAUSE_S + RESET_MARGIN_S + 1


@pytest.mark.attack
@pytest.mark.parametrize("seconds", [-60, None])
async def test_a_reset_in_the_past_or_unknown_pauses_nothing(store, seconds):
    limits = Limits(store, Settings())
    await limits.observe(HERE, rejected(seconds))
    assert limits.paused_until(HERE) is None
    assert not limits.holds_back(HERE)
    await limits.admit(Run(agent="a", preview="m", timeout_s=None), HERE)  # returns at once


async def test_a_pause_is_its_account_s_alone(store):
    limits = Limits(store, Settings(on_rate_limit="fail"))
    await limits.observe(Account("gpu1"), rejected(60))
    await limits.admit(Run(agent="a", preview="m", timeout_s=None), HERE)
    with pytest.raises(RunFailed) as failed:
        await limits.admit(Run(agent="b", preview="m", timeout_s=None), Account("gpu1"))
    assert failed.value.kind == "rate_limited" and failed.value.resets_at is not None
    assert "the claude login of host 'gpu1'" in str(failed.value)
    await limits.admit(Run(agent="c", preview="m", timeout_s=None), Account("gpu1", "codex"))  # another login


async def test_a_new_window_lifts_the_pause_at_once_and_a_stale_report_does_not(store):
    limits = Limits(store, Settings())
    pause = rejected(3600)
    await limits.observe(HERE, pause)
    assert limits.paused_until(HERE) is not None
    # another run's call got in just before the limit: its report of the old window comes late
    await limits.observe(HERE, LimitReport("five_hour", "allowed_warning", pause.resets_at, 0.99))
    assert limits.paused_until(HERE) is not None
    await limits.observe(HERE, LimitReport("five_hour", "allowed", int(time.time()) + 18000))  # the next window
    assert limits.paused_until(HERE) is None


@pytest.mark.attack
async def test_a_flood_of_resets_far_off_writes_once(store, writes):
    limits = Limits(store, Settings())
    for offset in range(200):
        await limits.observe(HERE, rejected(10**9 + offset))
    assert len(writes) <= 2  # once, or twice when the hour turns meanwhile


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
    assert spending.remainder(agent()).usd == 0.75
    assert spending.remainder(agent(max_total_usd=0.5)).usd == 0.5  # the agent's own total is 0 in this record
    assert spending.remainder(replace(agent(max_total_usd=0.5), total_cost_usd=0.4)).usd == pytest.approx(0.1)
    await spend(store, 0.75)
    with pytest.raises(BudgetExhausted, match="AGENT_MCP_MAX_COST_USD"):
        spending.refuse_if_exhausted(agent())
    with pytest.raises(RunFailed) as failed:
        spending.budget(agent(), "r1")
    assert failed.value.kind == "budget_exhausted"


@pytest.mark.attack
async def test_runs_side_by_side_share_the_pool_s_remainder(store):
    """Each run's CLI is given what is left once the runs already going have theirs: together they
    cannot spend more than the cap."""
    spending = Spending(store, Settings(max_cost_usd=1.0, cost_window_s=0))
    first = spending.budget(agent(), "r1")
    assert first == 1.0
    with pytest.raises(RunFailed):
        spending.budget(replace(agent(), name="b"), "r2")  # nothing is left while r1 may spend it all
    spending.release("r1")
    await spend(store, 0.25)  # what r1 did spend
    assert spending.budget(agent(), "r3") == 0.75


async def test_a_run_that_ended_without_an_answer_counts_as_unknown_spend(store):
    await store.agents.add(agent())
    at = "2099-01-01T00:00:00.000+00:00"
    run = RunRecord(run_id="r1", agent="a", status="cancelled", message="m", queued_at=at, started_at=at,
                    finished_at=at)  # fmt: skip
    await store.runs.add(run)
    await store.runs.finished(run, None)
    assert Spending(store, Settings(cost_window_s=0)).spent().unknown == 1


async def test_spend_older_than_the_window_leaves_it(store):
    await spend(store, 5.0, at="2000-01-01T00:00:00.000+00:00")
    assert Spending(store, Settings(max_cost_usd=1.0, cost_window_s=86400)).budget(agent(), "r1") == 1.0
    assert Spending(store, Settings(max_cost_usd=1.0, cost_window_s=0)).remainder(agent()).usd == -4.0


@pytest.mark.attack
@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "1e400", "2000000", "ten"])
def test_a_pool_cap_that_is_no_budget_stops_start_up_naming_its_source(value):
    with pytest.raises(ValueError, match=r"^AGENT_MCP_MAX_COST_USD: must be a positive number of US dollars"):
        load_settings({}, {"AGENT_MCP_MAX_COST_USD": value})


@pytest.mark.attack
@pytest.mark.parametrize(
    ("name", "value"),
    [("AGENT_MCP_ON_RATE_LIMIT", "retry"), ("AGENT_MCP_COST_WINDOW", "-5"), ("AGENT_MCP_COST_WINDOW", "inf"),
     ("AGENT_MCP_COST_WINDOW", "1e12"), ("AGENT_MCP_MAX_RATE_LIMIT_WAIT", "nan"),
     ("AGENT_MCP_MAX_RATE_LIMIT_WAIT", "1e9")],
)  # fmt: skip
def test_a_limit_setting_out_of_its_range_stops_start_up(name, value):
    with pytest.raises(ValueError, match=f"^{name}: "):
        load_settings({}, {name: value})
