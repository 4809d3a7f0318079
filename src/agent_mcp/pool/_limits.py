"""The accounts' usage limits, as the pool acts on them: a rejected window pauses its account until
it resets, and no run of that account starts meanwhile.

An account is one CLI's login: this machine's, and each SSH host's (its own login, its own limits). Every
window a CLI reports (a kind's Step.limit) is kept in the store, written only when it changes, so a
flood of reports costs nothing and a pause survives a restart (and is seen by a second server on the
store). With --on-rate-limit wait a run of a paused account is held, queued, until the reset (or ends
rate_limited when the reset lies beyond --max-rate-limit-wait); with fail it ends rate_limited at
once. A run the CLI rejected before the model did anything is held back the same way and runs again
after the reset (HeldBack): nothing of it happened, so nothing is sent twice.
"""

from __future__ import annotations

import logging
import time

import anyio

from agent_mcp.core.clock import iso_of, now
from agent_mcp.core.config import Settings
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.rows import Account, LimitReport
from agent_mcp.pool._runs import Run
from agent_mcp.store.database import Store

log = logging.getLogger(__name__)

MAX_PAUSE_S = 8 * 86400
"""The longest pause a report is believed for: the longest window a CLI names is seven days, so a
resetsAt further off is not one (it is cut to this, and logged)."""


RESET_MARGIN_S = 2.0
"""Held runs start this long after the reset the CLI announced: its resetsAt is whole seconds, and the
API's clock is not this machine's (a run let go at the second itself was rejected again)."""


class HeldBack(Exception):
    """The CLI rejected the run for its account's usage limit before the model did anything."""


class Limits:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._changed = anyio.Event()
        """Set (and replaced) whenever an account's state changes: held runs look again."""

    async def observe(self, account: Account, report: LimitReport) -> None:
        """A window as a run's CLI reported it: kept when it says something new. While a window is
        rejected and its reset is ahead, a report of it allowed is believed only for a later reset (a new
        window): a run whose call got in just before the limit reports allowed after another's rejection."""
        said = report.resets_at
        if said is not None and said > time.time() + MAX_PAUSE_S:
            cut = int(time.time() + MAX_PAUSE_S) // 3600 * 3600  # the same for an hour: a flood writes once
            report = LimitReport(report.window, report.status, cut, report.utilization)
        known = {r.window: r for r in self._store.accounts.limits().get(account, [])}.get(report.window)
        if known == report or (known is not None and _stale(known, report)):
            return
        if said is not None and said != report.resets_at:
            log.warning("%s: a usage-limit reset %d s away is not believed; cut to %d s", account,
                        said - time.time(), MAX_PAUSE_S)  # fmt: skip
        await self._store.accounts.record(account, report, now())
        if known is None or (known.status, known.resets_at) != (report.status, report.resets_at):
            if report.status == "rejected":
                log.warning("%s reached its %s usage limit; paused until %s", account, report.window,
                            iso_of(report.resets_at) if report.resets_at is not None else "unknown")  # fmt: skip
            self._changed.set()
            self._changed = anyio.Event()

    def paused_until(self, account: Account) -> float | None:
        """When the account's latest rejected window resets, while that is ahead (read from the store:
        another server on it may have learnt of the pause)."""
        clock = time.time()
        ends = [
            r.resets_at + RESET_MARGIN_S
            for r in self._store.accounts.limits().get(account, [])
            if r.status == "rejected" and r.resets_at is not None and r.resets_at + RESET_MARGIN_S > clock
        ]
        return max(ends, default=None)

    async def admit(self, run: Run, account: Account) -> None:
        """Returns once the run's account is not paused; a run that may not wait ends rate_limited."""
        while (until := self.paused_until(account)) is not None:
            resets_at = iso_of(until)
            if self._settings.on_rate_limit == "fail":
                raise RunFailed(
                    "rate_limited",
                    f"{account} reached its usage limit, which resets at {resets_at}; the message was not "
                    "sent (AGENT_MCP_ON_RATE_LIMIT / --on-rate-limit is fail). Send it again after that, or run the "
                    "server with --on-rate-limit wait to have such messages held until then",
                    resets_at=resets_at,
                )
            if run.held_since is None:
                run.held_since = time.monotonic()
            if until - time.time() > self._settings.max_rate_limit_wait_s - (time.monotonic() - run.held_since):
                raise RunFailed(
                    "rate_limited",
                    f"{account} reached its usage limit, which resets at {resets_at}: later than this message "
                    f"may wait ({self._settings.max_rate_limit_wait_s:g} s, AGENT_MCP_MAX_RATE_LIMIT_WAIT / "
                    "--max-rate-limit-wait). Send it again after the reset, or raise the limit",
                    resets_at=resets_at,
                )
            if run.held_until != resets_at:
                run.held_until = resets_at
                run.held_step = f"waiting for the usage limit of {account} to reset at {resets_at}"
                await run.publish(run.held_step)
            with anyio.move_on_after(until - time.time()):
                await self._changed.wait()
        run.held_until = None

    async def held_back(self, run: Run) -> None:
        """The run goes back to the head of its agent's queue, as if it had not started."""
        run.status, run.started_at = "queued", None
        await self._store.runs.held_back(run.run_id)
        log.info("run %s of %s was rejected for its usage limit before it did anything; held", run.run_id, run.agent)

    def holds_back(self, account: Account) -> bool:
        """Whether a run the CLI rejected before the model did anything goes back to wait for the reset."""
        return self._settings.on_rate_limit == "wait" and self.paused_until(account) is not None


def _stale(known: LimitReport, report: LimitReport) -> bool:
    """A report of a rejected window, whose reset is ahead, as allowed again before that reset."""
    ahead = known.resets_at is not None and known.resets_at > time.time()
    return (
        known.status == "rejected" and ahead and report.status != "rejected"
        and (report.resets_at is None or known.resets_at is None or report.resets_at <= known.resets_at)
    )  # fmt: skip
