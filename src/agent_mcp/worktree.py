"""Git worktrees that keep parallel agents out of each other's files.

Each agent with worktree=true gets its own checkout and branch of the repository its cwd is in,
under the state directory. Deleting the agent removes the checkout but refuses to drop
uncommitted work unless forced; forced, the branch goes too.

The repository is the caller's, and so untrusted: git runs here, inside agent-mcp and outside any
permission mode, so every git command is given a configuration on its command line that turns off
what would run the repository's code (hooks, fsmonitor, filter drivers, submodule recursion,
automatic gc). The repository must lie inside the allowed roots, its git directory too (a `.git`
file can point anywhere). A creation cut short (the server killed mid-way) leaves a worktree
and branch for a name no agent has: the next creation of that name clears them.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import anyio

from . import validation
from .errors import InvalidInput

log = logging.getLogger(__name__)

BRANCH_PREFIX = "agent-mcp/"

# Configuration that wins over the repository's own: nothing in it may run code in the server.
_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "submodule.recurse=false",
    "gc.auto=0",
    "maintenance.auto=false",
)
_FILTER_VARIABLES = ("smudge", "clean", "process")


@dataclass(frozen=True)
class Worktree:
    path: str
    branch: str
    repo: str
    """The repository root the worktree was made from."""


@dataclass(frozen=True)
class _Done:
    code: int
    out: str
    err: str


def _environment() -> dict[str, str]:
    """GIT_DIR, GIT_WORK_TREE and the like in the server's environment would point every command
    at another repository than the one named."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    return env


async def _run(args: list[str], cwd: str | Path) -> _Done:
    try:
        done = await anyio.run_process(["git", *args], cwd=cwd, check=False, env=_environment())
    except FileNotFoundError:
        raise InvalidInput("worktree=true needs git, which is not installed on the server's machine") from None
    except OSError as exc:
        raise InvalidInput(f"could not run git in {str(cwd)!r}: {exc.strerror}") from None
    return _Done(done.returncode, _text(done.stdout), _text(done.stderr))


def _text(output: bytes) -> str:
    return output.decode("utf-8", "replace").strip()


async def _git(*args: str, cwd: str | Path) -> _Done:
    """git with the safe configuration, and every filter driver the repository defines emptied
    (an empty command is no filter). Reading the configuration runs nothing."""
    listed = await _run(["config", "--null", "--name-only", "--get-regexp", r"^filter\."], cwd)
    drivers = {key.rpartition(".")[0] for key in listed.out.split("\0") if key}
    overrides = [*_SAFE_CONFIG]
    for driver in sorted(drivers):
        overrides += [f"{driver}.{variable}=" for variable in _FILTER_VARIABLES] + [f"{driver}.required=false"]
    return await _run([arg for setting in overrides for arg in ("-c", setting)] + list(args), cwd)


async def create_worktree(cwd: Path, worktrees_dir: Path, name: str, roots: tuple[Path, ...]) -> tuple[Worktree, Path]:
    """Returns the worktree and the agent's cwd inside it (the same subdirectory as cwd). The
    caller holds the name's creation lock and has checked that no agent has the name."""
    found = await _git("rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir", cwd=cwd)
    if found.code != 0:
        raise InvalidInput(f"worktree=true needs cwd inside a git repository, and {str(cwd)!r} is not in one")
    top, git_dir = (Path(line).resolve() for line in found.out.splitlines())
    fix = "use a repository that lies wholly under them, or create the agent without worktree=true"
    validation.check_within_roots("the top level of the repository at cwd", top, roots, fix)
    validation.check_within_roots("the git directory of the repository at cwd", git_dir, roots, fix)
    if (await _git("rev-parse", "--verify", "--quiet", "HEAD", cwd=top)).code != 0:
        raise InvalidInput(f"the repository {str(top)!r} has no commit yet; commit once, then create the agent")
    path = worktrees_dir / name
    branch = BRANCH_PREFIX + name
    await _clear_leftovers(top, path, branch)
    worktrees_dir.mkdir(parents=True, exist_ok=True)
    added = await _git("worktree", "add", "-b", branch, str(path), "HEAD", cwd=top)
    if added.code != 0:
        raise InvalidInput(f"git could not create the worktree for {name!r}: {added.err} {added.out}".strip())
    log.info("created worktree %s on branch %s of %s", path, branch, top)
    agent_cwd = path / cwd.relative_to(top)
    agent_cwd.mkdir(parents=True, exist_ok=True)  # git does not keep empty or untracked directories
    return Worktree(path=str(path), branch=branch, repo=str(top)), agent_cwd


async def _clear_leftovers(repo: Path, path: Path, branch: str) -> None:
    """What an earlier creation of this name left behind: its checkout goes; its branch goes too
    unless it holds commits of its own (work an agent deleted without force kept on purpose)."""
    if path.is_symlink() or path.exists():
        log.warning("removing the leftover worktree %s of an agent that does not exist", path)
        owner = (
            await _git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=path) if path.is_dir() else None
        )
        if owner is not None and owner.code == 0:
            await _git("worktree", "remove", "--force", "--force", str(path), cwd=owner.out)  # locked too
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    # git locks a worktree while it creates it ("initializing"); a creation cut short leaves the lock,
    # and a locked entry is never pruned and keeps its branch checked out.
    await _git("worktree", "unlock", str(path), cwd=repo)
    await _git("worktree", "prune", cwd=repo)
    if (await _git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=repo)).code != 0:
        return
    ahead = await _git("rev-list", "--count", f"HEAD..refs/heads/{branch}", cwd=repo)
    if ahead.code != 0 or ahead.out != "0":
        raise InvalidInput(
            f"the repository {str(repo)!r} already has a branch {branch!r} with {ahead.out or 'some'} commit(s) not on "
            f"HEAD, kept from an earlier agent of this name; merge it or delete it (git branch -D {branch}), or pick "
            "another name"
        )
    log.warning("deleting the leftover branch %s (no commits of its own) in %s", branch, repo)
    deleted = await _git("branch", "-D", branch, cwd=repo)
    if deleted.code != 0:
        raise InvalidInput(
            f"the repository {str(repo)!r} has a branch {branch!r} left from an earlier agent of this name, and git "
            f"could not delete it: {deleted.err or deleted.out}; delete it (git branch -D {branch}), or pick another "
            "name"
        )


def leftover_worktrees(worktrees_dir: Path, agent_names: set[str]) -> list[Path]:
    """Checkouts under the state directory whose agent does not exist (names ignore case)."""
    if not worktrees_dir.is_dir():
        return []
    return sorted(p for p in worktrees_dir.iterdir() if p.name.casefold() not in agent_names)


async def uncommitted_changes(worktree: Worktree) -> list[str]:
    if not Path(worktree.path).exists():
        return []
    status = await _git("status", "--porcelain", "--ignore-submodules=all", cwd=worktree.path)
    if status.code != 0:
        raise InvalidInput(f"git could not read the worktree {worktree.path!r}: {status.err or status.out}")
    return status.out.splitlines()


async def remove_worktree(worktree: Worktree, force: bool) -> None:
    """Without force the branch stays, with whatever was committed on it."""
    if Path(worktree.path).exists():
        args = ["worktree", "remove", *(["--force"] if force else []), worktree.path]
        removed = await _git(*args, cwd=worktree.repo)
        if removed.code != 0:
            raise InvalidInput(f"git could not remove the worktree {worktree.path!r}: {removed.err or removed.out}")
    await _git("worktree", "prune", cwd=worktree.repo)
    if force:
        await _git("branch", "-D", worktree.branch, cwd=worktree.repo)
