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
from pathlib import Path, PurePosixPath

import anyio

from agent_mcp.core import validation
from agent_mcp.core.errors import InvalidInput
from agent_mcp.core.rows import Worktree
from agent_mcp.hosts.confinement import agent_roots
from agent_mcp.hosts.machines import Machine
from agent_mcp.hosts.ssh import Done

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


_CLEAN_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
_UNSET_PREFIX = "GIT_"
"""GIT_DIR, GIT_WORK_TREE, GIT_CONFIG_* and the like in the environment would point a command at
another repository than the one named, or configure it: every GIT_ variable goes, here and on a host."""


async def _run(machine: Machine, args: list[str], cwd: str) -> Done:
    done = await machine.run(["git", "-C", cwd, *args], _CLEAN_ENV, _UNSET_PREFIX)
    if done.code == 127 and not done.out and "git" in done.err and "not found" in done.err:
        raise InvalidInput(f"worktree=true needs git, which is not installed on {machine.label}")
    return done


async def _git(machine: Machine, *args: str, cwd: str) -> Done:
    """git with the safe configuration, and every filter driver the repository defines emptied
    (an empty command is no filter). Reading the configuration runs nothing."""
    listed = await _run(machine, ["config", "--null", "--name-only", "--get-regexp", r"^filter\."], cwd)
    drivers = {key.rpartition(".")[0] for key in listed.out.split("\0") if key}
    overrides = [*_SAFE_CONFIG]
    for driver in sorted(drivers):
        overrides += [f"{driver}.{variable}=" for variable in _FILTER_VARIABLES] + [f"{driver}.required=false"]
    return await _run(machine, [arg for setting in overrides for arg in ("-c", setting)] + list(args), cwd)


async def create_worktree(
    machine: Machine, cwd: str, worktrees_dir: str, name: str, roots: tuple[Path, ...]
) -> tuple[Worktree, str]:
    """Returns the worktree and the agent's cwd inside it (the same subdirectory as cwd). The
    caller holds the name's creation lock and has checked that no agent has the name. The roots
    are this machine's: on a host they are empty (nothing to apply). What fails once the worktree
    is made removes it again."""
    found = await _git(machine, "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir", cwd=cwd)
    lines = found.out.splitlines()
    if found.code != 0 or len(lines) != 2:
        raise InvalidInput(
            f"worktree=true needs cwd inside a git repository, and {cwd!r} is not in one (on {machine.label})"
        )
    top, git_dir = [await machine.real_dir(line) for line in lines]
    fix = "use a repository that lies wholly under them, or create the agent without worktree=true"
    validation.check_within_roots("the top level of the repository at cwd", Path(top), roots, fix)
    validation.check_within_roots("the git directory of the repository at cwd", Path(git_dir), roots, fix)
    if (await _git(machine, "rev-parse", "--verify", "--quiet", "HEAD", cwd=top)).code != 0:
        raise InvalidInput(f"the repository {top!r} has no commit yet; commit once, then create the agent")
    path = f"{worktrees_dir}/{name}"
    branch = BRANCH_PREFIX + name
    await _clear_leftovers(machine, top, path, branch)
    await machine.make_dirs(worktrees_dir)
    added = await _git(machine, "worktree", "add", "-b", branch, path, "HEAD", cwd=top)
    if added.code != 0:
        raise InvalidInput(f"git could not create the worktree for {name!r}: {added.err} {added.out}".strip())
    log.info("created worktree %s on branch %s of %s on %s", path, branch, top, machine.label)
    tree = Worktree(path=path, branch=branch, repo=top)
    try:
        subpath = str(PurePosixPath(await machine.real_dir(cwd)).relative_to(top))
        return tree, await _cwd_in(machine, tree, subpath, roots)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await remove_worktree(machine, tree, force=True)
        raise


