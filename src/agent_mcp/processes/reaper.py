"""Every run's reaper: it starts claude and ends every process the run left behind.

Killing claude's process group is not enough: a hook, shell or MCP server that claude started can
leave the group (setsid) and ignore SIGHUP, and when the server itself is killed outright (SIGKILL)
nothing in it runs to clean up. So each run has a reaper of its own: a child subreaper (prctl
PR_SET_CHILD_SUBREAPER), so every descendant of claude whose parent dies is re-parented to it rather
than to init, and it can always find them. It ends them all (SIGKILL, until none is left) when claude
exits, when the server asks (SIGUSR1), and when the server dies.

On the server's machine one long-lived reaper serves the whole server (`serve` below): the server
starts it once, at its first run, as a small Python program (`python -I -S -B reaper.py serve ...`)
with a plain fork and exec (a fork of a process with threads may only exec). For each run the server
sends it the run's descriptors and argv over a unix socket, and it forks (it is single-threaded, so
a fork is cheap and safe) the run's reaper, which forks claude: no interpreter starts per run. On an
SSH host the reaper is started per run as `python3 -c <this file> remote ...` (`remote` below).

It imports only built-in modules at the top (`_signal` rather than `signal`, which imports enum), the
others only in the mode that needs them: a host's reaper is compiled and started for every run.
"""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # signal's own API, without signal's enums
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is no built-in module: for the type checker only
    from typing import Any

KILL_ALL = signal.SIGUSR1
"""The signal that means: end every process of this run now. The server sends it to cancel a run;
the kernel sends it when the run's parent (the long-lived reaper, or sshd on a host) dies."""
_ROUNDS = 1000
PR_SET_PDEATHSIG = 1
"""prctl's parent-death signal: the one home of the number (hosts/ssh.py sets it too, for ssh's master)."""
_PR_SET_CHILD_SUBREAPER = 36


class _EndAll(Exception):
    pass


_ending = False


def _end_all(_signum: int, _frame: object) -> None:
    """Interrupts the wait for claude, once: the parent's death and the terminal's hangup can come
    together, and a second raise would land in the clean-up itself."""
    global _ending
    if not _ending:
        _ending = True
        raise _EndAll


def _child_ended(_signum: int, _frame: object) -> None:
    """Nothing: its arrival writes the wakeup pipe, which is what the wait is for."""


def _wakeup_pipe() -> tuple[int, int]:
    """A pipe whose read end turns readable when a child ends (SIGCHLD), for a wait on several things."""
    woken, wake = os.pipe()
    os.set_blocking(woken, False)
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, _child_ended)
    return woken, wake


def _children() -> list[int]:
    """This process's children (the re-parented included): the kernel's list where it keeps one
    (one small read), else found in /proc."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children", "rb") as listed:  # a single thread: the process's own
            return [int(pid) for pid in listed.read().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():  # a host without /proc: none found
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.append(int(entry))
    return found


def _reap(pids: dict[int, int]) -> None:
    """Collect every child that has ended; remember the status of those in pids."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        pids[pid] = status


def _kill(pid: int, sig: int) -> None:
    try:  # noqa: SIM105 (contextlib would cost every run its import)
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _kill_everything(statuses: dict[int, int]) -> None:
    """SIGKILL every child until none is left: a killed child's own children come to this process
    (the subreaper), and are found in the next round."""
    for _ in range(_ROUNDS):
        _reap(statuses)
        children = _children()
        if not children:
            return
        for pid in children:
            _kill(pid, signal.SIGKILL)
        time.sleep(0.005)


_libc: Any = None


def _prctl(option: int, value: int) -> None:
    global _libc
    try:  # Linux; elsewhere (a host) claude's process group is what can be ended
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None)
        _libc.prctl(option, value)
    except (ImportError, OSError, AttributeError):
        pass


def _fork_claude(executable: str | bytes, argv: list[Any], env: dict[Any, Any], stdio: dict[int, int],
                 own_group: bool, failed: int) -> int:  # fmt: skip
    """claude, forked and exec'd at once: it dies with its reaper, its `stdio` descriptors (by number)
    in place, the signals its reaper handles or ignores back to their defaults (Python ignores
    SIGPIPE and SIGXFSZ, and exec keeps "ignored"). `failed` is its exit code if it cannot start."""
    claude = os.fork()
    if claude == 0:
        try:
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD,
                        KILL_ALL):  # fmt: skip
                signal.signal(sig, signal.SIG_DFL)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if own_group:
                os.setpgid(0, 0)
            for number, fd in stdio.items():
                os.dup2(fd, number)
            os.execve(executable, argv, env)
        except BaseException as exc:
            os.write(2, f"agent-mcp could not start {os.fsdecode(executable)}: {exc}\n".encode())
        os._exit(failed)
    return claude


