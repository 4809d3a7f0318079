"""A run's transcript as it happens (pool/_turn.py writes each turn's steps through it)."""

from __future__ import annotations

import logging

import anyio

from agent_mcp.core.clock import now
from agent_mcp.core.rows import Entry
from agent_mcp.store.database import Store

log = logging.getLogger(__name__)


class Notes:
    """The run's transcript as it happens: entries written a batch every FLUSH_S while the turn
    goes on (so a chatty run does not make a write of every line, and the last step before a quiet
    spell, a long tool or a permission request, shows at once), and the rest when it ends."""

    FLUSH_S = 0.2

    def __init__(self, store: Store, run_id: str, most: int) -> None:
        self.store, self.run_id, self.most = store, run_id, most
        self.entries: list[Entry] = []

    def add(self, entries: list[Entry]) -> None:
        self.entries += entries

    async def flush(self) -> None:
        if self.entries:
            entries, self.entries = self.entries, []
            await self.store.events.add(self.run_id, now(), entries, self.most)

    async def keep_flushing(self) -> None:
        while True:
            await anyio.sleep(self.FLUSH_S)
            try:
                await self.flush()
            except Exception:  # the turn goes on without its transcript rather than fail
                log.exception("could not write the transcript of run %s", self.run_id)
