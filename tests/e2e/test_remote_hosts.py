"""Remote hosts end to end: the installed server reaching real sshd's on loopback (ssh_hosts.py),
`agent-mcp doctor` checking each host, and a server that dies or stops leaving nothing running there."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import anyio
import pytest
from conftest import sessions_dir
from helpers import AGENT_MCP, call, connect, ok, real_client, refused, server_pid
from mock_api import MockAnthropic
from test_real_cli import QUIET, REAL_CLAUDE

pytestmark = pytest.mark.anyio


def with_hosts(env: dict[str, str], ssh_hosts, hosts: str) -> dict[str, str]:
    return {**env, "AGENT_MCP_HOSTS": hosts, "AGENT_MCP_SSH_CONFIG": str(ssh_hosts.config)}


async def gone(host, seconds: float = 5) -> None:
    with anyio.fail_after(seconds):
        while host.processes():
            await anyio.sleep(0.05)


def test_doctor_checks_every_host(ssh_hosts, claude_env):
    ssh_hosts.start("h1")
    bare = ssh_hosts.start("bare", {"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": ""})
    ssh_hosts.add_unreachable("down")
    env = with_hosts(claude_env, ssh_hosts, "h1=2,bare=1,down=1")
    done = subprocess.run([AGENT_MCP, "doctor"], capture_output=True, text=True, env=env, timeout=120)
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stdout
    assert "ok host h1 reachable (cap 2)" in lines
    assert "ok host h1 claude 2.1.197 (Claude Code)" in lines
    assert "ok host h1 logged in yes (ANTHROPIC_API_KEY is set)" in lines
    assert "PROBLEM host bare claude 'claude' not found on the login's PATH" in lines
    assert any(line.startswith("unknown host bare logged in") for line in lines)
    [down] = [line for line in lines if line.startswith("PROBLEM host down ")]
    assert "Connection refused" in down
    assert any("fix: make `ssh down` work without a prompt" in line for line in lines)
    assert lines[-1] == "2 problem(s) found"
    assert not bare.processes()


async def test_the_tools_place_agents_on_hosts_and_list_them_there(ssh_hosts, claude_env, tmp_path, no_leaks):
    h1 = ssh_hosts.start("h1")
    (h1.home / "work").mkdir()
    env = with_hosts(claude_env, ssh_hosts, "h1=2")
    async with connect(env) as client:
        info = await ok(client, "create_agent", name="remote", role="r", cwd=str(h1.home / "work"), host="h1")
        local = await ok(client, "create_agent", name="local", role="r", cwd=str(tmp_path))
        assert info["host"] == "h1" and "host" not in local  # lean: no host means this machine
        reply = await ok(client, "send_message", agent="remote", message="hi MOCK_ECHO_ENV=TEST_SSH_HOST")
        assert "TEST_SSH_HOST=h1" in reply["text"]
        listed = {a["name"]: a for a in (await ok(client, "list_agents"))["agents"]}
        assert listed["remote"]["host"] == "h1" and "host" not in listed["local"]
        text = await refused(client, "create_agent", name="x", role="r", cwd="/tmp", host="elsewhere")
        assert text.startswith("[policy] host 'elsewhere' is not one this server may use")
        result = await call(client, "send_message", agent="remote", message="MOCK_SLEEP=30", timeout_s=1)
        assert result.is_error and result.content[0].text.startswith("[timed_out]")
    await gone(h1)


async def test_a_server_killed_with_sigkill_leaves_nothing_running_on_the_host(ssh_hosts, claude_env, no_leaks):
    h1 = ssh_hosts.start("h1")
    (h1.home / "work").mkdir()
    env = with_hosts(claude_env, ssh_hosts, "h1=2")
    with contextlib.suppress(Exception):  # the server dies under the client
        async with connect(env) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(h1.home / "work"), host="h1")
            await ok(client, "create_agent", name="idle", role="r", cwd=str(h1.home / "work"), host="h1")
            await ok(client, "send_message", agent="idle", message="stay warm")
            started = await ok(client, "start_message", agent="dev", message="MOCK_ESCAPE MOCK_SLEEP=30")
            with anyio.fail_after(10):
                while (await ok(client, "get_run", run_id=started["run_id"]))["status"] != "running":
                    await anyio.sleep(0.05)
            await anyio.sleep(0.5)
            assert len(h1.processes()) >= 4  # two reapers, two claudes (one warm), the escaped child
            os.kill(server_pid(env), signal.SIGKILL)
            await gone(h1)
    await gone(h1)


async def test_a_server_that_stops_ends_its_runs_on_the_host(ssh_hosts, claude_env, no_leaks):
    h1 = ssh_hosts.start("h1")
    (h1.home / "work").mkdir()
    env = with_hosts(claude_env, ssh_hosts, "h1=2")
    async with connect(env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(h1.home / "work"), host="h1")
        await ok(client, "start_message", agent="dev", message="MOCK_ESCAPE MOCK_IGNORE_TERM MOCK_SLEEP=30")
        with anyio.fail_after(10):
            while len(h1.processes()) < 3:
                await anyio.sleep(0.05)
    await gone(h1, 6)


async def test_the_real_cli_on_a_host_answers_resumes_and_uses_tools(ssh_hosts, claude_env, tmp_path, no_leaks):
    """The real claude (tests/clients) as the host's claude, against the loopback mock API: on a
    host its stdout is sshd's pipe rather than a terminal, and the stream is the same."""
    real_client("claude", "the real claude CLI")
    with MockAnthropic() as api:
        host_env = {**QUIET, "ANTHROPIC_BASE_URL": api.url}
        h1 = ssh_hosts.start("h1", host_env, claude=REAL_CLAUDE)
        (h1.home / "work").mkdir()
        env = with_hosts(claude_env, ssh_hosts, "h1=1")
        async with connect(env) as client:
            await ok(client, "create_agent", name="dev", role="says hello", cwd=str(h1.home / "work"), host="h1")
            first = await ok(client, "send_message", agent="dev", message="hello MOCK_TEXT")
            second = await ok(client, "send_message", agent="dev", message="second turn MOCK_TOOL")
        assert first["text"] == api.replies[0] and first["text"].endswith("Last user text tail: hello MOCK_TEXT")
        assert (first["input_tokens"], first["output_tokens"]) == (120, 42)
        assert second["session_id"] == first["session_id"] and second["text"].endswith("TOOL_RESULT:hi-from-tool")
        assert (sessions_dir({"HOME": str(h1.home)}, h1.home / "work") / f"{first['session_id']}.jsonl").exists()
        *_, last = api.main_requests()
        assert api.user_texts(last)[0] == "hello MOCK_TEXT"
    await gone(h1)