def main(argv: list[str]) -> None:
    if argv[0] == "remote":
        remote(argv[1:])
    elif argv[0] == "serve":
        serve(int(argv[1]), int(argv[2]))


# --- on the server's machine: one reaper for every run ---------------------------------------------
#
# The server runs `python -I -S -B reaper.py serve SERVER_PID FD` (spawning.py), FD its end of a unix
# stream socket. A request on it: an 8-byte length with five descriptors attached (the terminal end
# of the run's PTY, claude's stdin, its stdout, the checked directory, the run's report socket), then
# that many bytes of marshal data: claude's executable, argv and environment, as bytes. The report
# socket (a SOCK_SEQPACKET pair, the other end the server's) carries "P<pid>" with a pidfd of the
# run's reaper attached once claude is started, or "E<why>" when the run could not start; then
# "S<claude's wait status>" once every process of the run is gone. Its end without an "S" means the
# run's reaper was killed outright.

_REQUEST_FDS = 5
_HEADER_BYTES = 8


def serve(server: int, control_fd: int) -> None:
    """The long-lived reaper: it starts every run the server asks for and ends with the server, when
    the server's end of the socket closes or the server exits (its pidfd says so, even after a
    SIGKILL). Its end is the runs' parent's death: each ends its run. Not prctl's parent-death signal
    here: it follows the server's thread that started this process, which may end before the server."""
    import _socket  # socket's own API, without socket's enums
    import select

    try:
        server_exit = os.pidfd_open(server)
    except ProcessLookupError:
        os._exit(0)
    if os.getppid() != server:  # the server died before the watch was in place
        os._exit(0)
    control = _socket.socket(fileno=control_fd)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)  # what a run's reaper killed outright leaves comes here
    woken, wake = _wakeup_pipe()
    own = (control_fd, server_exit, woken, wake)
    watch = select.poll()
    for fd in own[:3]:
        watch.register(fd, select.POLLIN)
    runs: set[int] = set()
    while True:
        for fd, _ in watch.poll():
            if fd == woken:
                _drain(woken)
                _reap_runs(runs)
                continue
            request = _receive(control) if fd == control_fd else None
            if request is None:  # the server is gone, or done
                os._exit(0)
            run = _start_run(*request, own)
            if run:
                runs.add(run)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _reap_runs(runs: set[int]) -> None:
    """Collect the runs' reapers that ended, and SIGKILL any other child: the orphans of a run's reaper
    killed outright come here (this process is a subreaper too), with nobody left to end them."""
    ended: dict[int, int] = {}
    _reap(ended)
    runs.difference_update(ended)
    for pid in _children():
        if pid not in runs:
            _kill(pid, signal.SIGKILL)


def _receive(control: Any) -> tuple[list[int], bytes] | None:
    """The next request: its descriptors and its data; None at the socket's end."""
    import _socket

    header, ancillary, _, _ = control.recvmsg(_HEADER_BYTES, _socket.CMSG_SPACE(_REQUEST_FDS * 4),
                                              _socket.MSG_CMSG_CLOEXEC)  # fmt: skip
    fds = []
    for level, kind, data in ancillary:
        if (level, kind) == (_socket.SOL_SOCKET, _socket.SCM_RIGHTS):
            fds += [int.from_bytes(data[i : i + 4], sys.byteorder) for i in range(0, len(data) - 3, 4)]
    if header:
        header += _read(control, _HEADER_BYTES - len(header))
    payload = _read(control, int.from_bytes(header, "big")) if len(header) == _HEADER_BYTES else None
    if payload is None or len(payload) < int.from_bytes(header, "big"):
        for fd in fds:
            os.close(fd)
        return None
    return fds, payload


