"""An agent's paths, checked again each time a run uses them.

A path checked at create_agent can be swapped afterwards (a directory replaced by a symlink to
somewhere else, by the caller, the repository or the agent itself), so every run resolves the
agent's cwd, add_dirs and mcp_config file again and refuses when one now leads outside the allowed
roots. The cwd is opened, checked through the open descriptor, and the child enters it with
fchdir: the directory that was checked is the one the CLI starts in, whatever the path names by
then. add_dirs and the mcp_config file are handed to the CLI by their resolved paths, checked a
moment before it reads them. create_agent runs the same check once everything is made, so an agent
is created only where its runs will start.

A worktree agent's checkout lies under the state directory, outside every root: it counts as
allowed for the agent that owns it (and for no other).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent_mcp.core import validation
from agent_mcp.core.errors import InvalidInput
from agent_mcp.core.host_specs import Host
from agent_mcp.core.models import AgentOptions

if TYPE_CHECKING:
    from agent_mcp.core.rows import Worktree


@dataclass(frozen=True)
class Workplace:
    """Where one run works: an open descriptor of its checked cwd (the caller closes it) and the
    options with their paths resolved as of now."""

    cwd_fd: int
    cwd: str
    options: AgentOptions
    host: Host | None = None
    """The SSH host the run goes to (cwd and options are its paths then, checked there as it starts);
    cwd_fd is then only where the local ssh starts."""


def agent_roots(roots: tuple[Path, ...], worktree: Worktree | None) -> tuple[Path, ...]:
    """The roots an agent's paths are held to: the allowed roots and its own worktree. The worktree's
    directory (under the state directory, the server's own) is resolved, its name is not: a checkout
    replaced by a symlink leads elsewhere and is refused. No roots: nothing is held, nor added."""
    if not roots or worktree is None:
        return roots
    tree = Path(worktree.path)
    return (*roots, tree.parent.resolve() / tree.name)


def open_workplace(cwd: str, options: AgentOptions, roots: tuple[Path, ...]) -> Workplace:
    """Raises OutsideRoots when a path now leads outside the roots, InvalidInput when it is gone."""
    try:
        fd = os.open(cwd, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInput(f"the agent's cwd {cwd!r} is no longer a usable directory ({exc.strerror})") from None
    try:
        resolved = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if os.fstat(fd).st_nlink == 0:
            raise InvalidInput(f"the agent's cwd {cwd!r} has been deleted")
        validation.check_within_roots("cwd", resolved, roots)
        checked = options.model_copy(
            update={
                "add_dirs": validation.check_add_dirs(options.add_dirs, roots),
                "mcp_config": validation.check_mcp_config(options.mcp_config, roots),
            }
        )
    except BaseException:
        os.close(fd)
        raise
    return Workplace(cwd_fd=fd, cwd=str(resolved), options=checked)
