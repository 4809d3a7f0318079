"""One turn of an agent's conversation: its message through a claude process into a response.

The turn takes the agent's warm process or starts one (argv, environment, working directory),
writes the message to it as a stream-json line, feeds each output line
to the parser, records the session the moment the CLI names it (so a server killed mid-turn still
resumes it), and turns every way a process can end into either an AgentResponse or a RunFailed
whose text tells the caller what happened and what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial

import anyio

from agent_mcp.agents.claude.argv import build_argv
from agent_mcp.agents.claude.stream import StreamState, clean_text
from agent_mcp.agents.claude.transcript import dropped_output, entries_of, not_believed
from agent_mcp.core.clock import now
from agent_mcp.core.config import Settings
from agent_mcp.core.errors import HostUnreachable, InvalidInput, OutsideRoots, PolicyRefusal, RunFailed
from agent_mcp.core.long_strings import SpilledText, StringCutter, decode_whole, whole_of
from agent_mcp.core.models import ASK, AgentResponse
from agent_mcp.core.rows import AgentRecord, Entry
from agent_mcp.hosts.confinement import Workplace, agent_roots, open_workplace
from agent_mcp.pool import replies
from agent_mcp.pool.exits import without_result
from agent_mcp.pool.permission_desk import PermissionDesk
from agent_mcp.pool.placement import Remote
from agent_mcp.pool.runs import Run
from agent_mcp.pool.warm import WarmKey, WarmProcesses
from agent_mcp.processes.framing import LONG_LINE_BYTES, LineTooLong
from agent_mcp.processes.process import (
    ClaudeProcess,
    ExecutableNotFound,
    LineHandler,
    ProcessRegistry,
    ProcessSpec,
    ProcessTimedOut,
    SpawnFailed,
)
from agent_mcp.store.database import Store

log = logging.getLogger(__name__)

DEPTH_ENV = "AGENT_MCP_DEPTH"

# Variables that would make the child believe it runs inside another Claude Code session.
_STRIPPED_ENV = ("CLAUDECODE",)
# agent-mcp's own settings stay with the server: the bearer token drives the whole pool, and a
# nested agent-mcp given this one's transport and port would try to listen on them.
_OWN_PREFIX = "AGENT_MCP_"


def child_environment(env: Mapping[str, str], depth: int, max_depth: int) -> dict[str, str]:
    """The user's environment as their claude needs it (PATH, HOME, proxies, ANTHROPIC_*, CLAUDE_*),
    less what belongs to this server, plus the depth variables."""
    child = {key: value for key, value in env.items() if key not in _STRIPPED_ENV and not key.startswith(_OWN_PREFIX)}
    # A child claude may load agent-mcp itself: tell that one how deep it is, and this server's
    # limit (however it was given), so nested pools cannot recurse without end.
    child[DEPTH_ENV] = str(depth + 1)
    child["AGENT_MCP_MAX_DEPTH"] = str(max_depth)
    return child


INTERRUPT_GRACE_S = 1.0
"""How long a cancelled turn's CLI gets to stop after the interrupt request, before it is killed."""


@dataclass(frozen=True)
class TurnContext:
    """What every turn of this server shares."""

    settings: Settings
    env: dict[str, str]
    processes: ProcessRegistry
    store: Store
    warm: WarmProcesses
    remote: Remote


_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})
"""Characters some line readers end a line at: JSON may hold them raw, the frame holds them escaped."""


def user_frame(message: str) -> bytes:
    """The message as the CLI's stream-json input takes it: one line, its text exactly as given."""
    frame = {"type": "user", "message": {"role": "user", "content": message}, "parent_tool_use_id": None,
             "session_id": ""}  # fmt: skip
    return json.dumps(frame, ensure_ascii=False).translate(_LINE_BREAKS).encode("utf-8") + b"\n"


async def take_turn(context: TurnContext, agent: AgentRecord, run: Run, message: str) -> AgentResponse:
    """The agent's paths are checked again first: they may have moved since it was created."""
    try:
        workplace = _open_workplace(agent, context)
    except RunFailed:
        await context.warm.end(agent.name)  # it works in a place that is no longer allowed
        raise
    try:
        return await _run_process(context, agent, run, message, workplace)
    finally:
        os.close(workplace.cwd_fd)


