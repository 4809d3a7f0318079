"""Agents survive restarts, end to end: the store under real servers that stop, die and share it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from datetime import datetime

import anyio
import pytest
from conftest import STATS
from helpers import AGENT_MCP, call, claude_processes, connect, names, ok, refused, server_pid, user_messages

pytestmark = pytest.mark.anyio


async def test_a_new_server_has_every_agent_and_resumes_its_session(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), model="sonnet")
        first = await ok(client, "send_message", agent="dev", message="hello")
        before = (await ok(client, "list_agents"))["agents"]

    async with connect(claude_env) as client:
        after = (await ok(client, "list_agents"))["agents"]
        second = await ok(client, "send_message", agent="dev", message="after restart")
        history = (await ok(client, "get_history", agent="dev"))["runs"]
    assert before[0].pop("warm") is True and "warm" not in after[0]  # its process ended with its server
    assert after == before
    assert after[0]["session_id"] == first["session_id"] and after[0]["message_count"] == 1
    assert second["session_id"] == first["session_id"] and second["text"].startswith("Mock reply #2")
    assert [r["message"] for r in history] == ["after restart", "hello"]
    assert [r["response"]["text"] for r in history] == [second["text"], first["text"]]
    assert all(r["status"] == "done" and r["finished_at"] for r in history)


async def test_sigkill_mid_run_loses_nothing_committed(tmp_path, claude_env, no_leaks):
    with contextlib.suppress(Exception):  # the server dies under the client
        async with connect(claude_env) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            done = await ok(client, "send_message", agent="dev", message="first")
            started = await ok(client, "start_message", agent="dev", message="long MOCK_SLEEP=30")
            with anyio.fail_after(10):
                # Mid-run: the CLI has taken the message into its session (it does that first).
                while user_messages(claude_env, tmp_path, done["session_id"])[-1] != "long MOCK_SLEEP=30":
                    await anyio.sleep(0.05)
            assert (await ok(client, "get_run", run_id=started["run_id"]))["status"] == "running"
            os.kill(server_pid(claude_env), signal.SIGKILL)
            killed_at = time.monotonic()
            while claude_processes(claude_env) and time.monotonic() - killed_at < 5:
                await anyio.sleep(0.05)
            assert claude_processes(claude_env) == []  # claude dies with the server

    async with connect(claude_env) as client:
        [agent] = (await ok(client, "list_agents"))["agents"]
        lost = await ok(client, "get_run", run_id=started["run_id"])
        history = (await ok(client, "get_history", agent="dev"))["runs"]
        after = await ok(client, "send_message", agent="dev", message="are you there?")
    assert (agent["status"], agent["queued"], agent["message_count"]) == ("idle", 0, 1)
    assert agent["session_id"] == done["session_id"]
    assert (lost["status"], lost["error_kind"]) == ("interrupted", "interrupted")
    assert [r["status"] for r in history] == ["interrupted", "done"]
    assert after["session_id"] == done["session_id"] and after["text"].startswith("Mock reply #3")
    STATS["faults"] += 1
    STATS["scenarios"] += 1


async def test_two_servers_share_agents_and_take_turns_on_one(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as a, connect(claude_env) as b:
        await ok(a, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        assert "already exists" in await refused(b, "create_agent", name="Dev", role="r", cwd=str(tmp_path))
        await ok(b, "create_agent", name="other", role="r", cwd=str(tmp_path))
        assert [x["name"] for x in (await ok(a, "list_agents"))["agents"]] == ["dev", "other"]

        replies: dict[str, dict] = {}

        async def send(client, key: str, message: str) -> None:
            replies[key] = await ok(client, "send_message", agent="dev", message=message)

        async with anyio.create_task_group() as tg:
            tg.start_soon(send, a, "a", "from a MOCK_SLEEP=1")
            with anyio.fail_after(10):
                while (await ok(b, "list_agents"))["agents"][0]["status"] != "running":
                    await anyio.sleep(0.05)
            tg.start_soon(send, b, "b", "from b")
        history = (await ok(b, "get_history", agent="dev", full=True))["runs"]
        [dev, _] = (await ok(a, "list_agents"))["agents"]
    assert replies["b"]["session_id"] == replies["a"]["session_id"]
    assert replies["b"]["text"].startswith("Mock reply #2")
    later, earlier = history
    assert datetime.fromisoformat(earlier["finished_at"]) <= datetime.fromisoformat(later["started_at"])
    assert dev["message_count"] == 2


async def test_bad_inputs_of_history_delete_and_reset(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        await ok(client, "start_message", agent="dev", message="long MOCK_SLEEP=30")
        with anyio.fail_after(10):
            while (before := await ok(client, "list_agents"))["agents"][0]["session_id"] is None:
                await anyio.sleep(0.05)
        cases = [
            ("get_history", {"agent": "ghost"}, "no agent named 'ghost'"),
            ("get_history", {"agent": "dev", "limit": 0}, "limit must be between 1 and 1000"),
            ("get_history", {"agent": "dev", "limit": 1001}, "limit must be between 1 and 1000"),
            ("get_history", {"agent": "dev", "limit": "many"}, "limit"),
            ("delete_agent", {"name": "ghost"}, "no agent named 'ghost'"),
            ("delete_agent", {"name": "dev"}, "force=true"),
            ("delete_agent", {"name": "dev", "force": "maybe"}, "force"),
            ("reset_agent", {"name": "ghost"}, "no agent named 'ghost'"),
            ("reset_agent", {"name": "dev"}, "queued or running"),
        ]
        for tool, arguments, problem in cases:
            text = await refused(client, tool, **arguments)
            assert problem in text, (tool, arguments, text)
        after = await ok(client, "list_agents")
        assert after == before
        assert (await ok(client, "delete_agent", name="dev", force=True)) == {"deleted": "dev"}
        assert (await ok(client, "list_agents"))["agents"] == []
        assert claude_processes(claude_env) == []


@pytest.mark.attack
async def test_sigkill_of_the_server_ends_a_grandchild_that_left_the_session(tmp_path, claude_env, no_leaks):
    """A hook's daemon: out of claude's process group, deaf to SIGHUP and SIGTERM. The server is
    killed outright, so nothing in it runs: the run's reaper ends the daemon."""
    with contextlib.suppress(Exception):  # the server dies under the client
        async with connect(claude_env) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            await ok(client, "start_message", agent="dev", message="MOCK_ESCAPE MOCK_IGNORE_TERM MOCK_SLEEP=60")
            while not (tmp_path / "escaped.pid").exists():
                await anyio.sleep(0.05)
            escaped = int((tmp_path / "escaped.pid").read_text())
            assert escaped in claude_processes(claude_env)
            os.kill(server_pid(claude_env), signal.SIGKILL)
            killed_at = time.monotonic()
            while claude_processes(claude_env) and time.monotonic() - killed_at < 5:
                await anyio.sleep(0.05)
    assert claude_processes(claude_env) == []


