"""Issue 27, point 10, as an attack: git that the server started went on after it was killed outright.

The server takes git from PATH (here, or on a host); there it finds a stand-in that, for `worktree
add`, does what a slow git does (and what git itself does there: it starts a child, `git reset
--hard`, that fills the checkout), and says which processes it is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from conftest import alive
from helpers import call, connect, server_pid

pytestmark = [pytest.mark.anyio, pytest.mark.attack]


def make_repo(repo: Path) -> None:
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                                 "--allow-empty", "-m", "first"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=repo, check=True)


def slow_git(directory: Path, pids: Path) -> Path:
    real = shutil.which("git")
    assert real is not None
    directory.mkdir(exist_ok=True)
    script = directory / "git"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in\n'
        f'*" worktree add "*) echo $$ >> {pids}; sleep 60 & echo $! >> {pids}; wait; exit 1;;\n'
        "esac\n"
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return directory


async def killed_during_worktree_add(env: dict[str, str], repo: Path, pids: Path, **where: str) -> list[int]:
    """SIGKILL of the server while its create_agent waits for the slow `git worktree add`; the pids
    of that git and its child, and when the server was killed."""
    with contextlib.suppress(Exception):  # the server dies under the client
        async with connect(env) as client, anyio.create_task_group() as tg:
            arguments = {"name": "dev", "role": "r", "cwd": str(repo), "worktree": True, **where}
            tg.start_soon(lambda: call(client, "create_agent", **arguments))
            with anyio.fail_after(20):
                while len(pids.read_text().split()) < 2 if pids.exists() else True:
                    await anyio.sleep(0.02)
            os.kill(server_pid(env), signal.SIGKILL)
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2
    return started


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [pid for pid in pids if alive(pid)]


async def test_git_and_what_it_started_end_with_a_server_killed_outright(tmp_path, claude_env, no_leaks):
    repo, pids = tmp_path / "repo", tmp_path / "git.pids"
    make_repo(repo)
    env = {**claude_env, "PATH": f"{slow_git(tmp_path / 'bin', pids)}{os.pathsep}{claude_env['PATH']}"}
    started = await killed_during_worktree_add(env, repo, pids)
    assert wait_gone(started, 2) == []  # git, and the child it started


async def test_git_on_a_host_ends_with_a_server_killed_outright(tmp_path, ssh_hosts, claude_env, no_leaks):
    """The same on an SSH host, where nothing of the server's survives the connection: git there
    runs under the reaper a remote run has, which ends it when sshd's end of its output closes."""
    h1 = ssh_hosts.start("h1")
    repo, pids = h1.home / "repo", tmp_path / "git.pids"
    make_repo(repo)
    slow_git(h1.home.parent / "bin", pids)
    env = {**claude_env, "AGENT_MCP_HOSTS": "h1=1", "AGENT_MCP_SSH_CONFIG": str(ssh_hosts.config)}
    started = await killed_during_worktree_add(env, repo, pids, host="h1")
    assert wait_gone(started, 5) == []
