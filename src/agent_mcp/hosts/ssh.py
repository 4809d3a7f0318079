"""The way to the hosts: OpenSSH's client, one master connection per host, commands through it.

ssh does what a user's ssh does (their ~/.ssh/config, agent, known_hosts, jump hosts), with
BatchMode so it fails rather than prompts. Each host gets one master connection, kept by this
server as a child of its own (it dies with the server: the parent-death signal), with its socket
under the state directory; every run and command is a session multiplexed over it, so none pays
for a handshake. A master that is gone (the connection dropped) is started again by the next use.

The remote command is always `shlex.join` of an argv (the host's shell splits it back into the
same words): no value of an agent, message or caller is ever read by that shell as syntax, and no
value reaches ssh as an option (the destination follows `--`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from agent_mcp.core.errors import HostUnreachable
from agent_mcp.core.host_specs import Host
from agent_mcp.processes import reaper
from agent_mcp.processes.reaper import PR_SET_PDEATHSIG

log = logging.getLogger(__name__)

REAPER_SOURCE = Path(reaper.__file__).read_text()
SOCKET_PATH_MAX = 107 - 17 - 21
"""The longest socket directory: a Unix socket's path holds at most 107 bytes, ssh adds a 17-byte
suffix while it binds, and a socket's own name is at most 21."""
LOST = 255
"""ssh's exit code when the connection failed or dropped."""
REAP_S = 1.0
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/+-]+")
"""A path ssh takes as it is: ControlPath expands `%` tokens, and a space would split the option."""
_HARDENED = (
    "-a", "-x", "-T", "-e", "none",  # no agent forwarding, no X11, no terminal, no escape character
    "-o", "BatchMode=yes", "-o", "ClearAllForwardings=yes", "-o", "PermitLocalCommand=no",
    "-o", "RemoteCommand=none", "-o", "ForkAfterAuthentication=no",
)  # fmt: skip
"""Whatever the user's ssh config says for a host, an agent there gets no way back to this machine or
onwards (no forwarded agent or ports), nothing prompts, and the command is ours."""


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


_prctl = ctypes.CDLL(None, use_errno=True).prctl
"""Resolved here, not in the forked child: a fork of a process with threads may not dlopen (a lock
another thread held at the fork stays held)."""


def _die_with_server() -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def socket_dir(state_dir: Path) -> Path:
    """Under the state directory, or, when that path is too long for a socket, a private directory
    of this user's in /tmp named for it (checked to be this user's alone)."""
    own = state_dir / "ssh"
    if len(str(own)) <= SOCKET_PATH_MAX and _PLAIN_PATH.fullmatch(str(own)):
        own.mkdir(mode=0o700, parents=True, exist_ok=True)
        return own
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    short = Path("/tmp") / f"agent-mcp-{os.getuid()}-{digest}"
    with contextlib.suppress(FileExistsError):
        short.mkdir(mode=0o700)
    info = short.lstat()
    if not short.is_dir() or short.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise HostUnreachable(f"the ssh socket directory {short} is not this user's alone; remove it")
    return short


class SshLinks:
    """The master connections of one pool, one per host, and the commands run through them."""

    def __init__(self, state_dir: Path, ssh_config: Path | None, connect_timeout_s: float) -> None:
        self.state_dir = state_dir
        self.ssh_config = ssh_config
        self.connect_timeout_s = connect_timeout_s
        self._masters: dict[str, subprocess.Popen[bytes]] = {}
        self._locks: dict[str, anyio.Lock] = {}

    @functools.cached_property
    def _socket_dir(self) -> Path:
        """Made (and checked) once, at the first command: every command names its socket."""
        return socket_dir(self.state_dir)

    def control_path(self, alias: str) -> Path:
        name = hashlib.sha256(alias.casefold().encode()).hexdigest()[:12]
        return self._socket_dir / f"{name}-{os.getpid()}"

    def _options(self, host: Host) -> list[str]:
        config = ["-F", str(self.ssh_config)] if self.ssh_config is not None else []
        timeout = max(1, round(self.connect_timeout_s))
        return ["ssh", *config, *_HARDENED, "-o", f"ConnectTimeout={timeout}",
                "-o", f"ControlPath={self.control_path(host.alias)}"]  # fmt: skip

    def command(self, host: Host, argv: list[str]) -> list[str]:
        """The local argv that runs `argv` on the host, in the login's home, over the master."""
        return [*self._options(host), "-o", "ControlMaster=no", "--", host.destination, "exec " + shlex.join(argv)]

    async def ensure(self, host: Host) -> None:
        """The host's master connection is up, started now if need be; HostUnreachable with ssh's
        own words when it cannot be."""
        lock = self._locks.setdefault(host.alias, anyio.Lock())
        async with lock:
            master = self._masters.get(host.alias)
            path = self.control_path(host.alias)
            if master is not None and master.poll() is None and path.exists():
                return
            if master is not None:
                self._stop(host.alias)
            await self._start(host, path)

    async def _start(self, host: Host, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a socket left by a master that is gone
        log_path = path.with_name(path.name + ".log")
        argv = [*self._options(host), "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-N", "--",
                host.destination]  # fmt: skip
        with open(log_path, "wb") as log_file:
            try:
                master = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file,
                    preexec_fn=_die_with_server, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                raise HostUnreachable(f"could not run ssh to reach host {host.alias!r}: {exc.strerror}") from None
        self._masters[host.alias] = master
        deadline = time.monotonic() + self.connect_timeout_s + 5
        while not path.exists():
            if master.poll() is not None or time.monotonic() > deadline:
                said = log_path.read_text(errors="replace").strip()[-1500:] or "no message"
                self._stop(host.alias)
                raise HostUnreachable(
                    f"could not reach host {host.alias!r} over ssh: {said}. Check that `ssh {host.alias}` works "
                    "without a prompt (a key in the agent, the host in ~/.ssh/config and known_hosts)"
                )
            await anyio.sleep(0.02)
        log.info("connected to host %s (master pid %d)", host.alias, master.pid)

    def _stop(self, alias: str) -> None:
        master = self._masters.pop(alias, None)
        if master is not None and master.poll() is None:
            master.terminate()
            try:
                master.wait(2)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
        path = self.control_path(alias)
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + ".log").unlink()

    async def reap(self) -> None:
        """A master whose connection dropped exits on its own: it is collected within a second rather
        than left a zombie until the host's next message."""
        while True:
            await anyio.sleep(REAP_S)
            for master in list(self._masters.values()):
                master.poll()

    def close(self) -> None:
        """Every master ends: each session over it (and so each run on its host) goes with it."""
        for alias in list(self._masters):
            self._stop(alias)

    async def run(self, host: Host, argv: list[str], timeout_s: float) -> Done:
        """A short command on the host (a check, git): its exit code and output."""
        await self.ensure(host)
        with anyio.move_on_after(timeout_s) as deadline:
            done = await anyio.run_process(self.command(host, argv), check=False, stdin=subprocess.DEVNULL)
        if deadline.cancelled_caught:
            raise HostUnreachable(f"host {host.alias!r} did not finish {argv[0]} within {timeout_s:g} s")
        result = Done(done.returncode, text_of(done.stdout), text_of(done.stderr))
        if result.code == LOST:
            raise HostUnreachable(f"lost the connection to host {host.alias!r}: {result.err or 'no message'}")
        return result


def text_of(output: bytes) -> str:
    return output.decode("utf-8", "replace").strip()