@pytest.mark.attack
async def test_killing_the_server_inside_create_agent_never_blocks_the_name(tmp_path, claude_env, no_leaks):
    """SIGKILL at moments all through a worktree agent's creation (git creating the worktree, the
    agent not stored yet): the next server still creates the agent, and nothing is left over."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                                 "--allow-empty", "-m", "first"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=repo, check=True)
    refusals: list[str] = []

    async def create(client) -> None:
        result = await call(client, "create_agent", name="dev", role="r", cwd=str(repo), worktree=True)
        if result.is_error:
            refusals.append(result.content[0].text)

    for delay in [i * 0.02 for i in range(10)]:
        with contextlib.suppress(Exception):  # the server dies under the client
            async with connect(claude_env) as client:
                if "dev" in await names(client):  # the last kill came after the agent was stored
                    await ok(client, "delete_agent", name="dev", force=True)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(create, client)
                    await anyio.sleep(delay)
                    os.kill(server_pid(claude_env), signal.SIGKILL)
    async with connect(claude_env) as client:
        if "dev" in await names(client):
            await ok(client, "delete_agent", name="dev", force=True)
        info = await ok(client, "create_agent", name="dev", role="r", cwd=str(repo), worktree=True)
    doctor = subprocess.run([AGENT_MCP, "doctor"], env=claude_env, capture_output=True, text=True, timeout=60)
    assert refusals == []  # no creation was refused for what an earlier one left
    assert info["worktree_branch"] == "agent-mcp/dev"
    listed = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=repo, capture_output=True, text=True)
    assert listed.stdout.count("worktree ") == 2 and "locked" not in listed.stdout  # the repository and the agent's
    branches = subprocess.run(["git", "branch", "--format=%(refname:short)"], cwd=repo, capture_output=True, text=True)
    assert branches.stdout.split() == ["agent-mcp/dev", "main"]
    assert "leftover" not in doctor.stdout


@pytest.mark.attack
async def test_sigkill_of_the_server_ends_its_warm_agents(tmp_path, claude_env, no_leaks):
    """Idle warm processes (and what their turns started) are not left behind by a killed server."""
    with contextlib.suppress(Exception):  # the server dies under the client
        async with connect(claude_env) as client:
            for name in ("a", "b"):
                await ok(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
                await ok(client, "send_message", agent=name, message="MOCK_GRANDCHILD hello")
            assert [agent["warm"] for agent in (await ok(client, "list_agents"))["agents"]] == [True, True]
            assert len(claude_processes(claude_env)) == 6  # per agent: the reaper, the double, its child
            os.kill(server_pid(claude_env), signal.SIGKILL)
            killed_at = time.monotonic()
            while claude_processes(claude_env) and time.monotonic() - killed_at < 5:
                await anyio.sleep(0.05)
    assert claude_processes(claude_env) == []
