"""Registering an agent: every check of what it is given, its worktree, and the name's race.

Everything a creation is refused for is checked before anything is made, and nothing is left behind
when it is refused late: a name another server took a moment ago removes the worktree made for it.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, replace

import anyio

from agent_mcp.agents import KINDS, kind_for
from agent_mcp.agents.kind import AgentKind, unhonoured
from agent_mcp.core import clock, validation
from agent_mcp.core.config import Settings
from agent_mcp.core.environment import MAX_ARG_BYTES
from agent_mcp.core.errors import InvalidInput, PolicyRefusal, quoted
from agent_mcp.core.models import AgentOptions
from agent_mcp.core.rows import AgentRecord
from agent_mcp.hosts.boxes import Boxes
from agent_mcp.hosts.confinement import agent_roots, open_workplace
from agent_mcp.hosts.launcher import remote_command
from agent_mcp.hosts.machines import LOCAL, Machine
from agent_mcp.hosts.worktree import create_worktree, remove_worktree
from agent_mcp.pool._locks import AgentLocks
from agent_mcp.pool._placement import Placed, Remote, check_remote_options
from agent_mcp.store.database import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    name: str
    role: str
    cwd: str
    options: AgentOptions
    worktree: bool = False
    host: str | None = None
    sandbox: bool | None = None
    """None: the server's default (--sandbox)."""
    cli: str = "claude"


async def register_agent(
    store: Store, settings: Settings, child_env: dict[str, str], locks: AgentLocks, remote: Remote, boxes: Boxes,
    wanted: Registration,
) -> AgentRecord:  # fmt: skip
    name, role = wanted.name, wanted.role
    validation.check_name(name)
    validation.check_text("role", role, settings.max_role_bytes)
    placed = None
    kind = _kind(wanted)
    if wanted.host is not None:
        validation.check_text("host", wanted.host, 300)
        host = remote.pick(wanted.host, store)
        checked = check_remote_options(wanted.options)
        placed = await remote.place(host, wanted.cwd, checked)
        checked = checked.model_copy(update={"add_dirs": placed.add_dirs})
        executable = getattr(settings, kind.remote_bin_setting)
        cli_argv = kind.argv(executable, name, role, checked, str(uuid.uuid4()))
        argv = remote_command(remote.links, host, placed.cwd, cli_argv, child_env)
    else:
        resolved_cwd = validation.check_directory("cwd", wanted.cwd, settings.allowed_roots)
        checked = validation.check_options(wanted.options, settings.allowed_roots)
        argv = kind.argv(getattr(settings, kind.bin_setting), name, role, checked, str(uuid.uuid4()))
    _check_command(kind, argv, child_env, placed)
    if store.agents.count() >= settings.max_agents:
        raise PolicyRefusal(
            f"this server already has {settings.max_agents} agents, its limit (AGENT_MCP_MAX_AGENTS / "
            "--max-agents); delete_agent one you no longer need, or raise the limit"
        )
    sandbox = settings.sandbox if wanted.sandbox is None else wanted.sandbox
    if sandbox:
        await boxes.check(remote.machine(placed.host) if placed is not None else None)
    if placed is not None:
        machine: Machine = remote.machine(placed.host)
        cwd = placed.cwd
    else:
        machine, cwd = LOCAL, str(resolved_cwd)
    agent = AgentRecord(
        name=name,
        role=role,
        cwd=cwd,
        options=checked,
        created_at=clock.now(),
        host=placed.host.alias if placed is not None else None,
        sandbox=sandbox,
        cli=kind.name,
    )
    # Held across the check and the insert, so a leftover of this name (a creation cut short) can
    # be cleared without clearing another server's creation in progress.
    async with locks.creating(name):
        agent = await _insert(store, settings, machine, agent, wanted.worktree)
    log.info("created agent %s in %s", name, agent.cwd)
    return agent


async def _insert(
    store: Store, settings: Settings, machine: Machine, agent: AgentRecord, worktree: bool
) -> AgentRecord:
    """Makes the worktree (when asked), checks the agent's workplace as each of its runs will, and
    stores the agent; the worktree goes again when anything after it fails."""
    existing = store.agents.get(agent.name)
    if existing is not None:
        raise name_taken(existing.name)
    tree = None
    if worktree:
        worktrees = await machine.worktrees_dir(settings.state_dir)
        tree, cwd = await create_worktree(machine, agent.cwd, worktrees, agent.name, settings.allowed_roots)
        agent = replace(agent, cwd=cwd, worktree=tree)
    try:
        if agent.host is None:  # on a host, its runs check it there as they start
            roots = agent_roots(settings.allowed_roots, agent.worktree)
            os.close(open_workplace(agent.cwd, agent.options, roots).cwd_fd)
        if not await store.agents.add(agent):  # another server took the name a moment ago
            raise name_taken(agent.name)
    except BaseException:
        if tree is not None:
            with anyio.CancelScope(shield=True):
                await remove_worktree(machine, tree, force=True)
        raise
    return agent


def _kind(wanted: Registration) -> AgentKind:
    """The agent's kind, when there is one by that name and it can honour every option given."""
    if wanted.cli not in KINDS:
        raise InvalidInput(f"cli must be one of {', '.join(KINDS)}, got {quoted(wanted.cli)}")
    kind = kind_for(wanted.cli)
    refused = unhonoured(kind, wanted.options)
    if refused is not None:
        raise InvalidInput(
            f"a {kind.name} agent cannot take {refused}; leave it out, or create the agent with a cli that "
            "can (docs/agent-kinds.md has what each supports)"
        )
    return kind


def _check_command(kind: AgentKind, argv: list[str], child_env: dict[str, str], placed: Placed | None) -> None:
    if placed is not None and len(argv[-1].encode()) > MAX_ARG_BYTES:  # the host's shell gets it whole
        too_big: str | None = (
            f"its command on host {placed.host.alias!r} would be {len(argv[-1].encode())} bytes (quoted for the "
            f"host's shell), over the {MAX_ARG_BYTES} one argument there carries"
        )
    else:
        too_big = kind.exec_problem(argv, child_env)
    if too_big is not None:
        raise InvalidInput(
            f"this agent could never run: {too_big}. Shorten it"
            + ("" if placed else " (an mcp_config can be given as the path of a file instead of the object)")
        )


def name_taken(name: str) -> InvalidInput:
    return InvalidInput(f"an agent named {name!r} already exists; pick another name (names ignore case)")
