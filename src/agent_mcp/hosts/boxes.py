"""Where a sandboxed agent's box can be made, and what it shows (processes/sandbox.py makes it).

bubblewrap is tried once per machine (this one, each host) by making a box that runs `true`: a
machine without it, or whose kernel refuses the namespaces it needs, is found at create time, and a
machine where it worked is not asked again. Each run's view is built as the run starts, from the
agents as they are then: the agent's own directories writable, and hidden the server's state
directory (or, on a host, what agent-mcp keeps there) and every other agent's directories on the
same machine. Only directories that exist can be hidden (bwrap mounts over them); on a host, which
exist is asked there, in one command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from agent_mcp.core.environment import OWN_PREFIX
from agent_mcp.core.errors import InvalidInput, SandboxUnavailable, box_unavailable
from agent_mcp.core.rows import AgentRecord
from agent_mcp.hosts.machines import LOCAL, RemoteMachine, host_state_dir
from agent_mcp.processes.sandbox import BoxView

PROBE = ("--unshare-pid", "--new-session", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
         "--dev", "/dev", "--", "true")  # fmt: skip
"""A box like an agent's, running `true`: what must work for a sandboxed agent to run."""

StatePaths = Callable[[str, str, Mapping[str, str]], tuple[str, ...]]
"""(the agent's kind, the login's home, its environment) -> the files and directories its CLI keeps
its state in (the kind's state_paths)."""


def directories_of(agent: AgentRecord) -> list[str]:
    """Where an agent works: its cwd, add_dirs, worktree."""
    return [agent.cwd, *(agent.options.add_dirs or ()), *([agent.worktree.path] if agent.worktree else ())]


async def bwrap_problem(bwrap: str, machine: RemoteMachine | None) -> str | None:
    """What went wrong making a box on the machine (None: this one), or None when it worked."""
    try:
        done = await (machine or LOCAL).run([bwrap, *PROBE], {}, OWN_PREFIX)
    except InvalidInput as exc:
        return str(exc)
    if done.code == 0:
        return None
    return (done.err or done.out).strip() or f"exit code {done.code}"


class Boxes:
    """The machines where boxes were made, and each run's view."""

    def __init__(
        self, bwrap: str, state_dir: Path, env: Mapping[str, str], neighbours: Callable[[], Iterable[AgentRecord]],
        state_paths: StatePaths,
    ) -> None:  # fmt: skip
        self.bwrap = bwrap
        self.state_dir = state_dir
        self.env = env
        self.neighbours = neighbours
        """Every agent of the store, as it is now."""
        self.state_paths = state_paths
        self._working: set[str | None] = set()
        """The machines (host aliases; None: this one) where a box was made."""
        self._homes: dict[str, str] = {}
        """Each host's login home, asked once."""

    async def check(self, machine: RemoteMachine | None) -> None:
        """Raises SandboxUnavailable, naming the fixes, when no box can be made there."""
        alias = machine.host.alias if machine else None
        if alias in self._working:
            return
        problem = await bwrap_problem(self.bwrap, machine)
        if problem is not None:
            where = "on the server's machine" if machine is None else f"on host {alias!r}"
            raise SandboxUnavailable("sandbox=true, but " + box_unavailable(self.bwrap, where, problem))
        self._working.add(alias)

    async def view(self, agent: AgentRecord, machine: RemoteMachine | None) -> BoxView:
        """The agent's own directories and its CLI's state writable; the rest of what the server and the
        other agents on its machine keep, hidden."""
        others = [
            path
            for other in self.neighbours()
            if other.host == agent.host and other.name.casefold() != agent.name.casefold()
            for path in directories_of(other)
        ]
        own = directories_of(agent) + ([f"{agent.worktree.repo}/.git"] if agent.worktree else [])
        git_dirs = [path for path in own if path.endswith("/.git")] + [f"{path}/.git" for path in own]
        read_only = [f"{git}/{part}" for git in git_dirs for part in ("hooks", "config")]
        if machine is None:
            home = self.env.get("HOME") or os.path.expanduser("~")
            own += self.state_paths(agent.cli, home, self.env)
            hidden = [path for path in [str(self.state_dir), *others] if os.path.isdir(path)]
            read_only = [path for path in read_only if os.path.exists(path)]  # (a worktree's .git is a file)
            return BoxView(own=tuple(map(os.path.realpath, own)), hidden=tuple(map(os.path.realpath, hidden)),
                           read_only=tuple(map(os.path.realpath, read_only)))  # fmt: skip
        alias = machine.host.alias
        if alias not in self._homes:
            self._homes[alias] = await machine.home()
        home = self._homes[alias]
        own += self.state_paths(agent.cli, home, {})  # the host's environment is its login's
        hooks = [path for path in read_only if path.endswith("/hooks")]  # (a config file: not asked on a host)
        existing = set(await machine.existing_dirs([host_state_dir(home), *others, *hooks]))  # one round trip
        hidden = [path for path in [host_state_dir(home), *others] if path in existing]
        return BoxView(own=tuple(own), hidden=tuple(hidden), read_only=tuple(p for p in hooks if p in existing))
