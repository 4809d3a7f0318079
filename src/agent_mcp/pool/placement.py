"""Agents on SSH hosts: where one is placed, what is checked there, and the command that runs it.

State stays on this machine (the store, transcripts, replies); a remote agent's claude, its
session files and its working directory live on its host. A run there is the same claude argv as
here, handed to reaper.py on the host (sent along as `python3 -c`, so nothing of agent-mcp is
installed there), which enters the cwd, starts claude and ends everything the run started when
claude exits or the connection goes. The local process of the run is `ssh`, under the same
reaper and PTY as a local claude, so cancel, timeouts and the server's death end it as they end a
local run; its end closes the session, and the host's reaper ends the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from agent_mcp.core import validation
from agent_mcp.core.errors import InvalidInput, PolicyRefusal
from agent_mcp.core.host_specs import Host, choose, listed
from agent_mcp.core.models import AgentOptions
from agent_mcp.hosts.machines import LOCAL, Machine, RemoteMachine
from agent_mcp.hosts.ssh import REAPER_SOURCE, SshLinks
from agent_mcp.store.database import Store

PYTHON = "python3"
_PASSED_ENV = ("AGENT_MCP_DEPTH", "AGENT_MCP_MAX_DEPTH")
"""What of this machine's child environment reaches claude on a host: the depth that stops nested
pools. Nothing else (API keys included): the host's claude runs with the host's login."""


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

    def command(self, host: Host, cwd: str, claude_argv: list[str], env: Mapping[str, str]) -> list[str]:
        """The local argv of a run on the host: ssh, then reaper.py there, then claude's argv (built
        for the host's claude, --remote-claude)."""
        passed = [f"{key}={env[key]}" for key in _PASSED_ENV if key in env]
        argv = [PYTHON, "-I", "-S", "-c", REAPER_SOURCE, "remote", cwd, *passed, "--", *claude_argv]
        return self.links.command(host, argv)


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
