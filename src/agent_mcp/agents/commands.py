"""What every kind's command line shares: the sentence that carries an agent's role, whether exec
would take the argv at all, and what to say when the CLI is not there.

One sentence for every kind, so an agent is told who it is the same way whichever CLI runs it; each
kind puts it where its CLI takes instructions (claude's appended system prompt, codex's developer
instructions).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agent_mcp.core.environment import MAX_ARG_BYTES
from agent_mcp.core.errors import RunFailed


def role_text(name: str, role: str) -> str:
    return f"You are agent '{name}' with role: {role}. Work autonomously on the task given."


def exec_problem(cli: str, argv: list[str], env: Mapping[str, str]) -> str | None:
    """Why exec would refuse this argv with this environment, if it would (`cli` names the CLI)."""
    for entry in argv:
        size = len(entry.encode())
        if size > MAX_ARG_BYTES:
            flag = entry.partition("=")[0] if entry.startswith("-") else "an argument"
            return f"{flag} would be {size} bytes, and one argument to the {cli} CLI carries at most {MAX_ARG_BYTES}"
    total = sum(len(x.encode()) + 1 + 8 for x in argv) + sum(len(k) + len(v) + 2 + 8 for k, v in env.items())
    limit = os.sysconf("SC_ARG_MAX")
    if total > limit:
        return f"the {cli} CLI's arguments and environment would be {total} bytes, over this system's {limit}"
    return None


def cli_missing(cli: str, executable: str, host: str | None, install: str, setting: str, tail: str) -> RunFailed:
    """The CLI is not where its setting points (here, or on a host): how to install it, which setting names
    it (`setting`: its variable and flag, e.g. AGENT_MCP_CODEX_BIN / --codex-bin)."""
    where = "" if host is None else f" on host {host!r}"
    there = "" if host is None else " there"
    return RunFailed(
        "cli_not_found",
        f"the {cli} CLI {executable!r} was not found (or could not be started){where}; install it{there} "
        f"({install}) or point {setting} at it",
        tail,
    )
