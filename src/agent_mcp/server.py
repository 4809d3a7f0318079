"""The MCP face of the pool: thin typed tools that translate pool errors into tool errors.

The pool comes from the lifespan, so each server instance (and each in-memory test) has its own,
and its shutdown kills every claude process the pool started.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from . import __version__, validation
from .config import Settings
from .errors import AgentMCPError, InvalidInput, RunFailed
from .http_auth import StaticTokenVerifier, auth_settings
from .models import (
    EFFORTS,
    PERMISSION_MODES,
    AgentInfo,
    AgentList,
    AgentMessage,
    AgentOptions,
    AgentResponse,
    Deleted,
    RunInfo,
    RunList,
    RunWait,
)
from .pool import AgentPool
from .stream import describe_event

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Runs a pool of Claude Code agents. create_agent gives an agent a name, a role and a working
directory; send_message runs one turn of that agent's conversation and returns its reply with
usage and cost. Each agent keeps its session across messages. Messages to one agent run in order;
different agents run in parallel. For turns longer than your tool-call timeout, start_message
returns a run_id at once; get_run (with wait_s) polls or waits for it and cancel_run stops it.
To delegate to several agents at once: broadcast, then wait_runs. Agents, sessions and history
survive restarts (get_history, reset_agent, delete_agent).
"""


def _hints(title: str, *, read_only: bool, destructive: bool, idempotent: bool, open_world: bool) -> ToolAnnotations:
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


AgentName = Annotated[str, Field(description="the agent's name")]
Message = Annotated[str, Field(description="the task or reply for the agent; up to 4 MiB")]
TimeoutS = Annotated[float | None, Field(description="wall-clock limit for this message, seconds")]
RunId = Annotated[str, Field(description="the run_id from start_message")]


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Our errors carry a message meant for the caller; the SDK would hide any other exception's."""
    try:
        yield
    except AgentMCPError as exc:
        raise ToolError(str(exc)) from exc