def _open_workplace(agent: AgentRecord, context: TurnContext) -> Workplace:
    settings = context.settings
    if agent.host is not None:
        # Still listed? A host dropped from --hosts is reached no more. The cwd is checked on the
        # host as the run starts (reaper.py), the local ssh starts in the state directory.
        try:
            host = context.remote.host(agent.host)
        except PolicyRefusal as exc:
            raise RunFailed("policy", f"refused to run agent {agent.name!r}: {exc}") from None
        here = os.open(settings.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return Workplace(cwd_fd=here, cwd=agent.cwd, options=agent.options, host=host)
    try:
        return open_workplace(agent.cwd, agent.options, agent_roots(settings.allowed_roots, agent.worktree))
    except OutsideRoots as exc:
        raise RunFailed(
            "policy",
            f"refused to run agent {agent.name!r}: its {exc.what} now leads to {exc.resolved!r}, outside the allowed "
            f"roots ({', '.join(map(str, settings.allowed_roots))}), though it was inside when the agent was created "
            "(a directory replaced by a symlink?). Move it back under the roots, or delete the agent and create it "
            "anew",
        ) from None
    except InvalidInput as exc:
        raise RunFailed(
            "crashed", f"could not start agent {agent.name!r}: {exc}; recreate it, or delete the agent"
        ) from None


def _command(context: TurnContext, agent: AgentRecord, workplace: Workplace, resume: str | None) -> list[str]:
    """claude's argv here; on a host, the ssh argv that runs it there."""
    host = workplace.host
    claude = context.settings.claude_bin if host is None else context.settings.remote_claude
    argv = build_argv(claude, agent.name, agent.role, workplace.options, resume)
    return argv if host is None else context.remote.command(host, workplace.cwd, argv, context.env)


async def _start(context: TurnContext, agent: AgentRecord, workplace: Workplace) -> ClaudeProcess:
    settings = context.settings
    spec = ProcessSpec(
        argv=_command(context, agent, workplace, agent.session_id),
        cwd_fd=workplace.cwd_fd,
        env=context.env,
        max_line_bytes=settings.max_line_bytes,
    )
    if workplace.host is not None:
        try:
            await context.remote.links.ensure(workplace.host)
        except HostUnreachable as exc:
            raise RunFailed("host_unreachable", f"agent {agent.name!r} cannot run: {exc}") from None
    try:
        return ClaudeProcess(spec, context.processes)
    except ExecutableNotFound:
        if workplace.host is not None:
            raise RunFailed("host_unreachable", "ssh is not installed on the server's machine") from None
        raise RunFailed(
            "cli_not_found",
            f"the claude CLI {settings.claude_bin!r} was not found or is not executable; install it "
            "(npm install -g @anthropic-ai/claude-code) or point AGENT_MCP_CLAUDE_BIN / --claude-bin at it",
        ) from None
    except SpawnFailed as exc:
        raise RunFailed("crashed", f"could not start the claude CLI in {agent.cwd}: {exc}") from None


async def _run_process(
    context: TurnContext, agent: AgentRecord, run: Run, message: str, workplace: Workplace
) -> AgentResponse:
    """The run is marked running (here and in the store) once its claude process exists: a caller
    who sees `running` can count on the process. A process that ends its turn well is handed to
    the warm processes for the agent's next message; any other is ended."""
    settings, store = context.settings, context.store
    command = tuple(_command(context, agent, workplace, None))
    key = WarmKey(command, workplace.cwd, agent.session_id)
    warm = await context.warm.take(agent.name, key)
    process = warm or await _start(context, agent, workplace)
    state = StreamState(awaiting_init=warm is not None, resumed=agent.session_id)
    run.session_id = agent.session_id  # written again only when the CLI names another one

    async def set_waiting(waiting: bool) -> None:
        run.status = "waiting_permission" if waiting else "running"
        await store.runs.set_waiting(run.run_id, waiting)

    desk = PermissionDesk(
        run.permissions, agent.always_allowed, settings.permission_timeout_s, process.write, set_waiting,
        lambda tool: store.agents.allow_always(agent.name, tool), process.idle_held,
        accepting=workplace.options.permission_mode == ASK,
    )  # fmt: skip

    notes = _Notes(store, run.run_id, settings.max_transcript_events)

    async def on_line(line: bytes) -> bool:
        event = state.feed(line)
        if state.violation is not None:
            return True  # nothing of it is shown: not as a step, not as progress
        if state.session_id is not None and state.session_id != run.session_id:
            holder = store.sessions.holder(state.session_id, agent.name)
            if holder is not None:  # UUIDs do not collide: it was written to take over that conversation
                state.violation = f"system/init named session {state.session_id}, which is agent {holder!r}'s"
                return True
            run.session_id = state.session_id
            await store.sessions.record(agent.name, state.session_id, now())
        if event is not None and (why := desk.doubt(event)) is not None:
            notes.add([not_believed(f"a control request the CLI would not send ({why})")])
        elif event is not None:
            notes.add(entries_of(event))
            if event["type"] == "control_request":
                await notes.flush()  # before the run says it waits: whoever looks finds why
            desk.take(event)
            await run.publish(event)
        elif len(line) > LONG_LINE_BYTES and state.droppable(line):
            notes.add([dropped_output(len(line))])
        return state.done

    def droppable(head: bytes) -> bool:
        if state.droppable(head):
            notes.add([dropped_output(None)])
            return True
        return False

    run.start()
    try:
        await store.runs.started(run.run_id, run.started_at or now())
    except BaseException:  # cancelled before anything was asked of it: it can wait for the next message
        with anyio.CancelScope(shield=True):
            await context.warm.keep(agent.name, key, process)
        raise
    try:
        complete = await _serve_turn(
            desk, process, user_frame(message), on_line, run.timeout_s or settings.timeout_s, settings.idle_timeout_s,
            droppable, partial(StringCutter, settings.state_dir), notes,
        )  # fmt: skip
    except ProcessTimedOut as exc:
        process.kill_now()
        await process.end()
        raise RunFailed(
            "timed_out",
            f"agent {agent.name!r} hit its {exc.limit} of {exc.seconds:g} s; the claude process was killed. "
            "The agent keeps its session; send a smaller task or raise the limit",
            clean_text(exc.tail),
        ) from None
    except LineTooLong as exc:
        process.kill_now()
        await process.end()
        raise RunFailed(
            "crashed",
            f"the claude CLI wrote an output line longer than {exc.limit} bytes, the limit (AGENT_MCP_MAX_LINE_BYTES "
            "/ --max-line-bytes); the process was killed. Ask for a shorter answer (e.g. written to a file), "
            "or raise the limit",
        ) from None
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            interrupted = await process.interrupt(on_line, INTERRUPT_GRACE_S)
            process.stray_lines += state.leftovers
            if interrupted and state.violation is None and state.result is not None:
                await context.warm.keep(agent.name, replace(key, session_id=run.session_id), process)
            else:
                process.kill_now()
                await process.end()
        raise
    except BaseException:
        process.kill_now()
        with anyio.CancelScope(shield=True):
            await process.end()
        raise
    finally:
        # What the run did before it ended stays in its transcript; a store that fails here must not
        # hide why the run ended.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await notes.flush()
    process.stray_lines += state.leftovers  # a process whose turns run on past their result is not kept
    try:
        response = await _conclude(context, agent, run, workplace, process, state, complete)
    except BaseException:  # whatever fails now (a store write, a cancel) takes the process with it
        process.kill_now()
        with anyio.CancelScope(shield=True):
            await process.end()
        raise
    await context.warm.keep(agent.name, replace(key, session_id=run.session_id), process)
    return response


async def _conclude(
    context: TurnContext,
    agent: AgentRecord,
    run: Run,
    workplace: Workplace,
    process: ClaudeProcess,
    state: StreamState,
    complete: bool,
) -> AgentResponse:
    """The turn's outcome once its output is read: a response, or a RunFailed saying why there is none."""
    settings, store = context.settings, context.store
    if state.violation is not None:
        await _not_believed(context, agent, run, process, state.violation)
    if not complete:  # its output ended (or it exited) first: it gets the usual moment to exit on its own
        raise without_result(agent.name, agent.cwd, workplace.host, await process.end(), settings.remote_claude)
    response = state.response(agent.name).model_copy(
        update={"run_id": run.run_id, "permission_requests": run.permissions.records}
    )
    if state.dropped:
        log.warning("run %s of %s: values out of range dropped: %s", run.run_id, agent.name, ", ".join(state.dropped))
        dropped = not_believed(f"values no CLI writes, dropped: {', '.join(state.dropped)}")
        await store.events.add(run.run_id, now(), [dropped], settings.max_transcript_events)
    response = await _whole_answer(response, state.spilled_text, run, settings)
    if response.error_kind == "resume_failed":
        # The session is gone (the CLI keeps sessions per working directory): retrying cannot help.
        run.session_id = None
        await store.sessions.reset(agent.name)
        response = response.model_copy(
            update={
                "session_id": None,
                "error": f"{response.error}. The CLI could not resume the agent's session, so agent "
                f"{agent.name!r} was reset: send the message again to start a new session",
            }
        )
    return response


async def _not_believed(context: TurnContext, agent: AgentRecord, run: Run, process: ClaudeProcess, why: str) -> None:
    """The output broke the CLI's protocol: something other than the CLI wrote into it, or the CLI
    is not one this server knows. Nothing of the turn is believed, and its process is not kept."""
    log.warning("run %s of %s: the CLI's output broke its protocol: %s", run.run_id, agent.name, why)
    process.kill_now()  # first: whatever fails next, it does not go on
    with contextlib.suppress(Exception):  # the run's failure says why even when its transcript cannot
        await context.store.events.add(run.run_id, now(), [not_believed(why)], context.settings.max_transcript_events)
    raise RunFailed(
        "protocol_error",
        f"agent {agent.name!r}'s CLI output broke the stream-json protocol ({why}), so none of this turn's output "
        "was believed and its process was ended. Something the agent ran may have written into it. The agent "
        "keeps its session; look at its transcript, then send the message again",
    )


class _Notes:
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


async def _whole_answer(
    response: AgentResponse, spilled: SpilledText | None, run: Run, settings: Settings
) -> AgentResponse:
    """An answer longer than --max-reply-chars goes whole to the store (its replies table) and the
    response keeps its head and tail, whether it was too long to hold (decoded from its spill off the
    loop, a piece at a time) or came whole in one read: the same answer is never cut one time and
    whole the next."""
    head, tail = replies.ends(settings.max_reply_chars)
    if spilled is not None:
        whole = await anyio.to_thread.run_sync(decode_whole, spilled.spill, head, tail, settings.state_dir)
        spilled.spill.close()
    elif len(response.text) > settings.max_reply_chars:
        whole = await anyio.to_thread.run_sync(whole_of, response.text, head, tail, settings.state_dir)
    else:
        return response
    if whole.chars <= settings.max_reply_chars:  # long only as escaped JSON
        text = whole.read()
        whole.close()
        return response.model_copy(update={"text": text})
    run.whole_text = whole
    return replies.cut(response, whole.head, whole.tail, whole.chars)


async def _serve_turn(
    desk: PermissionDesk,
    process: ClaudeProcess,
    frame: bytes,
    on_line: LineHandler,
    timeout_s: float,
    idle_timeout_s: float,
    droppable: Callable[[bytes], bool],
    cutter: Callable[[], StringCutter],
    notes: _Notes,
) -> bool:
    """The turn, with its permission requests served and its transcript written meanwhile; its
    exceptions come out as they are (not wrapped in the task groups' exception groups)."""
    failure: Exception
    async with desk.serving(), anyio.create_task_group() as flushing:
        flushing.start_soon(notes.keep_flushing)
        try:
            return await process.run_turn(frame, on_line, timeout_s, idle_timeout_s, droppable, cutter)
        except Exception as exc:
            failure = exc
        finally:
            flushing.cancel_scope.cancel()
    raise failure
