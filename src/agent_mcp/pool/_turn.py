"""One turn of an agent's conversation: its message through a CLI process into a response.

The turn takes the agent's warm process or has its launcher start one, writes the message as the
agent's kind frames it, feeds each output line to the kind's reader, records the session the moment
the CLI names it (so a server killed mid-turn still resumes it), and turns every way a process can
end into either an AgentResponse or a RunFailed whose text tells the caller what happened and what
to do. It names no CLI flag and no CLI event (the kind does), and never asks where the process runs
(the launcher does).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import anyio

from agent_mcp.agents import kind_for
from agent_mcp.agents.kind import AgentKind, Step, TurnReader
from agent_mcp.core.clock import now
from agent_mcp.core.config import Settings
from agent_mcp.core.entries import clean_text, dropped_output, not_believed
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.long_strings import LONG_LINE_BYTES, SpilledText, StringCutter, decode_whole, whole_of
from agent_mcp.core.models import ASK, AgentResponse
from agent_mcp.core.rows import Account, AgentRecord
from agent_mcp.hosts.places import Opened, Places
from agent_mcp.pool import replies
from agent_mcp.pool._limits import HeldBack, Limits
from agent_mcp.pool._notes import Notes
from agent_mcp.pool._permission_desk import PermissionDesk
from agent_mcp.pool._runs import Run
from agent_mcp.pool._warm import WarmKey, WarmProcesses
from agent_mcp.processes.framing import LineTooLong
from agent_mcp.processes.launcher import CliMissing
from agent_mcp.processes.process import AgentProcess, ExecutableNotFound, LineHandler, ProcessTimedOut
from agent_mcp.store.database import Store

log = logging.getLogger(__name__)

INTERRUPT_GRACE_S = 1.0
"""How long a cancelled turn's CLI gets to stop after the interrupt request, before it is killed."""


@dataclass(frozen=True)
class TurnContext:
    """What every turn of this server shares."""

    settings: Settings
    env: dict[str, str]
    store: Store
    warm: WarmProcesses
    places: Places
    limits: Limits


TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


async def take_turn(
    context: TurnContext, agent: AgentRecord, run: Run, message: str, budget: float | None
) -> AgentResponse:
    """The agent's place is checked again first: its paths may have moved since it was created. A
    spending cap's remainder (`budget`) becomes the CLI's own budget when it is the smaller."""
    kind = kind_for(agent.cli)
    try:
        opened = await context.places.open(agent, kind.bin_setting, kind.remote_bin_setting)
    except RunFailed:
        await context.warm.end(agent.name)  # it works in a place that is no longer allowed
        raise
    options = opened.workplace.options
    if budget is not None and kind_for(agent.cli).capabilities.budgets:
        budget = min(budget, options.max_budget_usd or budget)
        opened = replace(opened, workplace=replace(opened.workplace, options=options.model_copy(
            update={"max_budget_usd": budget})))  # fmt: skip
    try:
        return await _Turn(context, agent, run, opened, kind).take(message)
    finally:
        os.close(opened.workplace.cwd_fd)


async def _end(process: AgentProcess) -> None:
    """Every process of the run ended now, whatever else is under way."""
    process.kill_now()
    with anyio.CancelScope(shield=True):
        await process.end()


