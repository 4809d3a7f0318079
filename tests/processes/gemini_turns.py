"""One gemini turn on the process layer, as the pool will run a one-shot kind: the process started by the
local launcher with the kind's argv, the message written as the kind frames it and stdin closed, the
output fed to the kind's reader until it is done, then the process ended. Shared by the double's and the
real CLI's process tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from agent_mcp.agents.gemini.kind import GeminiKind, GeminiReader
from agent_mcp.core.models import AgentOptions
from agent_mcp.processes.launcher import Workplace
from agent_mcp.processes.local import LocalLauncher
from agent_mcp.processes.process import AgentProcess, ProcessExit, ProcessRegistry

KIND = GeminiKind()


@dataclass
class Turn:
    reader: GeminiReader
    complete: bool
    exit: ProcessExit


@contextmanager
def launcher() -> Iterator[LocalLauncher]:
    registry = ProcessRegistry()
    try:
        yield LocalLauncher(registry, max_line_bytes=64 << 20)
    finally:
        registry.kill_all()


async def start(
    local: LocalLauncher, executable: str, cwd: Path, env: dict[str, str], resume: str | None = None,
    options: AgentOptions | None = None,
) -> AgentProcess:  # fmt: skip
    argv = KIND.argv(executable, "g", "a reviewer", options or AgentOptions(), resume)
    fd = os.open(cwd, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return await local.start("g", argv, Workplace(fd, str(cwd), options or AgentOptions()), env)
    finally:
        os.close(fd)


async def send(process: AgentProcess, message: str) -> None:
    """The message whole, then stdin closed: gemini reads its prompt to the end of its input."""
    await process.write(KIND.message_frame(message))
    process.close_stdin()


async def take_turn(process: AgentProcess, message: str, resumed: str | None = None, seconds: float = 120) -> Turn:
    reader = KIND.reader(resumed=resumed, awaiting_init=False)

    async def on_line(line: bytes) -> bool:
        reader.feed(line)
        return reader.done

    async with anyio.create_task_group() as group:
        group.start_soon(send, process, message)
        complete = await process.run_turn(b"", on_line, seconds, seconds)
    return Turn(reader, complete, await process.end())
