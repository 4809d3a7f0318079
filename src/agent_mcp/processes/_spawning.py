"""Starting one CLI process: its PTY, the reaper that becomes its parent, the directory it starts in.

Every run has a reaper of its own, claude's parent (reaper.py says what it guarantees). The server
does not start one per run: a fork of the server (large, and with threads, so only an exec may
follow) and a Python interpreter's start for every run cost about as much again as a direct spawn of
claude. One long-lived reaper per server (`Reaper`: reaper.py's `serve`, started with a plain fork and
exec at the first run) forks each run's reaper instead. The server opens the PTY pair itself and
sends that reaper the terminal end, claude's stdin and stdout, the checked directory (by descriptor)
and a report socket; the report says when claude has started, with the run's reaper's pid and a
pidfd of it (a signal through it never reaches another process that took the pid), and at the end,
claude's status.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import weakref
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from agent_mcp.core.errors import ProcessError


@dataclass(frozen=True)
class ProcessSpec:
    argv: list[str]
    cwd_fd: int
    """An open descriptor of the directory to start in (see confinement.py); the caller closes it."""
    env: dict[str, str]
    max_line_bytes: int
    exit_grace_s: float = 2.0
    kill_grace_s: float = 2.0


class ExecutableNotFound(ProcessError):
    pass


class SpawnFailed(ProcessError):
    pass


_REAPER = str(Path(__file__).with_name("reaper.py"))
_TERMINAL_ROWS, _TERMINAL_COLUMNS = 50, 250
ANSWER_S = 30.0
"""How long a spawn waits for the reaper to say the run started. It takes a few milliseconds (the
reaper's own start, at a server's first run, well under a second): only a stopped or stuck reaper
waits this out, and the run then fails rather than the server waiting for ever."""
END_S = 2.0
"""How long the long-lived reaper gets to exit once its socket is closed, before it is killed."""


@dataclass(frozen=True)
class Started:
    """One run as its reaper started it."""

    pid: int
    """The run's reaper: it leads the session and the process group claude shares."""
    pidfd: int
    terminal: int
    """The PTY's master end: claude's terminal and stderr (non-blocking)."""
    report: socket.socket
    """Says claude's status once every process of the run is gone (non-blocking)."""

    def status(self) -> int | None:
        """claude's wait status once the run is over, else None. A report that ends without one
        means the run's reaper was killed outright, and the run with it: "killed"."""
        try:
            message = self.report.recv(64)
        except BlockingIOError:
            return None
        except OSError:
            message = b""
        return int(message[1:]) if message.startswith(b"S") else int(signal.SIGKILL)

    def wait(self) -> int:
        """claude's wait status, waiting as long as the run takes."""
        watch = select.poll()
        watch.register(self.report, select.POLLIN)
        while (status := self.status()) is None:
            watch.poll()
        return status

    def signal(self, sig: int) -> None:
        """To the run's reaper, never to a process that took its pid after it."""
        with suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, sig)

    def close(self) -> None:
        os.close(self.pidfd)
        os.close(self.terminal)
        self.report.close()


class Reaper:
    """The server's end of its long-lived reaper: started at the first spawn (and again should it
    have died), ended by `close` (and so every run it started, by their parent-death signal), or
    when this object is collected, or when the server exits, however it exits."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._link: _Link | None = None

    def spawn(self, spec: ProcessSpec, stdin_read: int, stdout_write: int) -> Started:
        """claude under its run's reaper, in the directory `spec.cwd_fd`, its terminal a new PTY, its
        stdin `stdin_read` and its stdout `stdout_write` (the caller keeps and closes both)."""
        executable = shutil.which(spec.argv[0], path=spec.env.get("PATH", os.defpath))
        if executable is None:
            raise ExecutableNotFound(spec.argv[0])
        request = marshal.dumps((os.fsencode(executable), [os.fsencode(a) for a in [executable, *spec.argv[1:]]],
                                 {os.fsencode(k): os.fsencode(v) for k, v in spec.env.items()}))  # fmt: skip
        master, terminal = os.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", _TERMINAL_ROWS, _TERMINAL_COLUMNS, 0, 0))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            try:
                self._send(request, [terminal, stdin_read, stdout_write, spec.cwd_fd, theirs.fileno()])
            finally:  # the run's reaper holds them now: they end with the run
                os.close(terminal)
                theirs.close()
            return _answer(ours, master)
        except BaseException:
            ours.close()
            os.close(master)
            raise

    def _send(self, request: bytes, fds: list[int]) -> None:
        failure: OSError | None = None
        with self._lock:
            for _ in range(2):
                if self._link is None or self._link.process.poll() is not None:
                    self.close()
                    self._link = _Link()
                try:
                    self._link.send(request, fds)
                    return
                except (BrokenPipeError, ConnectionResetError) as exc:  # it died since: a new one, once
                    failure = exc
                    self.close()
        raise SpawnFailed(f"the reaper is gone: {failure}")

    def close(self) -> None:
        """End the long-lived reaper and reap it; a later spawn starts another."""
        with self._lock:
            if self._link is not None:
                self._link.close()
                self._link = None


class _Link:
    """One long-lived reaper and the socket to it."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # It reads no variable: it carries the server's environment only for whoever looks at the
        # server's processes, less the server's own settings (a token), which a run could read there.
        env = {key: value for key, value in os.environ.items() if not key.startswith("AGENT_MCP_")}
        command = [sys.executable, "-I", "-S", "-B", _REAPER, "serve", str(os.getpid()), str(theirs.fileno())]
        try:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            pass_fds=(theirs.fileno(),), start_new_session=True)  # fmt: skip
        except OSError as exc:
            ours.close()
            raise SpawnFailed(f"could not start the reaper ({sys.executable}): {exc}") from None
        finally:
            theirs.close()
        self.socket = ours
        self._end = weakref.finalize(self, _end, ours, self.process)

    def send(self, request: bytes, fds: list[int]) -> None:
        socket.send_fds(self.socket, [len(request).to_bytes(8, "big")], fds)
        self.socket.sendall(request)

    def close(self) -> None:
        self._end()


def _end(link: socket.socket, process: subprocess.Popen[bytes]) -> None:
    link.close()  # its end: it exits
    try:
        process.wait(END_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _answer(report: socket.socket, master: int) -> Started:
    """The run's reaper's first word: started, or why not."""
    watch = select.poll()
    watch.register(report, select.POLLIN)
    if not watch.poll(ANSWER_S * 1000):
        raise SpawnFailed(f"the reaper did not start the run within {ANSWER_S:g} s")
    message, fds, _, _ = socket.recv_fds(report, 1024, 1, socket.MSG_CMSG_CLOEXEC)
    if message.startswith(b"P") and fds:
        report.setblocking(False)
        os.set_blocking(master, False)
        return Started(int(message[1:]), fds[0], master, report)
    for fd in fds:
        os.close(fd)
    raise SpawnFailed(
        message[1:].decode(errors="replace") if message.startswith(b"E") else "the run's reaper ended before claude"
    )