class _Turn:
    """One message through one process: the jobs of a turn, each a method, sharing what they read."""

    reader: TurnReader
    """The turn's output as its kind reads it: made once the process is known (warm or new)."""

    def __init__(self, context: TurnContext, agent: AgentRecord, run: Run, opened: Opened, kind: AgentKind) -> None:
        self.context, self.agent, self.run, self.opened, self.kind = context, agent, run, opened, kind
        self.one_shot = not kind.capabilities.warm_turns
        """Its process answers one message and exits (its input ends after the message): never kept."""
        self.launcher = opened.launcher
        options = opened.workplace.options
        argv = self.kind.argv(opened.executable, agent.name, agent.role, options, None)
        self.key = WarmKey(tuple(argv), self.launcher.host, opened.workplace.cwd, agent.session_id, opened.box)
        self.notes = Notes(context.store, run.run_id, context.settings.max_transcript_events)

    async def take(self, message: str) -> AgentResponse:
        """The run is marked running (here and in the store) once its process exists: a caller who
        sees `running` can count on the process. A process that ends its turn well is handed to the
        warm processes for the agent's next message; any other is ended."""
        warm = None if self.one_shot else await self.context.warm.take(self.agent.name, self.key)
        process = warm or await self._start()
        self.reader = self.kind.reader(resumed=self.agent.session_id, awaiting_init=warm is not None)
        self.run.session_id = self.agent.session_id  # written again only when the CLI names another one
        desk = self._desk(process)
        self.run.start()
        try:
            await self.context.store.runs.started(self.run.run_id, self.run.started_at or now())
        except BaseException:  # cancelled before anything was asked of it: it can wait for the next message
            with anyio.CancelScope(shield=True):
                await self._keep(self.key, process)
            raise
        complete = await self._serve(desk, process, message)
        process.stray_lines += self.reader.leftovers  # a process whose turns run on past their answer is not kept
        try:
            response = await self._conclude(process, complete)
        except BaseException:  # whatever fails now (a store write, a cancel) takes the process with it
            await _end(process)
            raise
        await self._keep(replace(self.key, session_id=self.run.session_id), process)
        if (
            response.error_kind == "rate_limited"
            and not self.reader.worked
            and self.context.limits.holds_back(Account(self.launcher.host, self.agent.cli))
        ):
            raise HeldBack  # nothing of it happened: it runs again after the reset
        return response

    async def _keep(self, key: WarmKey, process: AgentProcess) -> None:
        """A process fit for the agent's next message waits for it; a one-shot one exits (its input has
        ended, or ends now) and is waited for."""
        if self.one_shot:
            await process.end()
        else:
            await self.context.warm.keep(self.agent.name, key, process)

    async def _start(self) -> AgentProcess:
        argv = self.kind.argv(
            self.opened.executable, self.agent.name, self.agent.role, self.opened.workplace.options,
            self.agent.session_id,
        )  # fmt: skip
        try:
            return await self.launcher.start(self.agent.name, argv, self.opened.workplace, self.context.env)
        except ExecutableNotFound:
            raise self.kind.not_found(self.opened.executable, self.launcher.host) from None

    def _desk(self, process: AgentProcess) -> PermissionDesk:
        store, run, agent = self.context.store, self.run, self.agent

        async def set_waiting(waiting: bool) -> None:
            run.status = "waiting_permission" if waiting else "running"
            await store.runs.set_waiting(run.run_id, waiting)

        return PermissionDesk(
            run.permissions, agent.always_allowed, self.context.settings.permission_timeout_s, process.write,
            self.kind.answer_frame, set_waiting, lambda tool: store.agents.allow_always(agent.name, tool),
            process.idle_held, accepting=self.opened.workplace.options.permission_mode == ASK,
        )  # fmt: skip

    async def _serve(self, desk: PermissionDesk, process: AgentProcess, message: str) -> bool:
        """The turn on its process; every way it can go wrong ends (or keeps) the process and says why."""
        settings, agent = self.context.settings, self.agent
        on_line = partial(self._on_line, desk)
        try:
            return await _serve_turn(
                desk, process, self.kind.message_frame(message), on_line, self.run.timeout_s or settings.timeout_s,
                settings.idle_timeout_s, self._droppable, partial(StringCutter, settings.state_dir), self.notes,
                self.one_shot,
            )  # fmt: skip
        except ProcessTimedOut as exc:
            await _end(process)
            raise RunFailed(
                "timed_out",
                f"agent {agent.name!r} hit its {exc.limit} of {exc.seconds:g} s; the {self.kind.name} process was "
                "killed. The agent keeps its session; send a smaller task or raise the limit",
                clean_text(exc.tail),
            ) from None
        except LineTooLong as exc:
            await _end(process)
            raise RunFailed(
                "crashed",
                f"the {self.kind.name} CLI wrote an output line longer than {exc.limit} bytes, the limit "
                "(AGENT_MCP_MAX_LINE_BYTES / --max-line-bytes); the process was killed. Ask for a shorter answer "
                "(e.g. written to a file), or raise the limit",
            ) from None
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._interrupted(process, on_line)
            raise
        except BaseException:
            await _end(process)
            raise
        finally:
            # What the run did before it ended stays in its transcript; a store that fails here must not
            # hide why the run ended.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.notes.flush()

    async def _interrupted(self, process: AgentProcess, on_line: LineHandler) -> None:
        """A cancelled turn: its CLI is asked to stop; a process that does, cleanly, is kept. A one-shot
        process has no input left to ask it on: it is ended."""
        if self.one_shot:
            await _end(process)
            return
        interrupted = await process.interrupt(self.kind.interrupt_frame(), on_line, INTERRUPT_GRACE_S)
        process.stray_lines += self.reader.leftovers
        if interrupted and self.reader.violation is None and self.reader.answered:
            await self.context.warm.keep(self.agent.name, replace(self.key, session_id=self.run.session_id), process)
        else:
            await _end(process)

    async def _on_line(self, desk: PermissionDesk, line: bytes) -> bool:
        reader, notes = self.reader, self.notes
        step = reader.feed(line)
        if reader.violation is not None:
            return True  # nothing of it is shown: not as a step, not as progress
        if reader.session_id is not None and reader.session_id != self.run.session_id:
            await self._session_named(reader.session_id)
            if reader.violation is not None:
                return True
        if step is not None and (why := desk.doubt(step)) is not None:
            notes.add([not_believed(f"a control request the CLI would not send ({why})")])
        elif step is not None:
            await self._take(desk, step)
        elif len(line) > LONG_LINE_BYTES and reader.droppable(line):
            notes.add([dropped_output(len(line))])
        return reader.done

    async def _session_named(self, session_id: str) -> None:
        store = self.context.store
        holder = store.sessions.holder(session_id, self.agent.name)
        if holder is not None:  # UUIDs do not collide: it was written to take over that conversation
            self.reader.refuse(f"the CLI named session {session_id}, which is agent {holder!r}'s")
            return
        self.run.session_id = session_id
        await store.sessions.record(self.agent.name, session_id, now())

    async def _take(self, desk: PermissionDesk, step: Step) -> None:
        if step.limit is not None:
            await self.context.limits.observe(Account(self.launcher.host, self.agent.cli), step.limit)
        self.notes.add(step.entries)
        if step.ask is not None:
            await self.notes.flush()  # before the run says it waits: whoever looks finds why
        desk.take(step)
        if step.progress is not None:
            await self.run.publish(step.progress)

    def _droppable(self, head: bytes) -> bool:
        if self.reader.droppable(head):
            self.notes.add([dropped_output(None)])
            return True
        return False

    async def _conclude(self, process: AgentProcess, complete: bool) -> AgentResponse:
        """The turn's outcome once its output is read: a response, or a RunFailed saying why there is none."""
        settings, store, agent, run, reader = (
            self.context.settings,
            self.context.store,
            self.agent,
            self.run,
            self.reader,
        )
        if reader.violation is not None:
            await self._not_believed(process, reader.violation)
        if not complete:  # its output ended (or it exited) first: it gets the usual moment to exit on its own
            raise await self._without_answer(process)
        response = reader.response(agent.name).model_copy(
            update={"run_id": run.run_id, "permission_requests": run.permissions.records}
        )
        if reader.dropped:
            log.warning(
                "run %s of %s: values out of range dropped: %s", run.run_id, agent.name, ", ".join(reader.dropped)
            )
            dropped = not_believed(f"values no CLI writes, dropped: {', '.join(reader.dropped)}")
            await store.events.add(run.run_id, now(), [dropped], settings.max_transcript_events)
        response = await _whole_answer(response, reader.spilled_text, run, settings)
        if self.kind.capabilities.cumulative_usage:
            response = await self._own_usage(response)
        if response.error_kind == "resume_failed":
            response = response.model_copy(
                update={"session_id": None, "error": f"{response.error}. {await self._forget_session()}"}
            )
        return response

    async def _own_usage(self, response: AgentResponse) -> AgentResponse:
        """The turn's own tokens, from a CLI that reports its session's running totals: those less the
        totals it reported at the end of the session's last turn (kept per session in the store). Totals
        lower than those kept are not this session's continuation: taken as they stand. A turn that
        reported none (it failed) keeps nothing: its tokens count in the next turn's."""
        store, session = self.context.store, response.session_id
        totals = {name: getattr(response, name) for name in TOKEN_FIELDS}
        if session is None or not any(totals.values()):
            return response
        before = store.sessions.reported(self.agent.name, session) if session == self.agent.session_id else {}
        own = {name: totals[name] - before.get(name, 0) for name in TOKEN_FIELDS}
        await store.sessions.set_reported(self.agent.name, session, totals)
        if min(own.values()) < 0:
            return response
        return response.model_copy(update=own)

    async def _forget_session(self) -> str:
        """The session is gone (CLIs keep sessions per working directory): retrying cannot help, so the
        agent starts a new one. What to tell the caller."""
        self.run.session_id = None
        await self.context.store.sessions.reset(self.agent.name)
        return (
            f"The CLI could not resume the agent's session, so agent {self.agent.name!r} was reset: send the "
            "message again to start a new session"
        )

    async def _without_answer(self, process: AgentProcess) -> RunFailed:
        """A process that ended its turn without an answer: the launcher's words when the exit is its
        own (a connection lost), else the kind's."""
        outcome = await process.end()
        failure = self.launcher.failure(outcome, self.agent.name, self.agent.cwd)
        if isinstance(failure, CliMissing):
            failure = self.kind.not_found(self.opened.executable, self.launcher.host, clean_text(outcome.tail))
        if failure is not None:
            return failure
        where = f" on host {self.launcher.host!r}" if self.launcher.host is not None else ""
        tail = clean_text(outcome.tail)
        kind, said = self.kind.ended_without_result(outcome.returncode, outcome.signal, tail)
        if kind == "resume_failed":
            where += f". {await self._forget_session()}"
        return RunFailed(kind, said + where, tail)

    async def _not_believed(self, process: AgentProcess, why: str) -> None:
        """The output broke the CLI's protocol: something other than the CLI wrote into it, or the CLI
        is not one this server knows. Nothing of the turn is believed, and its process is not kept."""
        run, agent, context = self.run, self.agent, self.context
        log.warning("run %s of %s: the CLI's output broke its protocol: %s", run.run_id, agent.name, why)
        process.kill_now()  # first: whatever fails next, it does not go on
        with contextlib.suppress(Exception):  # the run's failure says why even when its transcript cannot
            await context.store.events.add(
                run.run_id, now(), [not_believed(why)], context.settings.max_transcript_events
            )
        raise RunFailed(
            "protocol_error",
            f"agent {agent.name!r}'s CLI output broke the {self.kind.name} CLI's protocol ({why}), so none of this "
            "turn's output was believed and its process was ended. Something the agent ran may have written into it. "
            "The agent keeps its session; look at its transcript, then send the message again",
        )


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
    process: AgentProcess,
    frame: bytes,
    on_line: LineHandler,
    timeout_s: float,
    idle_timeout_s: float,
    droppable: Callable[[bytes], bool],
    cutter: Callable[[], StringCutter],
    notes: Notes,
    last: bool,
) -> bool:
    """The turn, with its permission requests served and its transcript written meanwhile; its
    exceptions come out as they are (not wrapped in the task groups' exception groups). `last`: the
    process's input ends after the frame."""
    failure: Exception
    async with desk.serving(), anyio.create_task_group() as flushing:
        flushing.start_soon(notes.keep_flushing)
        try:
            return await process.run_turn(frame, on_line, timeout_s, idle_timeout_s, droppable, cutter, last)
        except Exception as exc:
            failure = exc
        finally:
            flushing.cancel_scope.cancel()
    raise failure
