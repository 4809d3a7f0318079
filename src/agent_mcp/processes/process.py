"""One CLI process under a pseudo-terminal, and its whole lifetime: one turn or many.

Why this shape:
- The CLI runs under a PTY (its terminal and stderr: it behaves as it would for a person), but its
  stdin and stdout are not the terminal. Its stdin is a pipe: each turn's message goes there as a
  stream-json line, untouched by the terminal's line discipline and free of argv's 128 KiB
  per-entry limit, and the process waits for the next one while the pipe stays open.
- Its stdout, where the events come, is one end of a socket pair: a place the agent's tools cannot
  write into. Anything the agent runs can write lines into the terminal (through /dev/tty, or
  claude's stderr through /proc/<pid>/fd/2), and a pipe could be opened again through
  /proc/<pid>/fd/1; a socket cannot be. The terminal is drained (terminal_tail.py) and never
  parsed. Between turns nobody listens to stdout: what it writes then is read and dropped, and
  counted (`stray_lines`), since the CLI writes nothing between turns.
- stdout is read by a thread of its own (output_reader.py says why); the stdin pipe and the report
  of the run's end are awaited with anyio.
- The CLI's parent is its run's reaper (spawning.py, reaper.py): as a subreaper, it ends every
  process the run started, also those that left the process group, and also when the server is
  killed outright. It leads its own session and process group (the CLI shares them), so a SIGTERM
  to the group reaches the CLI and what stayed with it. `end` ends every process of the run.

This module knows nothing of any CLI's JSON: framing.py cuts the output into lines, each handed to
a callback, which says when the output is complete; what is written to it comes framed (agents/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio

from agent_mcp.core.errors import ProcessError
from agent_mcp.core.long_strings import StringCutter
from agent_mcp.processes._output_reader import READ_CHUNK, OutputReader
from agent_mcp.processes._spawning import ExecutableNotFound, ProcessSpec, Reaper, SpawnFailed
from agent_mcp.processes._terminal_tail import TAIL_BYTES, TerminalTail
from agent_mcp.processes.framing import LineFramer, LineTooLong, keep_all
from agent_mcp.processes.reaper import KILL_ALL

__all__ = ["AgentProcess", "ExecutableNotFound", "LineHandler", "ProcessExit", "ProcessRegistry", "ProcessSpec",
           "ProcessTimedOut", "SpawnFailed"]  # fmt: skip

log = logging.getLogger(__name__)

UNREAD_BYTES = 1 << 20
"""Output read but not yet taken at which reading pauses: a batch is this size at most."""

LineHandler = Callable[[bytes], Awaitable[bool]]
"""Called with each output line (without its newline); returns True once the turn is complete."""


@dataclass(frozen=True)
class ProcessExit:
    returncode: int | None
    signal: int | None
    tail: bytes


class ProcessTimedOut(ProcessError):
    def __init__(self, limit: str, seconds: float, tail: bytes) -> None:
        self.limit = limit
        self.seconds = seconds
        self.tail = tail
        super().__init__(f"{limit} of {seconds:g} s reached")


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class AgentProcess:
    """One spawned child: turns are run on it one at a time, then it is ended (`end`)."""

    def __init__(self, spec: ProcessSpec, registry: ProcessRegistry) -> None:
        self.spec = spec
        self.registry = registry
        self.on_line: LineHandler = self._stray
        stdin_read, self.stdin_write = os.pipe()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.shutdown(socket.SHUT_WR)  # the events go one way only
        theirs.shutdown(socket.SHUT_RD)
        self.stdout_fd = ours.detach()
        try:
            self.started = registry.reaper.spawn(spec, stdin_read, theirs.fileno())
        except BaseException:
            os.close(self.stdin_write)
            os.close(self.stdout_fd)
            raise
        finally:
            os.close(stdin_read)
            theirs.close()
        self.pid: int = self.started.pid
        self.fd: int = self.started.terminal
        os.set_blocking(self.stdin_write, False)
        os.set_blocking(self.stdout_fd, False)
        self.output = OutputReader(self.stdout_fd, UNREAD_BYTES)
        self.terminal = TerminalTail(self.fd)
        self.framer = LineFramer(spec.max_line_bytes)
        self.tail = b""
        """The turn's last output bytes on stdout."""
        self.ended = False
        self.stray_lines = 0
        """Lines written on stdout while no turn ran: the CLI writes none then, so someone else did."""
        self.complete = False
        self.exited = False
        self.idle_timed_out = False
        self.overflow: LineTooLong | None = None
        self.status: int | None = None
        self.turn_started = time.monotonic()
        self.idle_timeout_s = float("inf")
        self._idle_holds = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._write_lock = anyio.Lock()
        registry.add(self)

    @property
    def eof(self) -> bool:
        return self.output.ended

    @property
    def alive(self) -> bool:
        return not (self.exited or self.eof or self.overflow or self.poll())

    @property
    def reusable(self) -> bool:
        """Fit for another turn: alive, and no one wrote on its output between turns."""
        return self.alive and not self.stray_lines

    # --- turns -------------------------------------------------------------------------------

    async def run_turn(
        self,
        frame: bytes,
        on_line: LineHandler,
        timeout_s: float,
        idle_timeout_s: float,
        droppable: Callable[[bytes], bool] = keep_all,
        cutter: Callable[[], StringCutter] | None = None,
        last: bool = False,
    ) -> bool:
        """Write the turn's input line, pass each output line to on_line until it says the turn is
        complete (True), or the output ends or the child exits first (False). A long line whose start
        is `droppable` is dropped as it arrives; another has its long strings cut out by `cutter`'s
        cutters (see framing.py). `last`: stdin is closed once the frame is written (a one-shot CLI
        reads its input to the end before it starts).

        Raises ProcessTimedOut when a time limit hit, LineTooLong when a line passed its cap; the
        process is then still running (the caller ends it)."""
        await self.settle()  # what it wrote since its last turn is no part of this one: dropped
        self.on_line, self.complete, self.tail = on_line, False, b""
        self.idle_timeout_s, self.turn_started = idle_timeout_s, time.monotonic()
        self.framer.droppable, self.framer.cutter = droppable, cutter
        try:
            with anyio.move_on_after(timeout_s) as deadline:
                if self._written_now(frame):
                    if last:
                        self.close_stdin()
                    await self.pump()
                else:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._send, frame, last)
                        await self.pump()
                        tg.cancel_scope.cancel()
        finally:
            self.on_line, self.idle_timeout_s, self.framer.droppable = self._stray, float("inf"), keep_all
            self.framer.cutter = None
        if deadline.cancelled_caught:
            raise ProcessTimedOut("timeout", timeout_s, self.last_words())
        if self.idle_timed_out:
            raise ProcessTimedOut("idle timeout", idle_timeout_s, self.last_words())
        if self.overflow is not None:
            raise self.overflow
        return self.complete

    async def interrupt(self, frame: bytes, on_line: LineHandler, grace_s: float) -> bool:
        """Ask the CLI to stop its turn (`frame`: its kind's interrupt); True when the turn ended within
        grace_s and the process can take the next one."""
        self.on_line, self.complete = on_line, False
        try:
            with anyio.move_on_after(grace_s):
                await self.write(frame)
                await self.pump()
        finally:
            self.on_line = self._stray
        return self.complete and self.reusable

    async def idle(self, seconds: float) -> None:
        """Wait while the process idles between turns, dropping what it writes; returns after
        `seconds`, or earlier once it is gone."""
        self.complete = False
        with anyio.move_on_after(seconds):
            await self.pump()

    @contextlib.contextmanager
    def idle_held(self) -> Iterator[None]:
        """The turn waits for someone (a permission answer): silence is no sign of a stuck CLI. The
        idle timeout counts again from when the hold ends."""
        self._idle_holds += 1
        try:
            yield
        finally:
            self._idle_holds -= 1
            self.turn_started = max(self.turn_started, time.monotonic())

    def last_words(self) -> bytes:
        """What to show of a turn that went wrong: the end of its output, then of its terminal (where
        the CLI writes its errors)."""
        return (self.tail[-TAIL_BYTES // 2 :] + b"\n" + self.terminal.tail).strip(b"\n")[-TAIL_BYTES:]

    async def _send(self, frame: bytes, last: bool) -> None:
        await self.write(frame)
        if last:
            self.close_stdin()

    async def write(self, data: bytes) -> None:
        """One frame whole: frames written at once (an answer, an interrupt) never interleave."""
        async with self._write_lock:
            await self._write(data)

    def _written_now(self, frame: bytes) -> bool:
        """Whether the frame went whole into the pipe at once, with no other frame being written: one
        of at most PIPE_BUF bytes goes all or nothing. The CLI then starts on the turn while its
        reading is set up, rather than after a trip through the loop."""
        if len(frame) > select.PIPE_BUF or self._write_lock.locked():
            return False
        try:
            os.write(self.stdin_write, frame)
        except BlockingIOError:
            return False
        except OSError as exc:  # it went away: the output says how
            log.debug("pid %d stopped reading its input: %s", self.pid, exc)
        return True

    async def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    written = os.write(self.stdin_write, view[:READ_CHUNK])
                except BlockingIOError:
                    await anyio.wait_writable(self.stdin_write)
                    continue
                view = view[written:]
        except (BrokenPipeError, OSError) as exc:  # it went away: the output says how
            log.debug("pid %d stopped reading its input: %s", self.pid, exc)

    def close_stdin(self) -> None:
        if self.stdin_write >= 0:
            os.close(self.stdin_write)
            self.stdin_write = -1

    # --- output ------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Read what it wrote while nobody listened, now, so `reusable` says what it did."""
        self.output.read_now()
        await self._handle(self.output.take())
        await self._flush_partial()

    async def _stray(self, line: bytes) -> bool:
        """Output between turns (or after a turn's result) belongs to no turn: dropped, and counted."""
        if line.strip():
            self.stray_lines += 1
            log.warning("pid %d wrote on its output between turns (dropped): %r", self.pid, line[:200])
        return False

    async def pump(self) -> None:
        """Read until the handler says complete, the output ends, the child exits, the output
        stays silent longer than the idle limit (then `idle_timed_out` is set), or a line passes
        its cap (then `overflow` is set). Limits are flags, not exceptions: an exception here would
        reach the caller wrapped in the task groups' exception groups. The watchers only raise a
        flag and wake the loop, so a line is never cut off halfway through its handling. They are loop
        callbacks (the exit report's reader, a timer), not tasks: a pump runs for every turn and every idle
        poll, and a task group of watchers cost each a spawn and a cancellation."""
        self.idle_timed_out = False
        loop = asyncio.get_running_loop()
        loop.add_reader(self.started.report.fileno(), self._exited_now)
        if self.idle_timeout_s != float("inf"):
            self._check_idle()
        try:
            while not (self.complete or self.eof or self.exited or self.overflow or self.idle_timed_out):
                await self.output.wait()
                await self._handle(self.output.take())
        finally:
            loop.remove_reader(self.started.report.fileno())
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        if self.exited and not (self.complete or self.eof or self.overflow):
            # The child exited while its output stays open (a grandchild holds it): take what
            # the child wrote before it went, without waiting for the grandchild (which may go on
            # writing: a few batches at most).
            for _ in range(4):
                self.output.read_now()
                data = self.output.take()
                await self._handle(data)
                if not data or self.complete or self.overflow:
                    break
            await self._flush_partial()

    def _exited_now(self) -> None:
        asyncio.get_running_loop().remove_reader(self.started.report.fileno())
        self.exited = True
        self.output.wake()

    def _check_idle(self) -> None:
        left = max(self.turn_started, self.output.last_data) + self.idle_timeout_s - time.monotonic()
        if left > 0 or self._idle_holds:
            self._idle_timer = asyncio.get_running_loop().call_later(
                left if left > 0 else self.idle_timeout_s, self._check_idle
            )
        elif not self.exited:
            self.idle_timed_out = True
            self.output.wake()

    async def _handle(self, data: bytes) -> None:
        """Split a batch into lines in one pass: per-chunk work would dominate a large reply."""
        if data:
            self.tail = (self.tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]
            await self._split_lines(data)
        if self.eof:
            await self._flush_partial()

    async def _split_lines(self, data: bytes) -> None:
        try:
            lines = self.framer.feed(data)
        except LineTooLong as exc:
            self.overflow = exc
            return
        for index, line in enumerate(lines):
            if await self.on_line(line):
                self.complete = True
                for after in lines[index + 1 :]:  # the turn is over: what follows its end is no part of it
                    await self._stray(after)
                return

    async def _flush_partial(self) -> None:
        tail = self.framer.flush()
        if tail is not None and not self.complete:
            self.complete = await self.on_line(tail)

    # --- ending ------------------------------------------------------------------------------

    def poll(self) -> bool:
        if self.status is None:
            self.status = self.started.status()
        return self.status is not None

    async def wait_exit(self, seconds: float) -> bool:
        with anyio.move_on_after(seconds):
            while not self.poll():
                await anyio.wait_readable(self.started.report.fileno())
        return self.poll()

    async def finish(self) -> None:
        """Give claude its grace period, then SIGTERM its group, then have the reaper end every process
        of the run; SIGKILL the group only if the reaper itself is stuck. Always learn how it ended."""
        self.close_stdin()
        if not await self.wait_exit(self.spec.exit_grace_s):
            log.info("pid %d still running after its output ended; sending SIGTERM to its group", self.pid)
            _signal_group(self.pid, signal.SIGTERM)
            if not await self.wait_exit(self.spec.kill_grace_s):
                log.warning("pid %d ignored SIGTERM; ending every process of its run", self.pid)
                self.kill_now()
                if not await self.wait_exit(self.spec.kill_grace_s):
                    _signal_group(self.pid, signal.SIGKILL)
                    await self.wait_exit(self.spec.kill_grace_s)
        # Whatever the child left in its group (MCP servers, shells) goes with it.
        _signal_group(self.pid, signal.SIGKILL)
        if not self.poll():
            # Only a child stuck in the kernel survives SIGKILL this long; wait for it off the loop.
            self.status = await anyio.to_thread.run_sync(self.started.wait)

    def kill_now(self) -> None:
        """The reaper ends claude and everything it started, inside its group or not."""
        if self.status is None:
            self.started.signal(KILL_ALL)

    async def end(self) -> ProcessExit:
        """Stdin closed (the CLI's cue to exit), then the ladder; its status known, its output and
        terminal closed.
        Once only: a second call gives the same exit."""
        if self.ended:
            return self.exit()
        self.ended = True
        try:
            with anyio.CancelScope(shield=True):
                await self.finish()
        finally:
            self.output.close()
            os.close(self.stdout_fd)
            self.terminal.close()
            self.started.close()
            self.registry.remove(self)
        return self.exit()

    def exit(self) -> ProcessExit:
        status = self.status
        return ProcessExit(
            returncode=os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None,
            signal=os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None,
            tail=self.last_words(),
        )


class ProcessRegistry:
    """The live children of one pool, so shutdown can kill them all at once from any state, and the
    pool's long-lived reaper, which starts them."""

    def __init__(self) -> None:
        self._live: set[AgentProcess] = set()
        """Not by pid: a run's reaper is reaped by the long-lived one, so its pid may be a new run's
        before the old run's process has been removed."""
        self.reaper = Reaper()

    def add(self, process: AgentProcess) -> None:
        self._live.add(process)

    def remove(self, process: AgentProcess) -> None:
        self._live.discard(process)

    def kill_all(self) -> None:
        """Shutdown: every run ends, and the long-lived reaper is ended and reaped."""
        for process in list(self._live):
            process.kill_now()
        self.reaper.close()

    def __len__(self) -> int:
        return len(self._live)
