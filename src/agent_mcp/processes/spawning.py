"""Starting one CLI process: the PTY, the reaper that becomes its parent, the directory it starts in.

The forked child sets the kernel's subreaper and parent-death flags, enters the directory that was
checked (by descriptor), takes the stdin pipe, forks claude (exec'd at once, its stdout the socket
given: process.py says why), then becomes reaper.py: claude's parent, which ends every process the
run started when the run or the server ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptyprocess import PtyProcess

from agent_mcp.core.errors import ProcessError
from agent_mcp.processes.reaper import KILL_ALL


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


class _RememberingPty(PtyProcess):  # type: ignore[misc]
    """PtyProcess.spawn raises after fork when exec fails, without returning the child; the child
    is recorded here so it can still be reaped rather than left a zombie."""

    last_pid: int | None = None

    def __init__(self, pid: int, fd: int) -> None:
        super().__init__(pid, fd)
        _RememberingPty.last_pid = pid


_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)
_REAPER = str(Path(__file__).with_name("reaper.py"))


def _child_setup(spec: ProcessSpec, executable: str, stdin_fd: int, stdout_fd: int) -> Callable[[], None]:
    def setup() -> None:
        # Runs in the forked child, which then becomes the reaper (a failure here is reported by
        # ptyprocess as a spawn error). Both prctl settings outlive the exec of the reaper: orphans of
        # the run come to it, and if the server is killed outright, the kernel tells it to end the run.
        _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
        _libc.prctl(_PR_SET_PDEATHSIG, KILL_ALL)
        os.fchdir(spec.cwd_fd)  # the directory that was checked, not whatever its path names now
        os.dup2(stdin_fd, 0)
        for fd in {spec.cwd_fd, stdin_fd} - {0, 1, 2}:  # claude needs neither under its own number
            os.close(fd)
        # Python ignores SIGPIPE and SIGXFSZ; exec keeps "ignored", so restore the defaults.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        # claude is forked here and exec'd at once, so the reaper's own start (a Python interpreter)
        # runs beside claude's rather than before it.
        if os.fork() == 0:
            try:
                _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # it dies with its reaper
                os.dup2(stdout_fd, 1)
                os.close(stdout_fd)
                os.execve(executable, [executable, *spec.argv[1:]], spec.env)
            except BaseException as exc:
                os.write(2, f"agent-mcp could not start {executable}: {exc}\n".encode())
            os._exit(127)
        os.close(stdout_fd)  # the output's end comes when claude and what it started let go of it

    return setup


def spawn(spec: ProcessSpec, stdin_read: int, stdout_write: int) -> Any:
    """The child is reaper.py, the parent of claude: it ends whatever the run leaves behind. Its
    terminal is the PTY; claude's stdin is `stdin_read`, its stdout `stdout_write`."""
    executable = shutil.which(spec.argv[0], path=spec.env.get("PATH", os.defpath))
    if executable is None:
        raise ExecutableNotFound(spec.argv[0])
    argv = [sys.executable, "-I", "-S", "-B", _REAPER, str(os.getpid())]
    _RememberingPty.last_pid = None
    try:
        return _RememberingPty.spawn(
            argv,
            env=spec.env,
            preexec_fn=_child_setup(spec, executable, stdin_read, stdout_write),
            pass_fds=(stdin_read, stdout_write, spec.cwd_fd),
            dimensions=(50, 250),
        )
    except Exception as exc:
        if _RememberingPty.last_pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(_RememberingPty.last_pid, 0)
        raise SpawnFailed(f"{type(exc).__name__}: {exc}") from None
