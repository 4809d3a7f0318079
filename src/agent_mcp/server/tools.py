"""The MCP face of the pool: thin typed tools that translate pool errors into tool errors.

The tools are plain module-level functions registered from one table (TOOLS) with their hints.
The pool comes from the lifespan, so each server instance (and each in-memory test) has its own,
and its shutdown kills every claude process the pool started.
"""

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from agent_mcp import __version__
from agent_mcp.core import validation
from agent_mcp.core.config import Settings
from agent_mcp.core.models import (
    EFFORTS,
    PERMISSION_MODES,
    AgentInfo,
    AgentList,
    AgentMessage,
    AgentOptions,
    AgentResponse,
    Decision,
    Deleted,
    HistoryPage,
    RunEntry,
    RunInfo,
    RunList,
    RunWait,
    TranscriptPage,
)
from agent_mcp.core.status import PoolStatus
from agent_mcp.pool import replies
from agent_mcp.pool.pool import AgentPool
from agent_mcp.server import _asking as asking
from agent_mcp.server._progress import ProgressRelay
from agent_mcp.server._refusals import CheckingServer, translating_errors
from agent_mcp.server._resources import add_resources
from agent_mcp.server._tool_results import compact, with_replies
from agent_mcp.web.auth import StaticTokenVerifier, auth_settings

log = logging.getLogger(__name__)

HISTORY_PREVIEW = 500
"""get_history shows this much of each message and reply unless full=true."""

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
TimeoutS = Annotated[float | None, Field(strict=True, description="wall-clock limit for this message, seconds")]
RunId = Annotated[str, Field(description="the run_id from start_message")]


def _pool(ctx: Context[AgentPool]) -> AgentPool:
    return ctx.request_context.lifespan_context


def _limit(ctx: Context[AgentPool]) -> int:
    return _pool(ctx).settings.max_reply_chars


async def create_agent(
    name: Annotated[str, Field(description="unique (ignoring case), 1-64 of A-Z a-z 0-9 . _ -")],
    role: Annotated[
        str, Field(description="who the agent is; given to its CLI as instructions (claude's system prompt)")
    ],
    cwd: Annotated[str, Field(description="absolute path of an existing directory the agent works in")],
    ctx: Context[AgentPool],
    model: Annotated[
        str | None, Field(description="the CLI's model or alias, e.g. sonnet (claude), gpt-5 (codex)")
    ] = None,
    permission_mode: Annotated[str | None, Field(description=f"one of {', '.join(PERMISSION_MODES)}")] = None,
    allowed_tools: Annotated[list[str] | None, Field(description="tools allowed without asking")] = None,
    disallowed_tools: Annotated[list[str] | None, Field(description="tools the agent may not use")] = None,
    max_turns: Annotated[int | None, Field(strict=True, description="limit on agentic turns per message")] = None,
    max_budget_usd: Annotated[float | None, Field(strict=True, description="spending limit per message, USD")] = None,
    add_dirs: Annotated[list[str] | None, Field(description="more absolute directories it may use")] = None,
    mcp_config: Annotated[
        dict[str, Any] | str | None,
        Field(description='MCP servers for the agent: {"mcpServers": {...}} or the absolute path of such a file'),
    ] = None,
    effort: Annotated[str | None, Field(description=f"one of {', '.join(EFFORTS)}")] = None,
    max_total_usd: Annotated[
        float | None, Field(strict=True, description="most the agent may spend over its whole life, USD")
    ] = None,
    worktree: Annotated[
        bool, Field(description="work in its own git worktree and branch of the repository at cwd")
    ] = False,
    host: Annotated[
        str | None,
        Field(
            description="run it on this SSH host (one the server lists in --hosts; cwd is then a path there, ~/ "
            "its login's home), or "
            "'auto' for the listed host with the most free slots; omitted: this machine"
        ),
    ] = None,
    sandbox: Annotated[
        bool | None,
        Field(
            description="run its CLI in a bubblewrap box that sees only its own directories (cwd, add_dirs, worktree, "
            "the CLI's state) and writes only there; omitted: the server's default (--sandbox)"
        ),
    ] = None,
    cli: Annotated[
        str,
        Field(
            description="the agent CLI to run: claude, codex or gemini (docs/agent-kinds.md); an option that CLI "
            "has no flag for is refused"
        ),
    ] = "claude",
) -> AgentInfo:
    """Create a named coding agent (Claude Code by default; Codex or Gemini with cli) with a role and a
    working directory. Its first message starts a session; later messages continue it."""
    given = locals()
    options = AgentOptions(**{field: given[field] for field in AgentOptions.model_fields})
    return await _pool(ctx).create(name, role, cwd, options, worktree, host, sandbox, cli)


