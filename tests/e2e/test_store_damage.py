"""A damaged store: found at start-up, reported in one line on stderr with the fix, never written.
doctor runs SQLite's integrity check and names the same fix."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from helpers import AGENT_MCP, connect, names, ok

pytestmark = [pytest.mark.anyio, pytest.mark.attack]


def truncate(path: Path) -> None:
    path.write_bytes(b"")


def scribble_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"this is no SQLite")


def scribble_pages(path: Path) -> None:
    """Garbage over the pages after the first two: the header still reads as SQLite."""
    with path.open("r+b") as f:
        f.seek(2 * 4096)
        f.write(bytes(range(256)) * 64)


async def store_with_agents(tmp_path: Path, env: dict[str, str]) -> Path:
    async with connect(env) as client:
        for i in range(40):
            await ok(client, "create_agent", name=f"agent-{i}", role="a role that fills pages " * 20, cwd=str(tmp_path))
    path = Path(env["AGENT_MCP_STATE_DIR"]) / "agent-mcp.sqlite3"
    assert path.stat().st_size > 4 * 4096
    return path


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (truncate, "is empty (0 bytes), so it was truncated"),
        (scribble_header, "is damaged (file is not a database)"),
        (scribble_pages, "is damaged"),
    ],
    ids=["truncated", "header", "pages"],
)
async def test_a_damaged_store_stops_the_server_with_one_line_and_is_left_alone(
    tmp_path, claude_env, no_leaks, damage, said
):
    path = await store_with_agents(tmp_path, claude_env)
    damage(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    served = subprocess.run([AGENT_MCP], env=claude_env, input="", capture_output=True, text=True, timeout=60)
    assert served.returncode == 1
    [line] = served.stderr.splitlines()
    assert said in line and f"mv {path} {path}.damaged" in line, line

    doctor = subprocess.run([AGENT_MCP, "doctor"], env=claude_env, capture_output=True, text=True, timeout=60)
    assert doctor.returncode == 1
    assert said in doctor.stdout and "fix: agent-mcp left it as it is: move it aside" in doctor.stdout
    assert "writable" not in doctor.stdout
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before

    path.rename(path.with_name(path.name + ".damaged"))  # the fix the line gave
    async with connect(claude_env) as client:
        assert await names(client) == []


async def test_doctor_finds_no_problem_in_a_sound_store(tmp_path, claude_env, no_leaks):
    await store_with_agents(tmp_path, claude_env)
    doctor = subprocess.run([AGENT_MCP, "doctor"], env=claude_env, capture_output=True, text=True, timeout=60)
    assert "40 agents" in doctor.stdout and "PROBLEM  store" not in doctor.stdout
