"""The box: an agent's CLI under bubblewrap, seeing its own directories and nothing of the server's.

A SandboxLauncher wraps another launcher (the local one, or the SSH one: then the box is made on the
host, by the host's bwrap): it turns the CLI's argv into `bwrap <the view> -- argv` and hands that on,
so the reaper, the PTY, cancel and timeouts work on the box as on the bare CLI. The box has its own
PID namespace (nothing outside it can be seen or signalled; the whole box dies with its first
process, and --die-with-parent ends it with the run's reaper), a new session (no controlling
terminal a tool could push input into) and the network of the machine (the CLI needs its API).

Its filesystem is the machine's, read-only, with a private /tmp, the hidden directories (the
server's state directory, the other agents' directories) replaced by empty ones, and the agent's
own directories (its cwd, add_dirs, worktree, its CLI's state) mounted back writable. Where one
lies inside another, the deeper one decides: an agent's cwd under /tmp or under a hidden directory
is still its own, and another agent's directory inside it is still hidden.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from agent_mcp.core.errors import RunFailed, box_unavailable
from agent_mcp.processes.launcher import CliMissing, Launcher, Workplace
from agent_mcp.processes.process import AgentProcess, ExecutableNotFound, ProcessExit

FIXED = ("--unshare-pid", "--new-session", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev",
         "--proc", "/proc")  # fmt: skip
"""Every box: its own PID namespace, no controlling terminal, ended with its parent, the machine read-only."""
PRIVATE_TMP = "/tmp"
CANNOT_EXEC = b"bwrap: execvp "
"""How bwrap says, on its stderr (the run's terminal), that the command it was to run is missing."""


@dataclass(frozen=True)
class BoxView:
    """What one agent's box shows of the machine's files (absolute, resolved paths)."""

    own: tuple[str, ...]
    """Writable: its cwd, add_dirs, worktree and its repository's git directory, its CLI's state.
    Those that do not exist are left out (bwrap's --bind-try)."""
    hidden: tuple[str, ...]
    """Not visible at all (an empty directory in their place): existing directories only."""
    read_only: tuple[str, ...] = ()
    """Read-only again inside its own ones: a git directory's hooks and config, which would run code
    outside the box the next time anyone runs git there. Those that do not exist are left out."""


OWN, HIDDEN, READ_ONLY = "own", "hidden", "read-only"


def _mounts(view: BoxView) -> list[tuple[str, str]]:
    """(path, how) from the shallowest to the deepest, each decided by the nearest mount above it: one
    that changes nothing (hidden inside hidden, own inside own, read-only where nothing is own) is left
    out."""
    wanted: dict[PurePosixPath, str] = {PurePosixPath(PRIVATE_TMP): HIDDEN}
    wanted.update((PurePosixPath(path), HIDDEN) for path in view.hidden)
    wanted.update((PurePosixPath(path), OWN) for path in view.own)  # own wins over hidden at the same path
    wanted.update((PurePosixPath(path), READ_ONLY) for path in view.read_only)
    kept: dict[PurePosixPath, str] = {}
    for path in sorted(wanted, key=lambda p: (len(p.parts), str(p))):
        above = next((kept[parent] for parent in path.parents if parent in kept), READ_ONLY)  # the machine's
        if above != wanted[path]:
            kept[path] = wanted[path]
    return [(str(path), how) for path, how in kept.items()]


def box_argv(bwrap: str, view: BoxView, cwd: str, argv: list[str]) -> list[str]:
    """The argv that runs `argv` in its box, in `cwd` (which the view must make its own)."""
    mounts: list[str] = []
    for path, how in _mounts(view):
        mounts += {
            OWN: ["--bind-try", path, path],
            HIDDEN: ["--tmpfs", path],
            READ_ONLY: ["--ro-bind-try", path, path],
        }[how]
    return [bwrap, *FIXED, *mounts, "--chdir", cwd, "--", *argv]


class SandboxLauncher:
    """Another launcher's processes, each in the agent's box."""

    def __init__(self, inner: Launcher, bwrap: str, view: BoxView) -> None:
        self.inner = inner
        self.bwrap = bwrap
        self.view = view
        self.host: str | None = inner.host

    async def start(self, agent: str, argv: list[str], workplace: Workplace, env: Mapping[str, str]) -> AgentProcess:
        view = replace(self.view, read_only=self.view.read_only + self._launch_tops(argv[0], env))
        try:
            return await self.inner.start(agent, box_argv(self.bwrap, view, workplace.cwd, argv), workplace, env)
        except ExecutableNotFound:
            raise self._missing(agent) from None

    def _launch_tops(self, executable: str, env: Mapping[str, str]) -> tuple[str, ...]:
        """Where the CLI starts from, when the box's private /tmp would hide it (a checkout under /tmp):
        the top directory under /tmp of the executable and, here, of its real path and of each PATH entry
        (its interpreter is found there), read-only. A hidden directory inside one stays hidden."""
        found = [executable]
        if self.host is None:
            found += [os.path.realpath(executable), *env.get("PATH", "").split(os.pathsep)]
        tops = {
            str(PurePosixPath(*path.parts[:3]))
            for path in map(PurePosixPath, found)
            if path.is_absolute() and len(path.parts) > 2 and path.parts[1] == PRIVATE_TMP.strip("/")
        }
        return tuple(sorted(tops))

    def failure(self, outcome: ProcessExit, agent: str, cwd: str) -> RunFailed | CliMissing | None:
        """What the inner launcher calls the CLI missing is bwrap missing (it is the command run
        there); bwrap failing to start the CLI inside the box is the CLI missing."""
        said = self.inner.failure(outcome, agent, cwd)
        if isinstance(said, CliMissing):
            return self._missing(agent)
        if said is None and outcome.returncode == 1 and CANNOT_EXEC in outcome.tail:
            return CliMissing()
        return said

    def _missing(self, agent: str) -> RunFailed:
        where = "here" if self.host is None else f"on host {self.host!r}"
        return RunFailed(
            "sandbox_unavailable", f"agent {agent!r} runs in a sandbox: {box_unavailable(self.bwrap, where)}"
        )
