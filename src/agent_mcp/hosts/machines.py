"""The machine an agent's files are on: this one, or an SSH host. What worktree.py does to a
repository (git, a few file operations) it does through one of these, so a worktree is made the
same way on either."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Protocol

import anyio
from anyio.abc import ByteReceiveStream, Process

from agent_mcp.core.errors import InvalidInput
from agent_mcp.core.host_specs import Host
from agent_mcp.hosts.ssh import REAPER_SOURCE, Done, SshLinks, text_of
from agent_mcp.processes import reaper
from agent_mcp.processes.reaper import CLAUDE_MISSING, KILL_ALL

Kind = Literal["dir", "file", "symlink"] | None

_KIND = 'if [ -L "$1" ]; then echo symlink; elif [ -d "$1" ]; then echo dir; elif [ -e "$1" ]; then echo file; fi'
_RESOLVE = (
    'for d do case $d in "~") d=$HOME;; "~/"*) d=$HOME/${d#"~/"};; esac; '
    'cd -- "$d" && printf "%s\\0" "$(pwd -P)" || exit 1; done'
)
"""Each directory argument (`~` is the login's home there), entered and printed as the host resolves
it (NUL-terminated)."""
_HOME = 'printf %s "$HOME"'
_EXISTING = 'for d do [ -d "$d" ] && printf "%s\\0" "$d"; done; exit 0'
_WITHOUT = 'p=$1; shift; for v in $(env | sed -n "s/^\\($p[A-Za-z0-9_]*\\)=.*/\\1/p"); do unset "$v"; done; exec "$@"'
"""Runs the rest of its arguments without any variable whose name starts with its first."""
_REAPER = reaper.__file__
HOST_PYTHON = "python3"


class Machine(Protocol):
    label: str
    """How messages name it: "the server's machine" or "host 'x'"."""

    async def run(self, argv: list[str], env: Mapping[str, str], unset_prefix: str) -> Done:
        """argv with the variables in env set, and every variable whose name starts with unset_prefix
        removed."""

    async def kind(self, path: str) -> Kind: ...

    async def remove(self, path: str) -> None: ...

    async def make_dirs(self, path: str) -> None: ...

    async def real_dir(self, path: str) -> str:
        """A directory's path with every symlink resolved."""

    async def worktrees_dir(self, state_dir: Path) -> str:
        """Where the agents' worktrees go on this machine."""


async def _outputs(process: Process) -> tuple[bytes, bytes]:
    """Its stdout and stderr once it has exited. Cancelled (a create_agent call given up), its reaper
    is told to end the run (KILL_ALL), so git's own children (`git reset`) end too: anyio's own
    clean-up would SIGKILL the reaper and leave them behind. Its output is still read meanwhile (a
    reaper with more to pass on than a pipe holds would wait for that), for a few seconds at most."""
    out, err = bytearray(), bytearray()
    try:
        await _collect(process, out, err)
    except BaseException:
        with anyio.CancelScope(shield=True), anyio.move_on_after(ENDING_S):
            process.send_signal(KILL_ALL)
            await _collect(process, bytearray(), bytearray())
        raise
    return bytes(out), bytes(err)


ENDING_S = 5.0


async def _collect(process: Process, out: bytearray, err: bytearray) -> None:
    async def drain(stream: ByteReceiveStream | None, into: bytearray) -> None:
        if stream is not None:
            async for chunk in stream:
                into += chunk

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(drain, process.stdout, out)
        tasks.start_soon(drain, process.stderr, err)
        await process.wait()


class _Local:
    label = "the server's machine"

    async def run(self, argv: list[str], env: Mapping[str, str], unset_prefix: str) -> Done:
        """argv runs as a claude process does, under reaper.py (here in the mode a host uses, which
        needs no terminal): the kernel tells that reaper when the server dies, even by SIGKILL, and
        it ends argv and all it started (`git worktree add` starts a `git reset` that fills the
        checkout). A fork of the server running code before its exec (preexec_fn) could deadlock on
        a lock another of its threads held; this exec's Python at once."""
        full = {key: value for key, value in os.environ.items() if not key.startswith(unset_prefix)} | dict(env)
        executable = shutil.which(argv[0], path=full.get("PATH", os.defpath))
        if executable is None:
            return Done(127, "", f"{argv[0]}: not found")
        command = [sys.executable, "-I", "-S", "-B", _REAPER, "remote", "/", "--", executable, *argv[1:]]
        try:
            process = await anyio.open_process(command, env=full, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise InvalidInput(f"could not run {argv[0]} on {self.label}: {exc.strerror}") from None
        async with process:
            out, err = await _outputs(process)
        return Done(process.returncode or 0, text_of(out), text_of(err))

    async def kind(self, path: str) -> Kind:
        p = Path(path)
        return "symlink" if p.is_symlink() else "dir" if p.is_dir() else "file" if p.exists() else None

    async def remove(self, path: str) -> None:
        kind = await self.kind(path)
        if kind == "dir":
            shutil.rmtree(path)
        elif kind is not None:
            os.unlink(path)

    async def make_dirs(self, path: str) -> None:
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file or a dangling symlink on the way, no permission
            raise InvalidInput(f"could not make the directory {path!r} on {self.label}: {exc.strerror}") from None

    async def real_dir(self, path: str) -> str:
        return str(Path(path).resolve())

    async def worktrees_dir(self, state_dir: Path) -> str:
        return str(state_dir / "worktrees")


LOCAL: Machine = _Local()


class RemoteMachine:
    def __init__(self, host: Host, links: SshLinks, timeout_s: float) -> None:
        self.host, self.links, self.timeout_s = host, links, timeout_s
        self.label = f"host {host.alias!r}"

    async def run(self, argv: list[str], env: Mapping[str, str], unset_prefix: str) -> Done:
        """argv under the host's reaper, as a run there: what it started ends when the connection
        goes (sshd's end of its output closes), so with this server, however it ends."""
        reaper = [HOST_PYTHON, "-I", "-S", "-c", REAPER_SOURCE, "remote", ".", *(f"{k}={v}" for k, v in env.items())]
        done = await self.links.run(self.host, ["sh", "-c", _WITHOUT, "sh", unset_prefix, *reaper, "--", *argv],
                                    self.timeout_s)  # fmt: skip
        if done.code in (127, CLAUDE_MISSING) and not done.out:  # python3 missing, or argv[0]
            raise InvalidInput(f"could not run {argv[0]} on {self.label}: {done.err}")
        return done

    async def _sh(self, script: str, *paths: str) -> Done:
        return await self.links.run(self.host, ["sh", "-c", script, "sh", *paths], self.timeout_s)

    async def kind(self, path: str) -> Kind:
        out = (await self._sh(_KIND, path)).out
        return out if out in ("dir", "file", "symlink") else None  # type: ignore[return-value]

    async def remove(self, path: str) -> None:
        await self.links.run(self.host, ["rm", "-rf", "--", path], self.timeout_s)

    async def make_dirs(self, path: str) -> None:
        done = await self.links.run(self.host, ["mkdir", "-p", "--", path], self.timeout_s)
        if done.code != 0:
            raise InvalidInput(f"could not make the directory {path!r} on {self.label}: {done.err}")

    async def real_dir(self, path: str) -> str:
        return (await self.real_dirs([path]))[0]

    async def real_dirs(self, paths: list[str]) -> list[str]:
        """Every one resolved in one command; InvalidInput names the first that is no directory."""
        done = await self._sh(_RESOLVE, *paths)
        resolved = done.out.split("\0")[:-1] if done.out.endswith("\0") else done.out.split("\0")
        if done.code != 0 or len(resolved) != len(paths):
            bad = paths[min(len(resolved), len(paths) - 1)]
            raise InvalidInput(
                f"{bad!r} is not a usable directory on {self.label} ({done.err or 'no message'}); give an existing "
                "directory there"
            )
        return resolved

    async def worktrees_dir(self, state_dir: Path) -> str:
        """Under the host login's home, one directory per state directory of this machine (two
        servers with their own stores keep apart there as here)."""
        digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
        return f"{host_state_dir(await self.home())}/worktrees-{digest}"

    async def home(self) -> str:
        """The login's home there, as its $HOME says."""
        home = (await self._sh(_HOME)).out
        if not home.startswith("/"):
            raise InvalidInput(f"the login on {self.label} has no home directory")
        return home

    async def existing_dirs(self, paths: list[str]) -> list[str]:
        """Those of the paths that are directories there, in one command."""
        if not paths:
            return []
        return [path for path in (await self._sh(_EXISTING, *paths)).out.split("\0") if path]


def host_state_dir(home: str) -> str:
    """What agent-mcp keeps on a host (its worktrees), under the login's home."""
    return f"{home.rstrip('/')}/.local/state/agent-mcp"
