"""What every end-to-end test needs: the installed command, a client, and the processes it started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from conftest import MARK, marked_processes, sessions_dir
from mcp import Client, StdioServerParameters

AGENT_MCP = str(Path(sys.executable).parent / "agent-mcp")
MIB = 1024 * 1024


@asynccontextmanager
async def connect(env: dict[str, str], *args: str, mode: str = "auto", **client_options):
    params = StdioServerParameters(command=AGENT_MCP, args=list(args), env=env)
    async with Client(params, read_timeout_seconds=60, mode=mode, **client_options) as client:  # type: ignore[arg-type]
        yield client


async def call(client, tool: str, progress=None, **arguments):
    return await client.call_tool(tool, arguments, progress_callback=progress)


async def ok(client, tool: str, **arguments) -> dict:
    result = await call(client, tool, **arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def refused(client, tool: str, **arguments) -> str:
    result = await call(client, tool, **arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def names(client) -> list[str]:
    return [a["name"] for a in (await ok(client, "list_agents"))["agents"]]


def user_messages(env: dict[str, str], cwd: Path, session_id: str) -> list[str]:
    path = sessions_dir(env, cwd) / f"{session_id}.jsonl"
    entries = [json.loads(line) for line in path.read_text().split("\n") if line]  # JSON lines end at \n only
    return [e["message"]["content"] for e in entries if e["type"] == "user"]


def _marked_commands(env: dict[str, str]) -> dict[int, bytes]:
    """The test's live processes with their command lines. A process that exits between the scan
    and the read of its cmdline (gone: OSError; a zombie: empty) is left out rather than failing
    the test."""
    commands = {}
    for pid in marked_processes(env[MARK]):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if command:
            commands[pid] = command
    return commands


def _is_server(command: bytes) -> bool:
    """The installed command (its interpreter first, from the shebang), not a process that merely
    names agent-mcp somewhere in its arguments (the reaper on an SSH host carries its source)."""
    return any(part.endswith(b"/agent-mcp") for part in command.split(b"\0")[:2])


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _is_servers_reaper(pid: int, command: bytes, servers: set[int]) -> bool:
    """The reaper a server starts once for all its runs (`reaper.py serve`, the server's child),
    which belongs to the server rather than to a run. Each run's reaper is a fork of it: the same
    command line, but that reaper for its parent."""
    parts = command.split(b"\0")[:6]
    return b"serve" in parts and parts[-2].endswith(b"/reaper.py") and _parent(pid) in servers


def server_pid(env: dict[str, str]) -> int:
    [pid] = [pid for pid, command in _marked_commands(env).items() if _is_server(command)]
    return pid


def claude_processes(env: dict[str, str]) -> list[int]:
    """Every live process the server started for the test's runs (the double and anything it spawned,
    and their reapers), not the server itself nor its long-lived reaper."""
    commands = _marked_commands(env)
    servers = {pid for pid, command in commands.items() if _is_server(command)}
    return [pid for pid, command in commands.items()
            if pid not in servers and not _is_servers_reaper(pid, command, servers)]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert process is None or process.poll() is None, "the server exited before it listened"
            assert time.monotonic() < deadline, f"nothing listened on port {port}"
            time.sleep(0.05)


REAL_CLIENTS = Path(__file__).parents[1] / "clients" / "node_modules" / ".bin"


def real_client(name: str, what: str) -> Path:
    """A program from tests/clients: skipped with the reason where absent, a failure where required (CI)."""
    path = REAL_CLIENTS / name
    if not path.exists():
        hint = "run `npm ci --prefix tests/clients`"
        if os.environ.get("AGENT_MCP_REQUIRE_REAL_CLIENTS"):
            pytest.fail(f"{what} is missing ({path}); {hint}")
        pytest.skip(f"{what} is not installed ({path}); {hint}")
    return path