async def list_agents(
    ctx: Context[AgentPool],
    status: Annotated[
        Literal["idle", "running", "waiting_permission", "queued"] | None,
        Field(description="only agents idle, running, waiting for a permission answer, or with messages queued"),
    ] = None,
    name_prefix: Annotated[str | None, Field(description="only agents whose name starts so (ignoring case)")] = None,
    limit: Annotated[int, Field(strict=True, description="agents per page, 1-1000")] = 50,
    cursor: Annotated[str | None, Field(description="next_cursor of the page before")] = None,
    cli: Annotated[str | None, Field(description="only agents running this CLI: claude, codex or gemini")] = None,
) -> Annotated[CallToolResult, AgentList]:
    """List the agents, sorted by name, a page at a time, each in summary: status (idle or
    running), queued messages, session, message count, the first 200 characters of its role, and
    totals of cost and tokens once there are any (get_agent gives one agent whole). total counts
    every match; next_cursor is null on the last page."""
    listing = await _pool(ctx).listing(status, name_prefix, limit, cursor, cli)
    return compact(listing.data, listing.json)


async def get_agent(name: AgentName, ctx: Context[AgentPool]) -> AgentInfo:
    """One agent whole: its role, options, state and totals."""
    return await _pool(ctx).info(name)


async def send_message(
    agent: AgentName,
    message: Message,
    ctx: Context[AgentPool],
    timeout_s: TimeoutS = None,
) -> Annotated[CallToolResult, AgentResponse]:
    """Send a message to an agent and wait for its reply (one turn of its conversation). Returns
    the reply text, session id, model, token usage, cost and any error the CLI reported.
    Messages to one agent queue in order; different agents run in parallel. Sends progress
    notifications while it works when the request carries a progress token."""
    response = replies.clip(
        await _pool(ctx).send(agent, message, timeout_s, ProgressRelay(ctx), asking.asker(ctx)), _limit(ctx)
    )
    return with_replies(response, [(response.run_id, response)], _pool(ctx).settings.max_resource_chars)


async def start_message(
    agent: AgentName,
    message: Message,
    ctx: Context[AgentPool],
    timeout_s: TimeoutS = None,
) -> RunInfo:
    """Queue a message for an agent and return at once with a run handle (run_id, status queued or
    running, position in the agent's queue). For work longer than your client's tool timeout:
    poll it with get_run, stop it with cancel_run."""
    pool = _pool(ctx)
    return pool.run_info(await pool.start(agent, message, timeout_s))


async def get_run(
    run_id: RunId,
    ctx: Context[AgentPool],
    wait_s: Annotated[float, Field(strict=True, description="seconds to wait for it to finish (0: answer now)")] = 0,
    text_offset: Annotated[
        int | None, Field(strict=True, description="read the reply from this character on (for a reply cut in results)")
    ] = None,
    text_limit: Annotated[
        int | None,
        Field(strict=True, description="with text_offset: how many characters (default and most: max reply chars)"),
    ] = None,
    message_offset: Annotated[
        int | None, Field(strict=True, description="read the message from this character on (message_truncated)")
    ] = None,
    message_limit: Annotated[
        int | None,
        Field(strict=True, description="with message_offset: how many characters (default and most: max reply chars)"),
    ] = None,
) -> Annotated[CallToolResult, RunInfo]:
    """The status of a run; once finished, its AgentResponse (or the error that left it without
    one). Waits up to wait_s for it to finish, sending progress meanwhile. A long reply comes cut
    to its head and tail; text_offset and text_limit read any part of it (message_offset and
    message_limit the same for a message cut to its first 2000 characters)."""
    pool = _pool(ctx)
    limit = pool.settings.max_reply_chars
    text_window = validation.check_window("text", text_offset, text_limit, limit)
    message_window = validation.check_window("message", message_offset, message_limit, limit)
    info = await pool.wait_run(run_id, validation.check_wait(wait_s), ProgressRelay(ctx), asking.asker(ctx))
    info = (
        replies.mark_messages(pool.store, [info])[0]
        if message_window is None
        else replies.read_message(pool.store, info, *message_window)
    )
    info = replies.clip_run(info, limit) if text_window is None else replies.read_reply(pool.store, info, *text_window)
    return with_replies(info, [(info.run_id, info.response)], _pool(ctx).settings.max_resource_chars)


