"""The first process of every run: it starts claude and ends every process the run left behind.

Killing claude's process group is not enough: a hook, shell or MCP server that claude started can
leave the group (setsid) and ignore SIGHUP, and when the server itself is killed outright (SIGKILL)
nothing in it runs to clean up. So each run starts here. This process is a child subreaper
(prctl PR_SET_CHILD_SUBREAPER): every descendant of claude whose parent dies is re-parented to it
rather than to init, so it can always find them. It ends them all (SIGKILL, until none is left)
when claude exits, when the server asks (SIGUSR1), and when the server dies: the kernel sends
SIGUSR1 then too (PR_SET_PDEATHSIG), and the terminal's hangup (SIGHUP) means the same. It then
exits as claude did (the same code, or the same signal).

It runs as its own small Python program (`python -I -S reaper.py PARENT_PID`), not a fork of the
server: a fork of a process with threads may only exec. The server's forked child sets the subreaper
flag and the parent-death signal (both survive exec), forks claude, which execs at once, and then
execs this program: its start (a Python interpreter) runs beside claude's, not before it. It imports
only built-in modules (`_signal` rather than `signal`, which imports enum). claude is its first child
(the earliest started: anything else that comes to it descends from claude).
"""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # signal's own API, without signal's enums
import os
import sys
import time

KILL_ALL = signal.SIGUSR1
"""The signal that means: end every process of this run now. The server sends it to cancel a run;
the kernel sends it when the server dies."""
_ROUNDS = 1000


class _EndAll(Exception):
    pass


_ending = False


def _end_all(_signum: int, _frame: object) -> None:
    """Interrupts the wait for claude, once: the server's death brings SIGUSR1 and SIGHUP together,
    and a second raise would land in the clean-up itself."""
    global _ending
    if not _ending:
        _ending = True
        raise _EndAll


def _children() -> list[int]:
    """This process's children (the re-parented included), read from /proc."""
    me = os.getpid()
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


def _started(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 1 << 62


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


def _kill_everything(statuses: dict[int, int]) -> None:
    """SIGKILL every child until none is left: a killed child's own children come to this process
    (the subreaper), and are found in the next round."""
    for _ in range(_ROUNDS):
        _reap(statuses)
        children = _children()
        if not children:
            return
        for pid in children:
            try:  # noqa: SIM105 (contextlib would cost every message its import)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


def _exit_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # their handling cannot be changed (nor needs to be)
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main(argv: list[str]) -> None:
    if argv[0] == "remote":
        remote(argv[1:])
        return
    parent = int(argv[0])
    for sig in (KILL_ALL, signal.SIGHUP):
        signal.signal(sig, _end_all)
    # claude gets SIGTERM and SIGINT itself (they go to the whole group); this process waits for it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    os.close(0)  # the prompt is claude's to read: when it stops reading, the server's writes must fail
    statuses: dict[int, int] = {}
    children = _children()
    claude = min(children, key=_started) if children else -1
    try:
        if os.getppid() != parent:  # the server died before the handlers were in place
            raise _EndAll
        while claude not in statuses and claude != -1:
            pid, status = os.waitpid(-1, 0)
            statuses[pid] = status
        _end_all(0, None)
    except _EndAll:
        pass
    _kill_everything(statuses)
    _exit_like(statuses.get(claude, int(signal.SIGKILL)))  # none, or ended here: "killed"


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


def _child_ended(_signum: int, _frame: object) -> None:
    """Nothing: its arrival writes the wakeup pipe, which is what the wait is for."""


def _search(name: str, path: str) -> str | None:
    candidates = [name] if "/" in name else [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _prctl(option: int, value: int) -> None:
    try:  # Linux; elsewhere claude's process group is what can be ended
        import ctypes

        ctypes.CDLL(None).prctl(option, value)
    except (ImportError, OSError, AttributeError):
        pass


def remote(argv: list[str]) -> None:
    cwd, rest = argv[0], argv[1:]
    split = rest.index("--")
    env = {k: v for k, v in os.environ.items() if k != "CLAUDECODE" and not k.startswith("AGENT_MCP_")}
    env.update(item.split("=", 1) for item in rest[:split])  # type: ignore[misc]
    command = rest[split + 1 :]
    for sig in (KILL_ALL, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, _end_all)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    _prctl(1, KILL_ALL)  # PR_SET_PDEATHSIG: sshd gone, the run goes
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
    claude = _fork_claude(executable, command, env, stream)
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


def _fork_claude(executable: str, command: list[str], env: dict[str, str], stream: int) -> int:
    claude = os.fork()
    if claude == 0:
        try:
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGTERM, signal.SIGINT, KILL_ALL):
                signal.signal(sig, signal.SIG_DFL)
            _prctl(1, signal.SIGKILL)  # it dies with its reaper, as here
            os.setpgid(0, 0)  # a group of its own, which can be ended where /proc cannot be read
            os.dup2(stream, 1)
            os.execve(executable, [executable, *command[1:]], env)
        except BaseException as exc:
            os.write(2, f"agent-mcp could not start {executable}: {exc}\n".encode())
        os._exit(CLAUDE_MISSING)  # 127 stays the shell's: python3 itself missing
    return claude


def _relay_until_exit(claude: int, events: int, statuses: dict[int, int]) -> None:
    """Pass claude's output on to sshd until claude exits. Woken by output, by a child's exit (SIGCHLD,
    through the wakeup pipe) or by the output's error, not by a timer: the run's end is seen at once."""
    import select

    woken, wake = os.pipe()
    os.set_blocking(woken, False)
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, _child_ended)
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
        try:  # noqa: SIM105 (contextlib would cost every message its import)
            os.kill(claude, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + _TERM_GRACE_S
        while claude not in statuses and time.monotonic() < deadline:
            _reap(statuses)
            time.sleep(0.02)
    try:  # noqa: SIM105 (contextlib would cost every message its import)
        os.killpg(claude, signal.SIGKILL)  # what stayed in claude's group, on any host
    except (ProcessLookupError, PermissionError):
        pass
    _kill_everything(statuses)


if __name__ == "__main__":
    main(sys.argv[1:])
