"""For coordinators, end to end: fan-out, waiting on many runs, worktrees, the recursion guard."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import connect, ok, refused

pytestmark = pytest.mark.anyio

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README").write_text("hello\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


async def test_broadcast_then_wait_for_all_with_progress(tmp_path, claude_env, no_leaks):
    progress: list[str] = []

    async def on_progress(_: float, __: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with connect(claude_env) as client:
        for name in ("a", "b", "c"):
            await ok(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
        started = (await ok(client, "broadcast", agents=["a", "b", "c"], message="MOCK_SLEEP=0.5 MOCK_TOOL"))["runs"]
        assert [r["agent"] for r in started] == ["a", "b", "c"]
        assert all(r["status"] in ("queued", "running") for r in started)
        result = await client.call_tool(
            "wait_runs", {"run_ids": [r["run_id"] for r in started]}, progress_callback=on_progress
        )
    waited = result.structured_content
    assert waited["done"] is True
    assert [r["status"] for r in waited["runs"]] == ["done", "done", "done"]
    assert all(r["response"]["text"].startswith("Mock reply #1") for r in waited["runs"])
    assert {"a: Bash: echo hi-from-tool", "b: Bash: echo hi-from-tool", "c: Bash: echo hi-from-tool"} <= set(progress)


async def test_broadcast_of_different_messages_and_wait_for_any(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        for name in ("fast", "slow"):
            await ok(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
        runs = (
            await ok(
                client,
                "broadcast",
                messages=[{"agent": "slow", "message": "MOCK_SLEEP=30"}, {"agent": "fast", "message": "quick"}],
            )
        )["runs"]
        ids = [r["run_id"] for r in runs]
        first = await ok(client, "wait_runs", run_ids=ids, mode="any", wait_s=20)
        timed_out = await ok(client, "wait_runs", run_ids=ids, mode="all", wait_s=0.3)
        for run_id in ids:
            await ok(client, "cancel_run", run_id=run_id)
    assert first["done"] is True
    assert [r["status"] for r in first["runs"]] == ["running", "done"]
    assert first["runs"][1]["response"]["text"] == "Mock reply #1. Last user text tail: quick"
    assert timed_out["done"] is False and timed_out["runs"][0]["status"] == "running"


async def test_fan_out_refusals_start_nothing(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        cases = [
            ("broadcast", {"agents": ["a", "ghost"], "message": "hi"}, "no agent named 'ghost'"),
            ("broadcast", {"messages": [{"agent": "a", "message": "hi"}, {"agent": "a", "message": ""}]}, "empty"),
            ("broadcast", {"agents": ["a"]}, "give agents and message"),
            ("broadcast", {"agents": [], "message": "hi"}, "no agents given"),
            ("broadcast", {"agents": ["a"], "message": "hi", "messages": []}, "not both"),
            ("wait_runs", {"run_ids": []}, "run_ids is empty"),
            ("wait_runs", {"run_ids": ["nope"]}, "no run with id 'nope'"),
            ("wait_runs", {"run_ids": ["nope"], "mode": "some"}, "mode"),
        ]
        for tool, arguments, problem in cases:
            text = await refused(client, tool, **arguments)
            assert problem in text, (tool, arguments, text)
        assert (await ok(client, "get_history", agent="a"))["runs"] == []


async def test_two_agents_edit_one_repository_in_parallel_worktrees(tmp_path, claude_env, no_leaks):
    repo = make_repo(tmp_path / "repo")
    (repo / "src").mkdir()
    async with connect(claude_env) as client:
        infos = [
            await ok(
                client,
                "create_agent",
                name=name,
                role="r",
                cwd=str(repo / "src"),
                worktree=True,
                permission_mode="acceptEdits",
            )
            for name in ("left", "right")
        ]
        runs = (await ok(client, "broadcast", agents=["left", "right"], message="MOCK_WRITE"))["runs"]
        waited = await ok(client, "wait_runs", run_ids=[r["run_id"] for r in runs])
        state = Path(claude_env["AGENT_MCP_STATE_DIR"])
        for info, name in zip(infos, ("left", "right"), strict=True):
            assert info["cwd"] == str(state / "worktrees" / name / "src")
            assert (info["worktree"], info["worktree_branch"], info["worktree_repo"]) == (
                True, f"agent-mcp/{name}", str(repo.resolve()))  # fmt: skip
        changed = [r["response"]["files_changed"] for r in waited["runs"]]
        assert changed == [[str(state / "worktrees" / n / "src" / "mock_written.txt")] for n in ("left", "right")]
        assert not (repo / "src" / "mock_written.txt").exists()  # the shared checkout is untouched

        text = await refused(client, "delete_agent", name="left")
        assert "uncommitted work in its worktree" in text and "force=true" in text
        git(state / "worktrees" / "left", "add", ".")
        git(state / "worktrees" / "left", "commit", "-q", "-m", "left's work")
        assert await ok(client, "delete_agent", name="left") == {"deleted": "left"}
        assert await ok(client, "delete_agent", name="right", force=True) == {"deleted": "right"}
    assert not (state / "worktrees" / "left").exists() and not (state / "worktrees" / "right").exists()
    branches = git(repo, "branch", "--list", "agent-mcp/*")
    assert "agent-mcp/left" in branches and "agent-mcp/right" not in branches  # committed work is kept
    assert "mock_written.txt" in git(repo, "show", "--stat", "agent-mcp/left")


async def test_worktree_needs_a_repository_with_a_commit(tmp_path, claude_env, no_leaks):
    plain = tmp_path / "plain"
    plain.mkdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    async with connect(claude_env) as client:
        assert "not in one" in await refused(client, "create_agent", name="a", role="r", cwd=str(plain), worktree=True)
        assert "has no commit yet" in await refused(
            client, "create_agent", name="a", role="r", cwd=str(empty), worktree=True
        )
        assert (await ok(client, "list_agents"))["agents"] == []


async def test_children_learn_their_depth(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="a", message="MOCK_ECHO_ENV=AGENT_MCP_DEPTH")
    assert reply["text"].splitlines()[-1] == "AGENT_MCP_DEPTH=1"


@pytest.mark.parametrize(("depth", "limit", "refuses"), [("1", None, False), ("2", None, True), ("2", "3", False)])
async def test_a_nested_server_refuses_at_the_depth_limit(tmp_path, claude_env, no_leaks, depth, limit, refuses):
    claude_env["AGENT_MCP_DEPTH"] = depth  # as a server started by an agent of an agent-mcp would see it
    if limit:
        claude_env["AGENT_MCP_MAX_DEPTH"] = limit
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        if refuses:
            for tool, arguments in [
                ("send_message", {"agent": "a", "message": "hi"}),
                ("start_message", {"agent": "a", "message": "hi"}),
                ("broadcast", {"agents": ["a"], "message": "hi"}),
            ]:
                text = await refused(client, tool, **arguments)
                assert "runs at depth 2" in text and "AGENT_MCP_MAX_DEPTH" in text
        else:
            reply = await ok(client, "send_message", agent="a", message="MOCK_ECHO_ENV=AGENT_MCP_DEPTH")
            assert reply["text"].splitlines()[-1] == f"AGENT_MCP_DEPTH={int(depth) + 1}"
