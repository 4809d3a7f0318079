"""Agents on SSH hosts: where one is placed and what is checked there (hosts/launcher.py runs it).

State stays on this machine (the store, transcripts, replies); a remote agent's CLI, its session
files and its working directory live on its host.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agent_mcp.core import validation
from agent_mcp.core.errors import InvalidInput, PolicyRefusal
from agent_mcp.core.host_specs import Host, choose, listed
from agent_mcp.core.models import AgentOptions
from agent_mcp.hosts.machines import LOCAL, Machine, RemoteMachine
from agent_mcp.hosts.ssh import SshLinks
from agent_mcp.store.database import Store


@dataclass(frozen=True)
class Placed:
    host: Host
    cwd: str
    add_dirs: list[str] | None


class Remote:
    """The listed hosts and the connections to them."""

    def __init__(self, hosts: tuple[Host, ...], links: SshLinks, command_timeout_s: float) -> None:
        self.hosts = hosts
        self.links = links
        self.command_timeout_s = command_timeout_s

    def host(self, alias: str) -> Host:
        return listed(self.hosts, alias)

    def machine(self, host: Host) -> RemoteMachine:
        return RemoteMachine(host, self.links, self.command_timeout_s)

    def machine_of(self, alias: str | None) -> Machine:
        """Where an agent's files are: this machine, or the host it was placed on."""
        return LOCAL if alias is None else self.machine(self.host(alias))

    def pick(self, wanted: str, store: Store) -> Host:
        """The listed host named, or for "auto" the one with the most free slots now."""
        agents = store.agents.all()
        where = {agent.name.casefold(): agent.host for agent in agents if agent.host is not None}
        busy: Counter[str] = Counter()
        for name, counts in store.runs.active_counts().items():
            if name in where:
                busy[where[name]] += counts.running + counts.queued
        return choose(self.hosts, wanted, busy, Counter(where.values()))

    async def place(self, host: Host, cwd: str, options: AgentOptions) -> Placed:
        """The cwd (and add_dirs) checked on the host, as the host resolves them."""
        paths = [cwd, *(options.add_dirs or ())]
        for what, path in zip(["cwd", *["add_dirs entry"] * len(paths)], paths, strict=False):
            if not (path.startswith(("/", "~/")) or path == "~") or "\x00" in path:
                raise InvalidInput(
                    f"{what} {path!r} is not an absolute path; give one as it is on host {host.alias!r} (or one "
                    "under ~/, the login's home there)"
                )
        resolved = await self.machine(host).real_dirs(paths)
        return Placed(host, resolved[0], resolved[1:] if options.add_dirs is not None else None)


def check_remote_options(options: AgentOptions) -> AgentOptions:
    """The options' own checks; their paths are the host's, checked there (Remote.place)."""
    if isinstance(options.mcp_config, str):
        raise PolicyRefusal(
            "mcp_config as a file path is not taken for an agent on a host (the file would be read there); "
            "give the configuration as an object"
        )
    return validation.check_options(options.model_copy(update={"add_dirs": None}), ()).model_copy(
        update={"add_dirs": options.add_dirs}
    )