async def cancel_run(
    run_id: RunId,
    ctx: Context[AgentPool],
) -> RunInfo:
    """Cancel a queued or running run: a queued one leaves its agent's queue, a running one has its
    claude process killed. The agent keeps its session. A finished run is returned unchanged."""
    return await _pool(ctx).cancel(run_id)


async def broadcast(
    ctx: Context[AgentPool],
    agents: Annotated[list[str] | None, Field(description="agents that each get `message`")] = None,
    message: Annotated[str | None, Field(description="the message for every agent in `agents`")] = None,
    messages: Annotated[list[AgentMessage] | None, Field(description="or: a different message per agent")] = None,
    timeout_s: Annotated[float | None, Field(strict=True, description="wall-clock limit for each message")] = None,
) -> RunList:
    """Start one run per agent at once (fan-out) and return their run handles; wait for them with
    wait_runs. Give `agents` and one `message`, or `messages` as [{agent, message}]. An unknown agent
    or bad message refuses the whole call before anything starts."""
    pool = _pool(ctx)
    runs = await pool.broadcast(validation.fan_out(agents, message, messages), timeout_s)
    return RunList(runs=[pool.run_info(run) for run in runs])


async def wait_runs(
    run_ids: Annotated[list[str], Field(description="the runs to wait for")],
    ctx: Context[AgentPool],
    mode: Annotated[Literal["all", "any"], Field(description="all: until every run is done; any: the first")] = "all",
    wait_s: Annotated[float | None, Field(strict=True, description="give up waiting after this many seconds")] = None,
) -> Annotated[CallToolResult, RunWait]:
    """Wait until all (or any) of the runs have finished, sending progress meanwhile; returns every
    run's RunInfo (with its AgentResponse when finished) and done=false if wait_s ran out first."""
    seconds = None if wait_s is None else validation.check_wait(wait_s)
    pool = _pool(ctx)
    runs, done = await pool.wait_runs(run_ids, mode, seconds, ProgressRelay(ctx).for_agent, asking.asker(ctx))
    clipped = [replies.clip_run(info, _limit(ctx)) for info in replies.mark_messages(pool.store, runs)]
    return with_replies(
        RunWait(runs=clipped, done=done),
        [(info.run_id, info.response) for info in clipped],
        _pool(ctx).settings.max_resource_chars,
    )


async def answer_permission(
    run_id: RunId,
    request_id: Annotated[str, Field(description="pending_permission.request_id of the run")],
    decision: Annotated[
        Decision,
        Field(description="allow (this use) or deny; allow_always is refused here: only a person gives it"),
    ],
    ctx: Context[AgentPool],
    message: Annotated[str | None, Field(description="with deny: what to tell the agent")] = None,
) -> RunInfo:
    """Answer a permission request of an agent created with permission_mode="ask": its run is
    waiting_permission and its pending_permission says what the agent wants to do. The run goes on
    with the answer; an unanswered request is denied after the permission timeout. Allowing a tool
    for good (allow_always) is left to a person (their client's question, or the dashboard)."""
    return await _pool(ctx).answer_permission(run_id, request_id, decision, message)


async def get_transcript(
    run_id: RunId,
    ctx: Context[AgentPool],
    after: Annotated[int, Field(strict=True, description="the `next` of the page before (0: from the start)")] = 0,
    limit: Annotated[int, Field(strict=True, description="events per page, 1-1000")] = 50,
) -> TranscriptPage:
    """What a run did, step by step (texts, thinking, tool uses as their command or file, tool results,
    errors, permission requests), also while it runs: poll with after=next. Contents are cut to 8 KB."""
    return _pool(ctx).transcript(run_id, validation.check_after(after), limit)


async def get_history(
    agent: AgentName,
    ctx: Context[AgentPool],
    limit: Annotated[int, Field(strict=True, description="runs per page, 1-1000")] = 10,
    cursor: Annotated[str | None, Field(description="next_cursor of the page before")] = None,
    full: Annotated[
        bool,
        Field(
            description="each run as get_run gives it: the message's first 2000 characters (message_truncated "
            "when there is more) and the reply"
        ),
    ] = False,
) -> Annotated[CallToolResult, HistoryPage]:
    """An agent's runs, newest first, a page at a time, each in summary: status, the first 500
    characters of its message and reply, cost, error, when it finished (full=true: each run's
    whole RunInfo, as get_run gives it). Kept across server restarts."""
    pool = _pool(ctx)
    infos, next_cursor = pool.history_page(agent, limit, cursor)
    runs: list[RunEntry | RunInfo] = (
        [replies.clip_run(info, _limit(ctx)) for info in replies.mark_messages(pool.store, infos)]
        if full
        else [replies.entry_of_run(info, HISTORY_PREVIEW) for info in infos]
    )
    return with_replies(
        HistoryPage(runs=runs, next_cursor=next_cursor),
        [(info.run_id, info.response) for info in runs],
        _pool(ctx).settings.max_resource_chars,
    )


