"""Asking the server that owns a run to act on it: cancel it, or answer its permission request.

A run belongs to the server that started it (its process, its turn). Another server on the same
state directory (a second editor window) asks through the store: a row in `commands` addressed to
the run's owner. Every server watches for rows addressed to it (an indexed read every POLL_S, only
when the store changed), carries each out as if its own caller had asked, and writes the outcome in
the same row, where the asker reads it: the same result, or the same refusal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from agent_mcp.core.clock import now
from agent_mcp.core.errors import AgentMCPError, Busy, InvalidInput
from agent_mcp.core.models import PersonOrCaller
from agent_mcp.core.rows import Command
from agent_mcp.store.database import Store

log = logging.getLogger(__name__)

POLL_S = 0.2
ACT_WAIT_S = 10.0
"""How long an asker waits for the owning server to act before it says that server did not."""


class Relayed(AgentMCPError):
    """The owning server's refusal, as it gave it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Actions:
    """What another server may ask of a run of this one: the pool's own cancel and answer."""

    cancel: Callable[[str], Awaitable[object]]
    answer: Callable[[str, str, str, str | None, PersonOrCaller], Awaitable[object]]

    async def carry_out(self, command: Command) -> None:
        """Done as if this server's caller had asked: the same result, the same refusals."""
        if command.action == "cancel":
            await self.cancel(command.run_id)
        elif command.action == "answer":
            payload = command.payload
            by: PersonOrCaller = "dashboard" if payload.get("by") == "dashboard" else "answer_permission"
            await self.answer(
                command.run_id, str(payload["request_id"]), str(payload["decision"]), payload.get("message"), by
            )
        else:
            raise InvalidInput(f"unknown command {command.action!r}")


async def carry_out(store: Store, owner: str, execute: Callable[[Command], Awaitable[None]]) -> None:
    """Forever: the commands addressed to this server, each carried out once and answered."""
    mark = None
    while True:
        current = store.file.change_mark()
        if current != mark:
            mark = current
            for command in store.commands.addressed_to(owner):
                kind, message = "", ""
                try:
                    await execute(command)
                except AgentMCPError as exc:
                    kind, message = exc.kind, str(exc)
                except Exception as exc:  # a bug of ours: the asker hears of it, the watcher goes on
                    log.exception("command %d (%s of run %s) failed", command.id, command.action, command.run_id)
                    kind, message = "internal", f"{type(exc).__name__}: {exc}"
                await store.commands.done(command.id, kind, message)
        await anyio.sleep(POLL_S)


async def ask_owner(store: Store, run_id: str, owner: str, action: str, payload: dict[str, Any]) -> None:
    """Ask the run's owner to act, and wait until it has (its refusal is raised here)."""
    command_id = await store.commands.add(run_id, owner, action, json.dumps(payload), now())
    try:
        with anyio.move_on_after(ACT_WAIT_S):
            while (outcome := store.commands.outcome(command_id)) is None:
                await anyio.sleep(POLL_S / 2)
    finally:
        with anyio.CancelScope(shield=True):
            await store.commands.drop(command_id)  # done, or given up: either way nobody reads it again
    if outcome is None:
        pid = owner.partition(":")[0]
        raise Busy(
            f"the agent-mcp server running run {run_id!r} (pid {pid}, on the same state directory) did not act on it "
            f"within {ACT_WAIT_S:g} s; try again, or act on it in that server"
        )
    kind, message = outcome
    if kind:
        raise Relayed(kind, message)