def build_server(settings: Settings, env: dict[str, str] | None = None) -> MCPServer[AgentPool]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[AgentPool]) -> AsyncIterator[AgentPool]:
        async with AgentPool(settings, env).running() as pool:
            yield pool

    protected = settings.transport == "http" and settings.token is not None
    server: MCPServer[AgentPool] = MCPServer(
        "agent-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        token_verifier=StaticTokenVerifier(settings.token) if protected and settings.token else None,
        auth=auth_settings(settings.host, settings.port) if protected else None,
    )

    @server.tool(
        annotations=_hints("Create agent", read_only=False, destructive=False, idempotent=False, open_world=False)
    )
    async def create_agent(
        name: Annotated[str, Field(description="unique (ignoring case), 1-64 of A-Z a-z 0-9 . _ -")],
        role: Annotated[str, Field(description="who the agent is; appended to claude's system prompt")],
        cwd: Annotated[str, Field(description="absolute path of an existing directory the agent works in")],
        ctx: Context[AgentPool],
        model: Annotated[str | None, Field(description="claude model or alias, e.g. sonnet")] = None,
        permission_mode: Annotated[str | None, Field(description=f"one of {', '.join(PERMISSION_MODES)}")] = None,
        allowed_tools: Annotated[list[str] | None, Field(description="tools allowed without asking")] = None,
        disallowed_tools: Annotated[list[str] | None, Field(description="tools the agent may not use")] = None,
        max_turns: Annotated[int | None, Field(description="limit on agentic turns per message")] = None,
        max_budget_usd: Annotated[float | None, Field(description="spending limit per message, USD")] = None,
        add_dirs: Annotated[list[str] | None, Field(description="more absolute directories it may use")] = None,
        mcp_config: Annotated[
            dict[str, Any] | str | None,
            Field(description='MCP servers for the agent: {"mcpServers": {...}} or the absolute path of such a file'),
        ] = None,
        effort: Annotated[str | None, Field(description=f"one of {', '.join(EFFORTS)}")] = None,
        worktree: Annotated[
            bool, Field(description="work in its own git worktree and branch of the repository at cwd")
        ] = False,
    ) -> AgentInfo:
        """Create a named Claude Code agent with a role and a working directory. Its first message
        starts a session; later messages continue it."""
        options = AgentOptions(
            model=model,
            permission_mode=permission_mode,
            allowed_tools=allowed_tools,
            disallowed_tools=disallowed_tools,
            max_turns=max_turns,
            max_budget_usd=max_budget_usd,
            add_dirs=add_dirs,
            mcp_config=mcp_config,
            effort=effort,
        )
        with _as_tool_errors():
            return await ctx.request_context.lifespan_context.create(name, role, cwd, options, worktree)

    @server.tool(
        annotations=_hints("List agents", read_only=True, destructive=False, idempotent=True, open_world=False)
    )
    async def list_agents(ctx: Context[AgentPool]) -> AgentList:
        """List every agent, sorted by name, with its status (idle or running), queued messages,
        session, message count and totals of cost and tokens."""
        listing = ctx.request_context.lifespan_context.listing()
        # Compact JSON for the text copy (the SDK's own is indented: a third larger for a model to
        # read); the SDK still checks structuredContent against AgentList.
        text = TextContent(type="text", text=listing.json)
        return CallToolResult(content=[text], structured_content=listing.data)  # type: ignore[return-value]

    @server.tool(
        annotations=_hints("Send message", read_only=False, destructive=True, idempotent=False, open_world=True)
    )
    async def send_message(
        agent: AgentName,
        message: Message,
        ctx: Context[AgentPool],
        timeout_s: TimeoutS = None,
    ) -> AgentResponse:
        """Send a message to an agent and wait for its reply (one turn of its conversation). Returns
        the reply text, session id, model, token usage, cost and any error the CLI reported.
        Messages to one agent queue in order; different agents run in parallel. Sends progress
        notifications while it works when the request carries a progress token."""
        progress = _ProgressRelay(ctx)
        with _as_tool_errors():
            try:
                return await ctx.request_context.lifespan_context.send(agent, message, timeout_s, progress)
            except RunFailed as failure:
                # The text must start with "[<error_kind>] " for programs to branch on, which a
                # ToolError cannot do (the SDK puts "Error executing tool …" before its message).
                return CallToolResult(content=[TextContent(type="text", text=str(failure))], is_error=True)  # type: ignore[return-value]

    @server.tool(
        annotations=_hints("Start message", read_only=False, destructive=True, idempotent=False, open_world=True)
    )
    async def start_message(
        agent: AgentName,
        message: Message,
        ctx: Context[AgentPool],
        timeout_s: TimeoutS = None,
    ) -> RunInfo:
        """Queue a message for an agent and return at once with a run handle (run_id, status queued or
        running, position in the agent's queue). For work longer than your client's tool timeout:
        poll it with get_run, stop it with cancel_run."""
        pool = ctx.request_context.lifespan_context
        with _as_tool_errors():
            return pool.run_info(pool.start(agent, message, timeout_s))

    @server.tool(annotations=_hints("Get run", read_only=True, destructive=False, idempotent=True, open_world=False))
    async def get_run(
        run_id: RunId,
        ctx: Context[AgentPool],
        wait_s: Annotated[float, Field(description="seconds to wait for it to finish (0: answer now)")] = 0,
    ) -> RunInfo:
        """The status of a run; once finished, its AgentResponse (or the error that left it without
        one). Waits up to wait_s for it to finish, sending progress meanwhile."""
        pool = ctx.request_context.lifespan_context
        with _as_tool_errors():
            return await pool.wait_run(run_id, validation.check_wait(wait_s), _ProgressRelay(ctx))

    @server.tool(annotations=_hints("Cancel run", read_only=False, destructive=True, idempotent=True, open_world=False))
    async def cancel_run(
        run_id: RunId,
        ctx: Context[AgentPool],
    ) -> RunInfo:
        """Cancel a queued or running run: a queued one leaves its agent's queue, a running one has its
        claude process killed. The agent keeps its session. A finished run is returned unchanged."""
        pool = ctx.request_context.lifespan_context
        with _as_tool_errors():
            return await pool.cancel(run_id)

    @server.tool(annotations=_hints("Broadcast", read_only=False, destructive=True, idempotent=False, open_world=True))
    async def broadcast(
        ctx: Context[AgentPool],
        agents: Annotated[list[str] | None, Field(description="agents that each get `message`")] = None,
        message: Annotated[str | None, Field(description="the message for every agent in `agents`")] = None,
        messages: Annotated[list[AgentMessage] | None, Field(description="or: a different message per agent")] = None,
        timeout_s: Annotated[float | None, Field(description="wall-clock limit for each message")] = None,
    ) -> RunList:
        """Start one run per agent at once (fan-out) and return their run handles; wait for them with
        wait_runs. Give `agents` and one `message`, or `messages` as [{agent, message}]. An unknown agent
        or bad message refuses the whole call before anything starts."""
        pool = ctx.request_context.lifespan_context
        with _as_tool_errors():
            runs = pool.broadcast(_fan_out(agents, message, messages), timeout_s)
            return RunList(runs=[pool.run_info(run) for run in runs])

    @server.tool(
        annotations=_hints("Wait for runs", read_only=True, destructive=False, idempotent=True, open_world=False)
    )
    async def wait_runs(
        run_ids: Annotated[list[str], Field(description="the runs to wait for")],
        ctx: Context[AgentPool],
        mode: Annotated[
            Literal["all", "any"], Field(description="all: until every run is done; any: the first")
        ] = "all",
        wait_s: Annotated[float | None, Field(description="give up waiting after this many seconds")] = None,
    ) -> RunWait:
        """Wait until all (or any) of the runs have finished, sending progress meanwhile; returns every
        run's RunInfo (with its AgentResponse when finished) and done=false if wait_s ran out first."""
        pool = ctx.request_context.lifespan_context
        with _as_tool_errors():
            seconds = None if wait_s is None else validation.check_wait(wait_s)
            runs, done = await pool.wait_runs(run_ids, mode, seconds, _ProgressRelay(ctx).for_agent)
            return RunWait(runs=runs, done=done)

    @server.tool(
        annotations=_hints("Agent history", read_only=True, destructive=False, idempotent=True, open_world=False)
    )
    async def get_history(
        agent: AgentName,
        ctx: Context[AgentPool],
        limit: Annotated[int, Field(description="how many runs, 1-1000")] = 20,
    ) -> RunList:
        """An agent's runs, newest first: message, status, reply and usage, error, times. Kept across
        server restarts."""
        with _as_tool_errors():
            return RunList(runs=ctx.request_context.lifespan_context.history(agent, limit))

    @server.tool(
        annotations=_hints("Delete agent", read_only=False, destructive=True, idempotent=False, open_world=False)
    )
    async def delete_agent(
        name: AgentName,
        ctx: Context[AgentPool],
        force: Annotated[bool, Field(description="cancel its queued and running messages first")] = False,
    ) -> Deleted:
        """Delete an agent and its history. Refused while it has messages queued or running, unless
        force=true, which cancels them first. Its claude sessions stay on disk."""
        with _as_tool_errors():
            return Deleted(deleted=await ctx.request_context.lifespan_context.delete(name, force))

    @server.tool(
        annotations=_hints("Reset agent", read_only=False, destructive=True, idempotent=True, open_world=False)
    )
    async def reset_agent(
        name: AgentName,
        ctx: Context[AgentPool],
    ) -> AgentInfo:
        """Forget the agent's session: its next message starts a new conversation. Keeps its role,
        options, history and totals. Refused while a message is queued or running."""
        with _as_tool_errors():
            return ctx.request_context.lifespan_context.reset(name)

    return server


def _fan_out(
    agents: list[str] | None, message: str | None, messages: list[AgentMessage] | None
) -> list[tuple[str, str]]:
    if messages is not None and (agents is not None or message is not None):
        raise InvalidInput("give either agents and message, or messages, not both")
    if messages is not None:
        pairs = [(m.agent, m.message) for m in messages]
    elif agents is not None and message is not None:
        pairs = [(agent, message) for agent in agents]
    else:
        raise InvalidInput("give agents and message (one message for every agent), or messages ([{agent, message}])")
    if not pairs:
        raise InvalidInput("no agents given; name at least one")
    return pairs


class _ProgressRelay:
    """Turns stream events into progress notifications (a no-op without a progress token)."""

    def __init__(self, ctx: Context[AgentPool]) -> None:
        self._ctx = ctx
        self._count = 0

    async def __call__(self, event: dict[str, Any], prefix: str = "") -> None:
        message = describe_event(event)
        if message is None:
            return
        self._count += 1
        await self._ctx.report_progress(self._count, None, prefix + message)

    def for_agent(self, agent: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """One relay for many runs: the count stays monotonic and each line names its agent."""

        async def relay(event: dict[str, Any]) -> None:
            await self(event, f"{agent}: ")

        return relay