async def delete_agent(
    name: AgentName,
    ctx: Context[AgentPool],
    force: Annotated[bool, Field(description="cancel its queued and running messages first")] = False,
) -> Deleted:
    """Delete an agent and its history. Refused while it has messages queued or running, unless
    force=true, which cancels them first. Its claude sessions stay on disk."""
    return Deleted(deleted=await _pool(ctx).delete(name, force))


async def reset_agent(
    name: AgentName,
    ctx: Context[AgentPool],
) -> AgentInfo:
    """Forget the agent's session: its next message starts a new conversation. Keeps its role,
    options, history and totals. Refused while a message is queued or running."""
    return await _pool(ctx).reset(name)


async def pool_status(ctx: Context[AgentPool]) -> PoolStatus:
    """The pool at a glance: runs running and queued, warm processes, each account's usage limits
    (paused_until while past one: its runs wait or fail until then) and the spend against its cap.
    Also the resource agent-mcp://pool."""
    return _pool(ctx).status()


# Every tool with its hints, in the order tools/list gives them.
TOOLS: tuple[tuple[Callable[..., Coroutine[Any, Any, Any]], ToolAnnotations], ...] = (
    (create_agent, _hints("Create agent", read_only=False, destructive=False, idempotent=False, open_world=False)),
    (list_agents, _hints("List agents", read_only=True, destructive=False, idempotent=True, open_world=False)),
    (get_agent, _hints("Get agent", read_only=True, destructive=False, idempotent=True, open_world=False)),
    (send_message, _hints("Send message", read_only=False, destructive=True, idempotent=False, open_world=True)),
    (start_message, _hints("Start message", read_only=False, destructive=True, idempotent=False, open_world=True)),
    (get_run, _hints("Get run", read_only=True, destructive=False, idempotent=True, open_world=False)),
    (cancel_run, _hints("Cancel run", read_only=False, destructive=True, idempotent=True, open_world=False)),
    (
        answer_permission,
        _hints("Answer permission", read_only=False, destructive=True, idempotent=False, open_world=False),
    ),
    (broadcast, _hints("Broadcast", read_only=False, destructive=True, idempotent=False, open_world=True)),
    (wait_runs, _hints("Wait for runs", read_only=True, destructive=False, idempotent=True, open_world=False)),
    (get_transcript, _hints("Run transcript", read_only=True, destructive=False, idempotent=True, open_world=False)),
    (get_history, _hints("Agent history", read_only=True, destructive=False, idempotent=True, open_world=False)),
    (delete_agent, _hints("Delete agent", read_only=False, destructive=True, idempotent=False, open_world=False)),
    (reset_agent, _hints("Reset agent", read_only=False, destructive=True, idempotent=True, open_world=False)),
    (pool_status, _hints("Pool status", read_only=True, destructive=False, idempotent=True, open_world=False)),
)


def build_server(
    settings: Settings, env: dict[str, str] | None = None, pools: list[AgentPool] | None = None
) -> CheckingServer:
    """`pools`, when given, holds the running pool while the lifespan lasts (the dashboard's, in HTTP mode;
    the resource agent-mcp://pool reads it there too: a static resource is given no context)."""
    live: list[AgentPool] = [] if pools is None else pools

    @asynccontextmanager
    async def lifespan(_: MCPServer[AgentPool]) -> AsyncIterator[AgentPool]:
        async with AgentPool(settings, env).running() as pool:
            live.append(pool)
            try:
                yield pool
            finally:
                live.remove(pool)

    protected = settings.transport == "http" and settings.token is not None
    server = CheckingServer(
        "agent-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        token_verifier=StaticTokenVerifier(settings.token) if protected and settings.token else None,
        auth=auth_settings(settings.host, settings.port) if protected else None,
        tools=[Tool.from_function(translating_errors(tool), annotations=hints) for tool, hints in TOOLS],
    )
    add_resources(server, live)
    return server
