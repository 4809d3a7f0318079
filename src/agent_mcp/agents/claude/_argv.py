"""Agent options to the claude CLI's argv.

Every value goes in the `--flag=value` form: commander binds exactly one value that way, even one
that starts with `-`, and a variadic option such as --add-dir or --allowedTools does not go on to
swallow later entries. The prompt is never in argv at all: it goes to the CLI's stdin, which takes
text of any size and cannot be mistaken for a flag.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from agent_mcp.core.environment import MAX_ARG_BYTES
from agent_mcp.core.models import ASK, AgentOptions

_SYSTEM_PROMPT_FLAG = "--append-system-prompt="


def system_prompt(name: str, role: str) -> str:
    return f"You are agent '{name}' with role: {role}. Work autonomously on the task given."


def role_overhead() -> int:
    """What the role's argv entry holds beside the role, with the longest name (core's ROLE_ROOM bounds it)."""
    return len((_SYSTEM_PROMPT_FLAG + system_prompt("n" * 64, "")).encode())


def exec_problem(argv: list[str], env: Mapping[str, str], cli: str = "claude") -> str | None:
    """Why exec would refuse this argv with this environment, if it would (every kind's argv: `cli` names it)."""
    for entry in argv:
        size = len(entry.encode())
        if size > MAX_ARG_BYTES:
            flag = entry.partition("=")[0] if entry.startswith("--") else "an argument"
            return f"{flag} would be {size} bytes, and one argument to the {cli} CLI carries at most {MAX_ARG_BYTES}"
    total = sum(len(x.encode()) + 1 + 8 for x in argv) + sum(len(k) + len(v) + 2 + 8 for k, v in env.items())
    limit = os.sysconf("SC_ARG_MAX")
    if total > limit:
        return f"the {cli} CLI's arguments and environment would be {total} bytes, over this system's {limit}"
    return None


def build_argv(claude_bin: str, name: str, role: str, options: AgentOptions, resume: str | None) -> list[str]:
    # Messages come as stream-json lines on stdin, one turn each, so the process can stay for the next.
    argv = [claude_bin, "-p", "--input-format=stream-json", "--output-format=stream-json", "--verbose"]
    if resume is not None:
        argv.append(f"--resume={resume}")
    # The CLI does not keep an appended system prompt across --resume, so every run repeats it.
    argv.append(_SYSTEM_PROMPT_FLAG + system_prompt(name, role))
    if options.model is not None:
        argv.append(f"--model={options.model}")
    if options.permission_mode == ASK:
        # The CLI's own mode stays its default; its prompts come to agent-mcp as control requests.
        argv.append("--permission-prompt-tool=stdio")
    elif options.permission_mode is not None:
        argv.append(f"--permission-mode={options.permission_mode}")
    if options.allowed_tools:
        argv.append(f"--allowedTools={','.join(options.allowed_tools)}")
    if options.disallowed_tools:
        argv.append(f"--disallowedTools={','.join(options.disallowed_tools)}")
    if options.max_turns is not None:
        argv.append(f"--max-turns={options.max_turns}")
    if options.max_budget_usd is not None:
        argv.append(f"--max-budget-usd={options.max_budget_usd!r}")
    argv.extend(f"--add-dir={directory}" for directory in options.add_dirs or ())
    if isinstance(options.mcp_config, dict):
        argv.append(f"--mcp-config={json.dumps(options.mcp_config, separators=(',', ':'))}")
    elif options.mcp_config is not None:
        argv.append(f"--mcp-config={options.mcp_config}")
    if options.effort is not None:
        argv.append(f"--effort={options.effort}")
    return argv
