"""Shared fixtures: the claude double, an isolated HOME for its sessions, and a leak check.

Every process a test starts carries a marker in its environment, so the leak check finds it even
after it has been re-parented (a grandchild whose parent died).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

DOUBLE = Path(__file__).parent / "fake_claude.py"
MARK = "AGENT_MCP_TEST_MARK"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def marked_processes(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def claude_env(tmp_path: Path) -> dict[str, str]:
    """The environment a server (and so the double) runs with: its own HOME and a dummy API key."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "AGENT_MCP_"))}
    env.update(
        HOME=str(home),
        ANTHROPIC_API_KEY="sk-ant-api03-dummy",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        AGENT_MCP_CLAUDE_BIN=str(DOUBLE),
        AGENT_MCP_STATE_DIR=str(tmp_path / "state"),
        **{MARK: uuid.uuid4().hex},
    )
    return env


@pytest.fixture
def no_leaks(claude_env: dict[str, str]):
    """Fails the test if any process it started outlives it (after a short grace for exits in flight)."""
    yield
    mark = claude_env[MARK]
    deadline = time.monotonic() + 3
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def sessions_dir(env: dict[str, str], cwd: Path) -> Path:
    """Where the double (like the CLI) keeps the transcripts of sessions started in cwd."""
    import re

    return Path(env["HOME"]) / ".claude" / "projects" / re.sub(r"[^a-zA-Z0-9]", "-", str(cwd.resolve()))
