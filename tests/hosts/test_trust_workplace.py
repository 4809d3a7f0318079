"""Issue 27, points 6 and 7, as attacks: where an agent works (worktrees under --allowed-roots, a cwd
that HEAD makes a symlink) and the lock files the servers share.

Every test here is marked `attack`; the suite's summary line counts them (conftest.STATS).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anyio
import pytest
from conftest import alive, listed

from agent_mcp.core.errors import Busy, InvalidInput, OutsideRoots, PolicyRefusal
from agent_mcp.core.models import AgentOptions
from agent_mcp.core.rows import Worktree
from agent_mcp.hosts.confinement import agent_roots, open_workplace
from agent_mcp.hosts.machines import LOCAL
from agent_mcp.pool._locks import AgentLocks

pytestmark = [pytest.mark.anyio, pytest.mark.attack]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The one allowed root, a repository with a commit in it; `outside` beside it."""
    repo = tmp_path / "root" / "repo"
    repo.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "file.txt").write_text("content\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return (tmp_path / "root").resolve()


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if not p.is_dir())


# --- point 6: a worktree agent works under --allowed-roots ---------------------------------------


async def test_a_worktree_agent_under_allowed_roots_runs_in_its_worktree(make_pool, root, claude_env, no_leaks):
    """Its checkout lies under the state directory, outside every root: it was created, then refused
    on every message."""
    pool = await make_pool(claude_env, allowed_roots=(root,))
    (root / "repo" / "sub").mkdir()
    info = await pool.create("dev", "r", str(root / "repo" / "sub"), AgentOptions(permission_mode="acceptEdits"),
                             worktree=True)  # fmt: skip
    assert not Path(info.cwd).resolve().is_relative_to(root)
    reply = await pool.send("dev", "MOCK_WRITE")
    assert reply.is_error is False
    assert (Path(info.cwd) / "mock_written.txt").exists()
    assert not (root / "repo" / "sub" / "mock_written.txt").exists()


async def test_an_agents_worktree_is_allowed_to_that_agent_only(tmp_path, root):
    """Another agent's cwd swapped for a symlink into alice's worktree is refused; alice's is not;
    alice's worktree itself swapped for a symlink out of the roots is refused."""
    worktrees = tmp_path / "state" / "worktrees"
    (worktrees / "alice").mkdir(parents=True)
    alice = Worktree(path=str(worktrees / "alice"), branch="agent-mcp/alice", repo=str(root / "repo"))
    os.close(open_workplace(alice.path, AgentOptions(), agent_roots((root,), alice)).cwd_fd)

    (root / "mallory").symlink_to(worktrees / "alice")
    with pytest.raises(OutsideRoots):
        open_workplace(str(root / "mallory"), AgentOptions(), agent_roots((root,), None))

    (worktrees / "alice").rename(worktrees / "alice.moved")
    (worktrees / "alice").symlink_to(tmp_path / "outside")
    with pytest.raises(OutsideRoots) as refused:
        open_workplace(alice.path, AgentOptions(), agent_roots((root,), alice))
    assert repr(str(tmp_path / "outside")) in str(refused.value)
    assert agent_roots((), alice) == ()  # no roots: nothing held, the worktree adds none


@pytest.mark.parametrize("deeper", [False, True], ids=["cwd-is-the-symlink", "cwd-below-the-symlink"])
async def test_a_cwd_that_head_makes_a_symlink_out_of_the_roots_is_refused_at_creation(
    make_pool, root, tmp_path, claude_env, no_leaks, deeper
):
    """HEAD has `sub` as a symlink out of the roots, the caller's checkout a directory: the agent's cwd
    in its worktree would lead out. It was created, then refused on every message; nothing may be
    made out there either (the server makes a cwd that git did not check out)."""
    repo, outside = root / "repo", tmp_path / "outside"
    (repo / "sub").symlink_to(outside)
    git(repo, "add", "sub")
    git(repo, "commit", "-q", "-m", "a symlink")
    (repo / "sub").unlink()
    (repo / "sub" / "deeper").mkdir(parents=True)
    cwd = repo / "sub" / "deeper" if deeper else repo / "sub"
    pool = await make_pool(claude_env, allowed_roots=(root,))
    with pytest.raises(PolicyRefusal) as refused:
        await pool.create("dev", "r", str(cwd), AgentOptions(), worktree=True)
    assert str(refused.value).startswith("the agent's cwd in its worktree")
    assert repr(str(outside if not deeper else outside / "deeper")) in str(refused.value)
    assert "HEAD of the repository has a symlink" in str(refused.value)
    assert files_under(outside) == [] and list(outside.iterdir()) == []
    assert git(repo, "branch", "--list", "agent-mcp/*") == ""  # the worktree and its branch went again
    assert git(repo, "worktree", "list").count("\n") == 0
    assert await listed(pool) == []


async def test_a_cwd_in_a_symlink_loop_is_refused_not_an_internal_error(make_pool, root, claude_env, no_leaks):
    (root / "loop").symlink_to(root / "loop")
    pool = await make_pool(claude_env, allowed_roots=(root,))
    with pytest.raises(InvalidInput) as refused:
        await pool.create("dev", "r", str(root / "loop" / "x"), AgentOptions())
    assert refused.value.kind == "invalid_input" and "cannot be resolved" in str(refused.value)


# --- point 7: lock files in their own namespace, bounded, removed --------------------------------


