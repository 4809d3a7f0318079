"""The SSH launcher: an agent's CLI run on its host, through the local launcher.

A run there is the same argv as here, handed to reaper.py on the host (sent along as `python3 -c`, so
nothing of agent-mcp is installed there), which enters the cwd, starts the CLI and ends everything the
run started when the CLI exits or the connection goes. The local process of the run is `ssh`, under
the same reaper and PTY as a local CLI, so cancel, timeouts and the server's death end it as they end
a local run; its end closes the session, and the host's reaper ends the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent_mcp.core.entries import clean_text
from agent_mcp.core.environment import PASSED_TO_HOSTS
from agent_mcp.core.errors import HostUnreachable, RunFailed
from agent_mcp.core.host_specs import Host
from agent_mcp.hosts.ssh import LOST, REAPER_SOURCE, SshLinks
from agent_mcp.processes.launcher import CliMissing, Workplace
from agent_mcp.processes.local import LocalLauncher
from agent_mcp.processes.process import AgentProcess, ExecutableNotFound, ProcessExit
from agent_mcp.processes.reaper import CLAUDE_MISSING, CWD_UNUSABLE

PYTHON = "python3"


def remote_command(links: SshLinks, host: Host, cwd: str, argv: list[str], env: Mapping[str, str]) -> list[str]:
    """The local argv of a run on the host: ssh, then reaper.py there, then the CLI's argv (built for
    the host's CLI)."""
    passed = [f"{key}={env[key]}" for key in PASSED_TO_HOSTS if key in env]
    return links.command(host, [PYTHON, "-I", "-S", "-c", REAPER_SOURCE, "remote", cwd, *passed, "--", *argv])


class SshLauncher:
    def __init__(self, local: LocalLauncher, links: SshLinks, host: Host) -> None:
        self.local = local
        self.links = links
        self.remote = host
        self.host: str | None = host.alias

    async def start(self, agent: str, argv: list[str], workplace: Workplace, env: Mapping[str, str]) -> AgentProcess:
        try:
            await self.links.ensure(self.remote)
        except HostUnreachable as exc:
            raise RunFailed("host_unreachable", f"agent {agent!r} cannot run: {exc}") from None
        try:
            return await self.local.start(
                agent, remote_command(self.links, self.remote, workplace.cwd, argv, env), workplace, env
            )
        except ExecutableNotFound:
            raise RunFailed("host_unreachable", "ssh is not installed on the server's machine") from None

    def failure(self, outcome: ProcessExit, agent: str, cwd: str) -> RunFailed | CliMissing | None:
        """ssh's 255 is the connection, reaper.py's own codes are what it found there, the rest is the CLI's."""
        alias, tail = self.remote.alias, clean_text(outcome.tail)
        if outcome.returncode == LOST:
            return RunFailed(
                "connection_lost",
                f"the connection to host {alias!r} was lost while agent {agent!r} worked; what ran there was "
                "ended. The agent keeps its session on the host: send the message again to resume it",
                tail,
            )
        if outcome.returncode == CLAUDE_MISSING:
            return CliMissing()
        if outcome.returncode == CWD_UNUSABLE:
            return RunFailed(
                "crashed",
                f"agent {agent!r}'s cwd {cwd!r} is no longer a usable directory on host {alias!r}; "
                "recreate it there, or delete the agent",
                tail,
            )
        if outcome.returncode == 127:
            return RunFailed(
                "crashed",
                f"could not start agent {agent!r} on host {alias!r}: it needs python3 there (agent-mcp "
                "starts its CLI through it)",
                tail,
            )
        return None