async def _cwd_in(machine: Machine, tree: Worktree, subpath: str, roots: tuple[Path, ...]) -> str:
    """The agent's cwd: cwd's place in the repository, in the worktree. That place is as HEAD has it,
    which may be a symlink where the caller's checkout has a directory: under roots it must still
    lead into them or into the worktree, before anything is made on its way."""
    agent_cwd = str(PurePosixPath(tree.path) / subpath)
    if roots:  # this machine's only: a host has none
        validation.check_within_roots(
            "the agent's cwd in its worktree",
            validation.real_path("the agent's cwd in its worktree", Path(agent_cwd)),
            agent_roots(roots, tree),
            "HEAD of the repository has a symlink on cwd's path that leads out of them; create the agent from a "
            "cwd whose path in HEAD has none, or without worktree=true",
        )
    await machine.make_dirs(agent_cwd)  # git does not keep empty or untracked directories
    return agent_cwd


async def _clear_leftovers(machine: Machine, repo: str, path: str, branch: str) -> None:
    """What an earlier creation of this name left behind: its checkout goes; its branch goes too
    unless it holds commits of its own (work an agent deleted without force kept on purpose)."""
    kind = await machine.kind(path)
    if kind is not None:
        log.warning("removing the leftover worktree %s of an agent that does not exist", path)
        if kind == "dir":
            owner = await _git(machine, "rev-parse", "--path-format=absolute", "--git-common-dir", cwd=path)
            if owner.code == 0:
                await _git(machine, "worktree", "remove", "--force", "--force", path, cwd=owner.out)  # locked too
        await machine.remove(path)
    # git locks a worktree while it creates it ("initializing"); a creation cut short leaves the lock,
    # and a locked entry is never pruned and keeps its branch checked out.
    await _git(machine, "worktree", "unlock", path, cwd=repo)
    await _git(machine, "worktree", "prune", cwd=repo)
    if (await _git(machine, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=repo)).code != 0:
        return
    ahead = await _git(machine, "rev-list", "--count", f"HEAD..refs/heads/{branch}", cwd=repo)
    if ahead.code != 0 or ahead.out != "0":
        raise InvalidInput(
            f"the repository {repo!r} already has a branch {branch!r} with {ahead.out or 'some'} commit(s) not on "
            f"HEAD, kept from an earlier agent of this name; merge it or delete it (git branch -D {branch}), or pick "
            "another name"
        )
    log.warning("deleting the leftover branch %s (no commits of its own) in %s", branch, repo)
    deleted = await _git(machine, "branch", "-D", branch, cwd=repo)
    if deleted.code != 0:
        raise InvalidInput(
            f"the repository {repo!r} has a branch {branch!r} left from an earlier agent of this name, and git "
            f"could not delete it: {deleted.err or deleted.out}; delete it (git branch -D {branch}), or pick another "
            "name"
        )


def leftover_worktrees(worktrees_dir: Path, agent_names: set[str]) -> list[Path]:
    """Checkouts under the state directory whose agent does not exist (names ignore case)."""
    if not worktrees_dir.is_dir():
        return []
    return sorted(p for p in worktrees_dir.iterdir() if p.name.casefold() not in agent_names)


async def uncommitted_changes(machine: Machine, worktree: Worktree) -> list[str]:
    if await machine.kind(worktree.path) is None:
        return []
    status = await _git(machine, "status", "--porcelain", "--ignore-submodules=all", cwd=worktree.path)
    if status.code != 0:
        raise InvalidInput(f"git could not read the worktree {worktree.path!r}: {status.err or status.out}")
    return status.out.splitlines()


async def remove_worktree(machine: Machine, worktree: Worktree, force: bool) -> None:
    """Without force the branch stays, with whatever was committed on it."""
    if await machine.kind(worktree.path) is not None:
        args = ["worktree", "remove", *(["--force"] if force else []), worktree.path]
        removed = await _git(machine, *args, cwd=worktree.repo)
        if removed.code != 0:
            raise InvalidInput(f"git could not remove the worktree {worktree.path!r}: {removed.err or removed.out}")
    await _git(machine, "worktree", "prune", cwd=worktree.repo)
    if force:
        await _git(machine, "branch", "-D", worktree.branch, cwd=worktree.repo)