def _read(control: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = control.recv(min(size - len(data), 1 << 20))
        if not chunk:
            break
        data += chunk
    return data


def _start_run(fds: list[int], payload: bytes, own: tuple[int, ...]) -> int | None:
    """The run's reaper, forked: its pid. Its descriptors are its alone: they are closed here."""
    zygote = os.getpid()
    run = None
    if len(fds) == _REQUEST_FDS:  # else not a request of the server's: nothing to start
        try:
            run = os.fork()
        except OSError as exc:
            _say(fds[4], f"Ethe reaper could not fork: {exc}".encode())
        if run == 0:
            try:
                _run(zygote, payload, fds, own)
            except BaseException as exc:
                os.write(2, f"agent-mcp: the run's reaper failed: {exc!r}\n".encode())
            os._exit(1)
    for fd in fds:
        os.close(fd)
    return run


def _say(report: int, message: bytes, pidfd: int | None = None) -> bool:
    """One message on the run's report socket (with a descriptor); False if nobody reads it anymore."""
    import _socket

    sock = _socket.socket(fileno=report)
    try:
        if pidfd is None:
            sock.send(message)
        else:
            sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pidfd.to_bytes(4, sys.byteorder))])
    except OSError:
        return False
    finally:
        sock.detach()
    return True


def _run(zygote: int, payload: bytes, fds: list[int], own: tuple[int, ...]) -> None:
    """The run's reaper, in the forked child: it starts claude, waits for it, ends every process of
    the run, reports claude's status and exits. It never returns into the long-lived reaper."""
    signal.set_wakeup_fd(-1)
    for fd in own:
        os.close(fd)
    for sig in (KILL_ALL, signal.SIGHUP):  # the server cancels; its terminal's end closes
        signal.signal(sig, _end_all)
    # claude gets SIGTERM and SIGINT itself (they go to the whole group); this process waits for it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    statuses: dict[int, int] = {}
    claude = -1
    try:
        claude = _start_claude(zygote, payload, fds)
        while claude not in statuses:
            pid, status = os.waitpid(-1, 0)
            statuses[pid] = status
        _end_all(0, None)
    except _EndAll:
        pass
    _kill_everything(statuses)
    _say(fds[4], b"S%d" % statuses.get(claude, signal.SIGKILL))  # none, or ended here: "killed"
    os._exit(0)


def _start_claude(zygote: int, payload: bytes, fds: list[int]) -> int:
    """The run's reaper made a subreaper and told to end the run when its parent dies (KILL_ALL),
    then claude forked in the run's own session, under the PTY, in the directory that was checked
    (by descriptor, not whatever its path names now)."""
    import marshal

    terminal, stdin, stdout, cwd, report = fds
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, KILL_ALL)
    if os.getppid() != zygote:  # the long-lived reaper died before the flag was set
        raise _EndAll
    executable, argv, env = marshal.loads(payload)
    try:
        os.login_tty(terminal)  # a session of its own: the PTY its controlling terminal, and its 0, 1, 2
        os.fchdir(cwd)
        claude = _fork_claude(executable, argv, env, {0: stdin, 1: stdout}, False, 127)
    except OSError as exc:
        _say(report, f"E{type(exc).__name__}: {exc}".encode())
        os._exit(0)
    for fd in (cwd, stdin, stdout):  # claude's now: its input ends when claude stops reading it
        os.close(fd)
    pidfd = os.pidfd_open(os.getpid())
    if not _say(report, b"P%d" % os.getpid(), pidfd):  # nobody waits for this run: it ends
        raise _EndAll
    os.close(pidfd)
    return claude


# --- on an SSH host -------------------------------------------------------------------------------
#
# There the server runs this file as `python3 -I -S -c <this file> remote CWD NAME=VALUE... -- CLAUDE ARGS`
# (ssh.py): nothing of agent-mcp need be installed on the host. It is claude's parent and a subreaper
# as here, and ends the run when claude exits, when it is signalled, and when the connection is gone:
# sshd's end of claude's stdout closes (the write end then polls as an error) or sshd itself dies
# (the parent-death signal). claude's stdout is a socket it relays to sshd's pipe (_socketpair says
# why). Exit codes of its own: CLAUDE_MISSING and CWD_UNUSABLE.

CLAUDE_MISSING = 120
CWD_UNUSABLE = 121
_TERM_GRACE_S = 1.0


