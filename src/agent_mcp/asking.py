"""Asking the person behind the MCP client about an agent's permission request (elicitation).

Only a client that declared the elicitation capability is asked, through the call that waits on
the run (send_message, get_run or wait_runs with a wait); any other caller sees the run's status
`waiting_permission` and answers with answer_permission.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from .models import PendingPermission
from .permissions import Answer, Asker

SHOWN_INPUT_CHARS = 4000


class PermissionForm(BaseModel):
    decision: Literal["allow", "allow_always", "deny"] = Field(
        description="allow once; allow_always: this tool for this agent from now on; deny"
    )
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
        result = await ctx.elicit(question(agent, pending), PermissionForm)
        if result.action == "accept":
            form = result.data
            return Answer(form.decision, "elicitation", (form.message or None) if form.decision == "deny" else None)
        if result.action == "decline":
            return Answer("deny", "elicitation", None)
        return None  # dismissed: it waits for answer_permission, or its timeout

    return ask
