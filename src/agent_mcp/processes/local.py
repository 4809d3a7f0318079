"""The local launcher: the process here, under a PTY, its reaper ending everything it starts."""

from __future__ import annotations

from collections.abc import Mapping

from agent_mcp.core.errors import RunFailed
from agent_mcp.processes.launcher import CliMissing, Workplace
from agent_mcp.processes.process import AgentProcess, ProcessExit, ProcessRegistry, ProcessSpec, SpawnFailed


class LocalLauncher:
    host: str | None = None

    def __init__(self, registry: ProcessRegistry, max_line_bytes: int) -> None:
        self.registry = registry
        self.max_line_bytes = max_line_bytes

    async def start(self, agent: str, argv: list[str], workplace: Workplace, env: Mapping[str, str]) -> AgentProcess:
        spec = ProcessSpec(argv=argv, cwd_fd=workplace.cwd_fd, env=dict(env), max_line_bytes=self.max_line_bytes)
        try:
            return AgentProcess(spec, self.registry)
        except SpawnFailed as exc:
            raise RunFailed("crashed", f"could not start {argv[0]!r} in {workplace.cwd}: {exc}") from None

    def failure(self, outcome: ProcessExit, agent: str, cwd: str) -> RunFailed | CliMissing | None:
        return None
