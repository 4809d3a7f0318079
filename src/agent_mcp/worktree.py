"""Git worktrees that keep parallel agents out of each other's files.

Each agent with worktree=true gets its own checkout and branch of the repository its cwd is in,
under the state directory. Deleting the agent removes the checkout but refuses to drop
uncommitted work unless forced; forced, the branch goes too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anyio

from .errors import InvalidInput

log = logging.getLogger(__name__)

BRANCH_PREFIX = "agent-mcp/"


@dataclass(frozen=True)
class Worktree:
    path: str
    branch: str
    repo: str
    """The repository root the worktree was made from."""


async def _git(*args: str, cwd: str | Path) -> tuple[int, str]:
    try:
        done = await anyio.run_process(["git", *args], cwd=cwd, check=False)
    except FileNotFoundError:
        raise InvalidInput("worktree=true needs git, which is not installed on the server's machine") from None
    output = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    return done.returncode, output


async def create_worktree(cwd: Path, worktrees_dir: Path, name: str) -> tuple[Worktree, Path]:
    """Returns the worktree and the agent's cwd inside it (the same subdirectory as cwd)."""
    code, top = await _git("rev-parse", "--show-toplevel", cwd=cwd)
    if code != 0:
        raise InvalidInput(f"worktree=true needs cwd inside a git repository, and {str(cwd)!r} is not in one")
    repo = Path(top).resolve()
    code, _ = await _git("rev-parse", "--verify", "--quiet", "HEAD", cwd=repo)
    if code != 0:
        raise InvalidInput(f"the repository {str(repo)!r} has no commit yet; commit once, then create the agent")
    path = worktrees_dir / name
    branch = BRANCH_PREFIX + name
    if path.exists():
        raise InvalidInput(f"a worktree for an agent named {name!r} already exists at {str(path)!r}; remove it first")
    worktrees_dir.mkdir(parents=True, exist_ok=True)
    code, output = await _git("worktree", "add", "-b", branch, str(path), "HEAD", cwd=repo)
    if code != 0:
        raise InvalidInput(f"git could not create the worktree for {name!r}: {output}")
    log.info("created worktree %s on branch %s of %s", path, branch, repo)
    agent_cwd = path / cwd.relative_to(repo)
    agent_cwd.mkdir(parents=True, exist_ok=True)  # git does not keep empty or untracked directories
    return Worktree(path=str(path), branch=branch, repo=str(repo)), agent_cwd


async def uncommitted_changes(worktree: Worktree) -> list[str]:
    if not Path(worktree.path).exists():
        return []
    code, output = await _git("status", "--porcelain", cwd=worktree.path)
    if code != 0:
        raise InvalidInput(f"git could not read the worktree {worktree.path!r}: {output}")
    return output.splitlines()


async def remove_worktree(worktree: Worktree, force: bool) -> None:
    """Without force the branch stays, with whatever was committed on it."""
    if Path(worktree.path).exists():
        args = ["worktree", "remove", *(["--force"] if force else []), worktree.path]
        code, output = await _git(*args, cwd=worktree.repo)
        if code != 0:
            raise InvalidInput(f"git could not remove the worktree {worktree.path!r}: {output}")
    await _git("worktree", "prune", cwd=worktree.repo)
    if force:
        await _git("branch", "-D", worktree.branch, cwd=worktree.repo)
