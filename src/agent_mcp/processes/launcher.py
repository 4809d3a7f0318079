"""The launcher seam: start this argv in this directory with this environment, give me its input,
output and exit, and end its whole process tree.

The pool asks a Launcher for a process and never asks where it runs. LocalLauncher (local.py) runs it
here under a PTY with its reaper; the SSH launcher (hosts/launcher.py) runs the same argv on a host
through the local one; a sandbox would wrap another launcher the same way. A launcher also says what
an exit of its own means (a connection lost, a directory gone on the host), so the pool can tell the
caller, in words it can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from agent_mcp.core.errors import RunFailed
from agent_mcp.core.models import AgentOptions
from agent_mcp.processes.process import AgentProcess, ProcessExit


@dataclass(frozen=True)
class Workplace:
    """Where one run works: an open descriptor of the directory its process starts in (the caller
    closes it), the cwd its CLI is told, and the options with their paths resolved as of now."""

    cwd_fd: int
    cwd: str
    options: AgentOptions


@dataclass(frozen=True)
class CliMissing:
    """The exit said: the CLI could not be found (or started) where the launcher ran it."""


class Launcher(Protocol):
    host: str | None
    """Where its processes run: None here, else the host's alias (said in errors)."""

    async def start(self, agent: str, argv: list[str], workplace: Workplace, env: Mapping[str, str]) -> AgentProcess:
        """The process, started. Raises ExecutableNotFound when argv[0] is missing here (the kind
        words it), RunFailed for a failure of the launcher's own."""
        ...

    def failure(self, outcome: ProcessExit, agent: str, cwd: str) -> RunFailed | CliMissing | None:
        """What an exit without an answer means, when it is the launcher's to say (None: the CLI's)."""
        ...
