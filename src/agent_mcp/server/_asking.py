"""Asking the person behind the MCP client about an agent's permission request (elicitation).

Only a client that declared the elicitation capability is asked, through the call that waits on
the run (send_message, get_run or wait_runs with a wait); any other caller sees the run's status
`waiting_permission` and answers with answer_permission.

An answer that cannot be read (a decision that is none of the three, a field missing or of the wrong
type, a reply outside the protocol) is no answer: the person is asked once more, saying what was
wrong, and a second such answer denies the request with a message that says why. Neither leaves the
run waiting out the permission timeout for a person who did answer.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field, ValidationError

from agent_mcp.core.models import Decision, PendingPermission
from agent_mcp.pool.permissions import Answer, Asker

SHOWN_INPUT_CHARS = 4000

ASKS = 2
"""How many times a person is asked about one request when their answers cannot be read."""


class PermissionForm(BaseModel):
    decision: Decision = Field(description="allow once; allow_always: this tool for this agent from now on; deny")
    message: str = Field(default="", description="with deny: what to tell the agent (optional)")


def question(agent: str, pending: PendingPermission) -> str:
    shown = json.dumps(pending.input, ensure_ascii=False, indent=1)
    if len(shown) > SHOWN_INPUT_CHARS:
        shown = shown[:SHOWN_INPUT_CHARS] + "…"
    return f"Agent {agent!r} asks to use {pending.tool_name}: {pending.summary}\n\n{shown}"


def asker(ctx: Context[Any]) -> Asker | None:
    """The caller's person, when its client can be asked; None otherwise."""
    session = ctx.session
    capabilities = session.client_capabilities
    if capabilities is None or capabilities.elicitation is None or not session.can_send_request:
        return None

    async def ask(agent: str, pending: PendingPermission) -> Answer | None:
        wrong = ""
        for _ in range(ASKS):
            again = f"Your answer could not be read ({wrong}); please answer again.\n\n" if wrong else ""
            try:
                result = await ctx.elicit(again + question(agent, pending), PermissionForm)
            except ValueError as exc:  # the content does not fit the form, or the reply the protocol
                wrong = what_was_wrong(exc)
                continue
            if result.action == "accept":
                form = result.data
                return Answer(form.decision, "elicitation", (form.message or None) if form.decision == "deny" else None)
            if result.action == "decline":
                return Answer("deny", "elicitation", None)
            return None  # dismissed: it waits for answer_permission, or its timeout
        return Answer(
            "deny",
            "elicitation",
            f"The person was asked {ASKS} times and their answer could not be read ({wrong}), so it is denied.",
        )

    return ask


def what_was_wrong(exc: ValueError) -> str:
    """Which fields, and how (never their values: the person knows them, the agent need not)."""
    cause = exc if isinstance(exc, ValidationError) else exc.__cause__
    if not isinstance(cause, ValidationError):
        return str(exc)
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the answer'}: {e['msg']}" for e in cause.errors()[:3])
