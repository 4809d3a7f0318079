"""The resources: a run's whole reply (what a cut reply links to) and the pool's state (pool_status)."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from agent_mcp.core.errors import UnknownRun
from agent_mcp.pool import replies
from agent_mcp.pool.pool import AgentPool
from agent_mcp.server._tool_results import chars_of

POOL_URI = "agent-mcp://pool"


def add_resources(server: MCPServer[AgentPool], live: list[AgentPool]) -> None:
    """`live` holds the running pool (a static resource is given no context to find it by)."""

    async def pool_state() -> str:
        if not live:  # read before the server's lifespan began, or after it ended
            raise ResourceNotFoundError("[busy] the pool is not running yet (or any more); read it again in a moment")
        return live[0].status().model_dump_json()

    server.resource(
        replies.REPLY_URI,
        name="reply",
        title="A run's whole reply",
        description="the whole reply text of a finished run (tool results cut long ones to head and tail)",
        mime_type="text/plain",
    )(whole_reply)
    server.resource(
        POOL_URI,
        name="pool",
        title="The pool's state",
        description="what pool_status returns: runs, warm processes, each account's usage limits, the spend",
        mime_type="application/json",
    )(pool_state)


async def whole_reply(run_id: str, ctx: Context[AgentPool]) -> str:
    """Errors become resource errors whose message is ours."""
    pool = ctx.request_context.lifespan_context
    try:
        info = pool.get_run(run_id)
    except UnknownRun as exc:
        raise ResourceNotFoundError(f"[unknown_run] {exc}") from None
    if info.response is None:
        raise ResourceNotFoundError(f"[invalid_input] run {run_id!r} has no reply ({info.status}); get_run says why")
    chars, most = chars_of(info.response), pool.settings.max_resource_chars
    if chars > most:
        raise ResourceNotFoundError(
            f"[policy] the reply of run {run_id!r} is {chars} characters, over the {most} this resource gives "
            f"whole (AGENT_MCP_MAX_RESOURCE_CHARS / --max-resource-chars); read it in pages with get_run(run_id, "
            "text_offset, text_limit)"
        )
    return pool.whole_text(info)
