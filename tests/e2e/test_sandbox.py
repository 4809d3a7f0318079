"""Sandboxed agents through the server: create_agent's sandbox argument and the server's default,
what a tool in the box can reach of the server (its store, its environment with the bearer token),
the server killed outright with a box running, and the real claude CLI in a box."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from conftest import DOUBLE, STATS, script
from helpers import AGENT_MCP, claude_processes, connect, ok, refused, server_pid
from test_real_cli import real_env  # noqa: F401 (the fixture)

pytestmark = pytest.mark.anyio


@pytest.fixture
def boxed_env(claude_env: dict[str, str], bwrap: str) -> dict[str, str]:
    """A server with a token in its environment (as an HTTP server has), its CLI's state made."""
    (Path(claude_env["HOME"]) / ".claude").mkdir(exist_ok=True)
    return {**claude_env, "AGENT_MCP_TOKEN": "server-token-0123456789"}


@pytest.mark.attack
async def test_a_boxed_tool_reads_neither_the_store_nor_the_servers_token(tmp_path, boxed_env, no_leaks):
    work = tmp_path / "work"
    work.mkdir()
    state = Path(boxed_env["AGENT_MCP_STATE_DIR"])
    probe = script(
        work / "probe.sh",
        f"{{ cat /proc/*/environ; cat {state}/*; ls -A {state}; ls /proc; }} > report.txt 2>&1\n",
    )
    async with connect(boxed_env) as client:
        info = await ok(client, "create_agent", name="boxed", role="r", cwd=str(work), sandbox=True)
        plain = await ok(client, "create_agent", name="plain", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="boxed", message=f"MOCK_RUN={probe}")
        server = server_pid(boxed_env)
    assert info["sandbox"] is True and "sandbox" not in plain
    assert reply["is_error"] is False
    report = (work / "report.txt").read_text()
    assert "server-token-0123456789" not in report and "SQLite format" not in report
    assert str(server) not in report.split()  # the server is not among the box's processes
    assert (state / "agent-mcp.sqlite3").read_bytes().startswith(b"SQLite format")  # there all along, outside


async def test_the_server_default_and_a_refusal_where_no_box_can_be_made(tmp_path, boxed_env):
    async with connect({**boxed_env, "AGENT_MCP_SANDBOX": "1"}) as client:
        info = await ok(client, "create_agent", name="boxed", role="r", cwd=str(tmp_path))
        opted_out = await ok(client, "create_agent", name="plain", role="r", cwd=str(tmp_path), sandbox=False)
    assert info["sandbox"] is True and "sandbox" not in opted_out
    async with connect(boxed_env, "--bwrap-bin", str(tmp_path / "missing-bwrap")) as client:
        text = await refused(client, "create_agent", name="boxed2", role="r", cwd=str(tmp_path), sandbox=True)
    assert text.startswith("[sandbox_unavailable] ") and "apt-get install bubblewrap" in text


async def test_a_server_killed_outright_leaves_nothing_of_a_box(tmp_path, boxed_env, no_leaks):
    work = tmp_path / "work"
    work.mkdir()
    linger = script(work / "linger.sh", "setsid sleep 300 &\nsleep 300 &\necho up > started\nsleep 300\n")
    with contextlib.suppress(Exception):  # the server dies under the client
        async with connect(boxed_env) as client:
            await ok(client, "create_agent", name="boxed", role="r", cwd=str(work), sandbox=True)
            await ok(client, "start_message", agent="boxed", message=f"MOCK_RUN={linger}")
            with anyio.fail_after(20):
                while not (work / "started").exists():
                    await anyio.sleep(0.05)
            assert len(claude_processes(boxed_env)) >= 5  # the reaper, bwrap twice, the double, the script, sleeps
            os.kill(server_pid(boxed_env), signal.SIGKILL)
            killed_at = time.monotonic()
            while claude_processes(boxed_env) and time.monotonic() - killed_at < 5:
                await anyio.sleep(0.05)
            assert claude_processes(boxed_env) == []
    STATS["faults"] += 1