def _search(name: str, path: str) -> str | None:
    candidates = [name] if "/" in name else [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def remote(argv: list[str]) -> None:
    cwd, rest = argv[0], argv[1:]
    split = rest.index("--")
    env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE" and not k.startswith("AGENT_MCP_")}
    env.update(item.split("=", 1) for item in rest[:split])  # type: ignore[misc]
    command = rest[split + 1 :]
    for sig in (KILL_ALL, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, _end_all)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, KILL_ALL)  # sshd gone, the run goes
    try:
        os.chdir(cwd)
    except OSError as exc:
        os.write(
            2, f"agent-mcp: the agent's cwd {cwd!r} is not a usable directory on this host: {exc.strerror}\n".encode()
        )
        os._exit(CWD_UNUSABLE)
    executable = _search(command[0], env.get("PATH", "/usr/bin:/bin"))
    if executable is None:
        os.write(2, f"agent-mcp: the claude CLI {command[0]!r} was not found on this host's PATH\n".encode())
        os._exit(CLAUDE_MISSING)
    events, stream = _socketpair()
    # its own group, which can be ended where /proc cannot be read; 127 stays the shell's: python3 missing
    claude = _fork_claude(executable, [executable, *command[1:]], env, {1: stream}, True, CLAUDE_MISSING)
    os.close(stream)
    os.close(0)  # the prompt is claude's to read
    statuses: dict[int, int] = {}
    try:
        _relay_until_exit(claude, events, statuses)
        _end_all(0, None)
    except _EndAll:
        pass
    _end_run(claude, statuses)
    _relay_rest(events)
    status = statuses.get(claude, int(signal.SIGKILL))
    # ssh reports a remote death by signal as its own failure (255): a code says it plainly
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


def _socketpair() -> tuple[int, int]:
    """claude's stdout is a socket, relayed to sshd's pipe here: a tool on the host can open that
    pipe again through /proc/<claude's pid>/fd/1 and write into the stream; a socket cannot be."""
    import _socket  # socket's own API, without socket's enums

    ours, theirs = _socket.socketpair()
    ours.shutdown(1)  # SHUT_WR: the events go one way only
    theirs.shutdown(0)  # SHUT_RD
    ours.setblocking(False)
    return ours.detach(), theirs.detach()


def _relay_until_exit(claude: int, events: int, statuses: dict[int, int]) -> None:
    """Pass claude's output on to sshd until claude exits. Woken by output, by a child's exit (SIGCHLD,
    through the wakeup pipe) or by the output's error, not by a timer: the run's end is seen at once."""
    import select

    woken, _ = _wakeup_pipe()
    watch = select.poll()
    watch.register(1, 0)  # errors only: sshd's end of the output closed
    watch.register(woken, select.POLLIN)
    watch.register(events, select.POLLIN)
    _reap(statuses)
    while claude not in statuses:
        for fd, _ in watch.poll(1000):
            if fd == 1:
                _end_all(0, None)
            elif fd == events:
                if not _relay(events):
                    watch.unregister(events)
            else:
                os.read(woken, 512)
        _reap(statuses)


def _relay(events: int) -> bool:
    """What claude wrote, passed on whole; False at the output's end."""
    try:
        data = os.read(events, 1 << 16)
    except BlockingIOError:
        return True
    _pass_on(data)
    return bool(data)


def _pass_on(data: bytes) -> None:
    """Written whole to sshd; sshd gone, the run ends."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(1, view) :]
    except OSError:
        _end_all(0, None)


def _relay_rest(events: int) -> None:
    """Once every process of the run is gone, what they wrote and nobody has passed on yet: read until
    nothing more waits (not until its end, which a process stuck in the kernel could hold back)."""
    try:
        while True:
            try:
                data = os.read(events, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                return
            _pass_on(data)
    except _EndAll:
        pass


def _end_run(claude: int, statuses: dict[int, int]) -> None:
    if claude not in statuses:  # ended from outside: claude gets its SIGTERM and a moment
        _kill(claude, signal.SIGTERM)
        deadline = time.monotonic() + _TERM_GRACE_S
        while claude not in statuses and time.monotonic() < deadline:
            _reap(statuses)
            time.sleep(0.02)
    try:  # noqa: SIM105 (contextlib would cost every run its import)
        os.killpg(claude, signal.SIGKILL)  # what stayed in claude's group, on any host
    except (ProcessLookupError, PermissionError):
        pass
    _kill_everything(statuses)


if __name__ == "__main__":
    main(sys.argv[1:])