async def test_an_agent_named_like_a_creation_lock_does_not_block_that_name(make_pool, tmp_path, claude_env, no_leaks):
    """Agent `x.create`'s lock file was `x.create.lock`, the creation lock of `x`: while its warm
    process lived, create_agent("x") hung with no refusal."""
    pool = await make_pool(claude_env)
    await pool.create("x.create", "r", str(tmp_path), AgentOptions())
    await pool.send("x.create", "hello")
    assert (await pool.info("x.create")).warm  # its process holds its lock
    with anyio.fail_after(3):
        await pool.create("x", "r", str(tmp_path), AgentOptions())
    assert [a.name for a in await listed(pool)] == ["x", "x.create"]


async def test_a_lock_wait_ends_in_busy_naming_its_holder(make_pool, tmp_path, claude_env, no_leaks):
    """Another server in the middle of creating `dev` (a lock of its own on the state directory)."""
    pool = await make_pool(claude_env, lock_timeout_s=0.5)
    other = AgentLocks(tmp_path / "state" / "locks", 5)
    async with other.creating("dev"):
        with anyio.fail_after(3), pytest.raises(Busy) as refused:
            await pool.create("dev", "r", str(tmp_path), AgentOptions())
    message = str(refused.value)
    assert refused.value.kind == "busy"
    assert f"the creation of agent 'dev' in the agent-mcp server with pid {os.getpid()}" in message
    assert "waited 0.5 s" in message and "AGENT_MCP_LOCK_TIMEOUT / --lock-timeout" in message
    await pool.create("dev", "r", str(tmp_path), AgentOptions())  # once it is done, the name is free

    async with other.deleting("dev"):  # a deletion there holds the agent's own lock
        with pytest.raises(Busy) as refused:
            await pool.delete("dev", force=False)
    assert "the deletion of agent 'dev' in the agent-mcp server" in str(refused.value)
    assert [a.name for a in await listed(pool)] == ["dev"]


async def test_lock_files_go_with_their_agent(make_pool, root, tmp_path, claude_env, no_leaks):
    """Every name ever used left its files: a creation's, refused or not, and a deleted agent's."""
    pool = await make_pool(claude_env)
    locks = tmp_path / "state" / "locks"
    await pool.create("plain", "r", str(tmp_path), AgentOptions())
    await pool.create("tree", "r", str(root / "repo"), AgentOptions(), worktree=True)
    with pytest.raises(InvalidInput):
        await pool.create("plain", "r", str(tmp_path), AgentOptions())  # taken
    with pytest.raises(InvalidInput):
        await pool.create("nowhere", "r", str(tmp_path / "missing"), AgentOptions())
    for name in ("plain", "tree"):
        await pool.send(name, "hello")
    assert files_under(locks) == ["agents/plain", "agents/tree"]  # held by their warm processes
    for name in ("plain", "tree"):
        await pool.delete(name, force=True)
    assert files_under(locks) == []


async def test_a_deletion_takes_the_agent_from_another_servers_warm_process(make_pool, tmp_path, claude_env, no_leaks):
    """That server's idle process holds the agent's lock: the deletion asks for it (the marker) and
    has it well within the lock timeout; no file is left for the name."""
    state = tmp_path / "state"
    keeper, deleter = [await make_pool(claude_env, state_dir=state, lock_timeout_s=3) for _ in range(2)]
    await keeper.create("dev", "r", str(tmp_path), AgentOptions())
    await keeper.send("dev", "hello")
    assert (await keeper.info("dev")).warm
    with anyio.fail_after(2):
        await deleter.delete("dev", force=False)
    assert await listed(keeper) == [] and files_under(state / "locks") == []
    with anyio.fail_after(2):
        while keeper.live_processes:  # its warm process ended, not only let the lock go
            await anyio.sleep(0.05)


async def test_a_lock_file_removed_while_one_waits_is_never_held_twice(tmp_path):
    """A waiter that opened the file before its holder removed it (the agent deleted) must not hold
    that old file while a newcomer holds the new one at the same path."""
    holder, waiter, newcomer = (AgentLocks(tmp_path / "locks", 0.3) for _ in range(3))
    with anyio.fail_after(3):
        async with anyio.create_task_group() as tg, holder.deleting("x"):
            tg.start_soon(waiter.acquire, "x")
            await anyio.sleep(0.25)  # the waiter has opened the file and polls it
        # the waiter holds the lock now (the task group waited for it)
        with pytest.raises(Busy):
            async with newcomer.deleting("x"):
                pass
        waiter.release("x")
        async with newcomer.deleting("x"):
            pass


async def test_a_git_given_up_ends_with_what_it_started(tmp_path: Path) -> None:
    """A create_agent call given up while git works (its client went away): git and its own child
    (as `git worktree add` starts `git reset`) end with it, not only git (anyio alone would SIGKILL
    the reaper, which could then end nothing)."""
    pids, bin_dir = tmp_path / "pids", tmp_path / "bin"
    bin_dir.mkdir()
    git = bin_dir / "git"
    git.write_text(f"#!/bin/sh\necho $$ >> {pids}; sleep 60 & echo $! >> {pids}; wait\n")
    git.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    with anyio.move_on_after(20) as waited:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(LOCAL.run, ["git", "worktree", "add", "x"], env, "GIT_")
            while not (pids.exists() and len(pids.read_text().split()) == 2):
                await anyio.sleep(0.02)
            tasks.cancel_scope.cancel()
    assert not waited.cancelled_caught
    started = [int(pid) for pid in pids.read_text().split()]
    with anyio.fail_after(3):
        while any(map(alive, started)):
            await anyio.sleep(0.02)