async def test_the_real_claude_cli_answers_and_uses_a_tool_in_its_box(tmp_path, real_env, bwrap, no_leaks):  # noqa: F811
    env, _ = real_env
    (Path(env["HOME"]) / ".claude").mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir()
    async with connect(env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(work), sandbox=True,
                 permission_mode="acceptEdits")  # fmt: skip
        first = await ok(client, "send_message", agent="dev", message="run MOCK_TOOL")
        written = await ok(client, "send_message", agent="dev", message=f"MOCK_WRITE={work / 'from-claude.txt'}")
        refused_write = await ok(client, "send_message", agent="dev", message="MOCK_WRITE=/var/tmp/boxed-claude.txt")
    assert first["is_error"] is False and first["text"].endswith("TOOL_RESULT:hi-from-tool"), first
    assert written["session_id"] == first["session_id"] and (work / "from-claude.txt").exists()
    assert refused_write["is_error"] is False and not Path("/var/tmp/boxed-claude.txt").exists()


def doctor(env: dict[str, str], *args: str) -> list[str]:
    done = subprocess.run([AGENT_MCP, "doctor", *args], capture_output=True, text=True, env=env, timeout=120)
    return [" ".join(line.split()) for line in done.stdout.splitlines()]


def test_doctor_checks_bubblewrap_when_sandboxing_is_on(tmp_path, claude_env, bwrap):
    assert not any(" sandbox " in line for line in doctor(claude_env))  # off: nothing to check
    assert "ok sandbox bubblewrap (bwrap) makes a box" in doctor(claude_env, "--sandbox")
    lines = doctor({**claude_env, "AGENT_MCP_SANDBOX": "1"}, "--bwrap-bin", str(tmp_path / "no-bwrap"))
    [problem] = [line for line in lines if line.startswith("PROBLEM sandbox")]
    assert "not found" in problem
    assert any(line.startswith("fix: bubblewrap") and "apt-get install bubblewrap" in line for line in lines)


async def test_a_sandboxed_agent_on_a_host_runs_boxed_there(ssh_hosts, claude_env, bwrap, no_leaks):
    h1 = ssh_hosts.start("h1")
    (h1.home / ".claude").mkdir(exist_ok=True)
    work, theirs = h1.home / "work", h1.home / "theirs"
    for path in (work, theirs):
        path.mkdir()
    (theirs / "secret.txt").write_text("THEIR-SECRET")
    kept = h1.home / ".local" / "state" / "agent-mcp"  # what agent-mcp keeps on the host: hidden too
    kept.mkdir(parents=True)
    (kept / "kept.txt").write_text("KEPT")
    probe = script(work / "probe.sh", f"{{ ls -A {theirs} {kept}; cat {theirs}/secret.txt; }} > report.txt 2>&1\n")
    # The host's own `claude` lies under /tmp here, which a box hides (its /tmp is private): the double's
    # own path, as a CLI installed in a plain place is.
    env = {**claude_env, "AGENT_MCP_HOSTS": "h1=2", "AGENT_MCP_SSH_CONFIG": str(ssh_hosts.config),
           "AGENT_MCP_REMOTE_CLAUDE": str(DOUBLE)}  # fmt: skip
    lines = doctor(env, "--sandbox")
    assert "ok host h1 sandbox bubblewrap (bwrap) makes a box" in lines, "\n".join(lines)
    async with connect(env) as client:
        await ok(client, "create_agent", name="other", role="r", cwd=str(theirs), host="h1")
        info = await ok(client, "create_agent", name="boxed", role="r", cwd=str(work), host="h1", sandbox=True)
        pid = await ok(client, "send_message", agent="boxed", message="MOCK_ECHO_PID")
        await ok(client, "send_message", agent="boxed", message=f"MOCK_RUN={probe}")
    assert info["sandbox"] is True and info["host"] == "h1"
    assert int(pid["text"].rsplit("pid=", 1)[1].split()[0]) < 10  # in a PID namespace of its own, there
    report = (work / "report.txt").read_text()
    assert "THEIR-SECRET" not in report and "kept.txt" not in report, report
    async with connect(env, "--bwrap-bin", "/nowhere/bwrap") as client:
        text = await refused(client, "create_agent", name="nobox", role="r", cwd=str(work), host="h1", sandbox=True)
    assert text.startswith("[sandbox_unavailable] ") and "on host 'h1'" in text and "--bwrap-bin" in text
