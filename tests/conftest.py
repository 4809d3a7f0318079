"""Shared fixtures: the claude double, an isolated HOME for its sessions, and a leak check.

Every process a test starts carries a marker in its environment, so the leak check finds it even
after it has been re-parented (a grandchild whose parent died).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest

from agent_mcp.core.config import Settings
from agent_mcp.core.models import AgentInfo, AgentList
from agent_mcp.pool.pool import AgentPool

DOUBLE = Path(__file__).parent / "fake_claude.py"
CODEX_DOUBLE = Path(__file__).parent / "fake_codex.py"
GEMINI_DOUBLE = Path(__file__).parent / "fake_gemini.py"
MARK = "PYTEST_PROCESS_MARK"  # not AGENT_MCP_*: agent-mcp keeps those from its children

# The adversarial tests count what they did; the suite prints it as one line at its end. Each test
# marked `attack` is one attack written as a hostile caller, repository or agent would make it.
STATS = {"scenarios": 0, "bad_inputs": 0, "faults": 0, "leaked": 0, "attacks": 0, "attacks_repelled": 0}


def pytest_runtest_logreport(report) -> None:  # type: ignore[no-untyped-def]
    if report.when == "call" and "attack" in report.keywords:
        STATS["attacks"] += 1
        STATS["attacks_repelled"] += report.passed


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if STATS["scenarios"] or STATS["attacks"]:
        terminalreporter.write_line(
            f"adversarial: {STATS['scenarios']} scenarios run, {STATS['bad_inputs']} bad inputs tried, "
            f"{STATS['faults']} faults survived, {STATS['attacks_repelled']} of {STATS['attacks']} attacks "
            f"repelled, processes leaked: {STATS['leaked']}"
        )


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
def codex_env(claude_env: dict[str, str]) -> dict[str, str]:
    """claude_env with the codex double as the codex CLI, its home and a dummy key (claude agents work too)."""
    codex_home = Path(claude_env["HOME"]) / ".codex"
    codex_home.mkdir()
    return {**claude_env, "CODEX_HOME": str(codex_home), "CODEX_API_KEY": "sk-test-dummy",
            "AGENT_MCP_CODEX_BIN": str(CODEX_DOUBLE)}  # fmt: skip


@pytest.fixture
def gemini_env(codex_env: dict[str, str]) -> dict[str, str]:
    """codex_env with the gemini double as the gemini CLI, logged in with an API key (claude and codex
    agents work too)."""
    gemini_home = Path(codex_env["HOME"]) / ".gemini"
    gemini_home.mkdir()
    (gemini_home / "settings.json").write_text('{"security":{"auth":{"selectedType":"gemini-api-key"}}}')
    return {**codex_env, "GEMINI_API_KEY": "dummy", "AGENT_MCP_GEMINI_BIN": str(GEMINI_DOUBLE)}


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
    STATS["leaked"] += len(left)
    assert not left, f"processes left behind: {left}"


def check_leaks_after(request: pytest.FixtureRequest) -> None:
    """For a fixture that runs a pool or server: a test that checks for leaks checks once it is
    closed (its warm processes end with it), not before."""
    if "no_leaks" in request.fixturenames:
        request.getfixturevalue("no_leaks")


@pytest.fixture
async def make_pool(tmp_path, request):
    """Pools running for the length of the test (their runs execute in the pool's task group).
    A test that checks for leaks checks once its pools are closed (warm processes end with them)."""
    check_leaks_after(request)
    async with AsyncExitStack() as stack:

        async def factory(env: dict[str, str], claude_bin: str = str(DOUBLE), **settings: object) -> AgentPool:
            settings.setdefault("state_dir", tmp_path / "state")
            pool = AgentPool(Settings(claude_bin=claude_bin, **settings), env)  # type: ignore[arg-type]
            return await stack.enter_async_context(pool.running())

        yield factory


@pytest.fixture
def bwrap() -> str:
    """bubblewrap, which sandboxed agents run in (CI installs Debian's bubblewrap)."""
    import shutil

    found = shutil.which("bwrap")
    if found is None:
        if os.environ.get("AGENT_MCP_REQUIRE_REAL_CLIENTS"):
            pytest.fail("bubblewrap is required here (apt-get install bubblewrap)")
        pytest.skip("needs bubblewrap (Debian: bubblewrap)")
    return found


@pytest.fixture
def ssh_hosts(tmp_path: Path, claude_env: dict[str, str]):
    """Real sshd's on loopback, started by the test (ssh_hosts.py)."""
    from ssh_hosts import SshHosts, sshd_available

    if not sshd_available():
        if os.environ.get("AGENT_MCP_REQUIRE_REAL_CLIENTS"):
            pytest.fail("OpenSSH's sshd is required here (apt-get install openssh-server)")
        pytest.skip("needs OpenSSH's sshd (Debian: openssh-server)")
    hosts = SshHosts(tmp_path / "ssh", {MARK: claude_env[MARK]})
    yield hosts
    hosts.close()


async def listed(pool: AgentPool) -> list[AgentInfo]:
    """The agents as list_agents returns them, validated against its output model."""
    return AgentList.model_validate((await pool.listing()).data).agents


def transcript(env: dict[str, str], cwd: Path, session_id: str) -> list[dict]:
    path = sessions_dir(env, cwd) / f"{session_id}.jsonl"
    return [json.loads(line) for line in path.read_text().split("\n") if line]  # JSON lines end at \n only


def sessions_dir(env: dict[str, str], cwd: Path) -> Path:
    """Where the double (like the CLI) keeps the transcripts of sessions started in cwd."""
    import re

    return Path(env["HOME"]) / ".claude" / "projects" / re.sub(r"[^a-zA-Z0-9]", "-", str(cwd.resolve()))


def person(*answers: dict | str | None, asked: list[str] | None = None):  # type: ignore[no-untyped-def]
    """An elicitation callback that answers in turn, as a person would: a dict is accepted content,
    "decline" declines, None never answers. `asked` collects the questions."""
    from mcp import types

    queue = list(answers)

    async def answer(context, params: types.ElicitRequestParams) -> types.ElicitResult:  # type: ignore[no-untyped-def]
        if asked is not None:
            asked.append(params.message)
        reply = queue.pop(0)
        if reply is None:
            await anyio.sleep(3600)
        if reply == "decline":
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content=reply)  # type: ignore[arg-type]

    return answer


def script(path: Path, body: str) -> Path:
    """A program of the repository's (a shell script), as an agent's Bash tool would run it."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | 0o100)
    return path


def alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
