"""Where an agent's run starts: the one place that tells an agent here from one on a host.

For an agent here: its paths checked again (confinement.py) and its launcher the local one. For an
agent on a host: the host still listed, the local ssh started in the state directory (its paths are
the host's, checked there as the run starts), and its launcher the SSH one. A sandboxed agent's
launcher is the sandbox (processes/sandbox.py) wrapping the one it would otherwise get, with the view
its box has now (boxes.py); the pool only ever sees a Launcher and a Workplace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agent_mcp.core.config import Settings
from agent_mcp.core.errors import HostUnreachable, InvalidInput, OutsideRoots, PolicyRefusal, RunFailed
from agent_mcp.core.host_specs import listed
from agent_mcp.core.rows import AgentRecord
from agent_mcp.hosts.boxes import Boxes
from agent_mcp.hosts.confinement import agent_roots, open_workplace
from agent_mcp.hosts.launcher import SshLauncher
from agent_mcp.hosts.machines import RemoteMachine
from agent_mcp.hosts.ssh import SshLinks
from agent_mcp.processes.launcher import Launcher, Workplace
from agent_mcp.processes.local import LocalLauncher
from agent_mcp.processes.sandbox import BoxView, SandboxLauncher


@dataclass(frozen=True)
class Opened:
    launcher: Launcher
    workplace: Workplace
    executable: str
    """The CLI's executable as the launcher's machine names it."""
    box: BoxView | None = None
    """What its box shows, for a sandboxed agent: a warm process is reused only in the same box."""


class Places:
    def __init__(self, settings: Settings, links: SshLinks, local: LocalLauncher, boxes: Boxes) -> None:
        self.settings = settings
        self.links = links
        self.local = local
        self.boxes = boxes

    async def open(self, agent: AgentRecord, bin_setting: str, remote_bin_setting: str) -> Opened:
        """Raises RunFailed when the agent can no longer run where it was made to. The settings named
        say where its kind's executable is, here and on a host. The caller closes the workplace's
        descriptor."""
        opened = self._unboxed(agent, bin_setting, remote_bin_setting)
        if not agent.sandbox:
            return opened
        try:
            machine = None if agent.host is None else self.machine(agent.host)
            view = await self.boxes.view(agent, machine)
        except (HostUnreachable, InvalidInput) as exc:
            os.close(opened.workplace.cwd_fd)
            raise RunFailed("host_unreachable", f"agent {agent.name!r} cannot run: {exc}") from None
        except BaseException:
            os.close(opened.workplace.cwd_fd)
            raise
        launcher = SandboxLauncher(opened.launcher, self.settings.bwrap_bin, view)
        return Opened(launcher, opened.workplace, opened.executable, view)

    def machine(self, alias: str) -> RemoteMachine:
        return RemoteMachine(listed(self.settings.hosts, alias), self.links, self.settings.timeout_s)

    def _unboxed(self, agent: AgentRecord, bin_setting: str, remote_bin_setting: str) -> Opened:
        if agent.host is None:
            return Opened(self.local, self._here(agent), getattr(self.settings, bin_setting))
        # Still listed? A host dropped from --hosts is reached no more.
        try:
            host = listed(self.settings.hosts, agent.host)
        except PolicyRefusal as exc:
            raise RunFailed("policy", f"refused to run agent {agent.name!r}: {exc}") from None
        here = os.open(self.settings.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        launcher = SshLauncher(self.local, self.links, host)
        workplace = Workplace(cwd_fd=here, cwd=agent.cwd, options=agent.options)
        return Opened(launcher, workplace, getattr(self.settings, remote_bin_setting))

    def _here(self, agent: AgentRecord) -> Workplace:
        roots = self.settings.allowed_roots
        try:
            return open_workplace(agent.cwd, agent.options, agent_roots(roots, agent.worktree))
        except OutsideRoots as exc:
            raise RunFailed(
                "policy",
                f"refused to run agent {agent.name!r}: its {exc.what} now leads to {exc.resolved!r}, outside the "
                f"allowed roots ({', '.join(map(str, roots))}), though it was inside when the agent was created "
                "(a directory replaced by a symlink?). Move it back under the roots, or delete the agent and create "
                "it anew",
            ) from None
        except InvalidInput as exc:
            raise RunFailed(
                "crashed", f"could not start agent {agent.name!r}: {exc}; recreate it, or delete the agent"
            ) from None
