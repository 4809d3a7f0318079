"""How a claude process that ended without a result is told to the caller: what ended it, in words
a model can act on (and, for a run on an SSH host, whether it was the connection, the host or claude).
"""

from __future__ import annotations

from agent_mcp.agents.claude.stream import clean_text
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.host_specs import Host
from agent_mcp.hosts.ssh import LOST
from agent_mcp.processes.process import ProcessExit
from agent_mcp.processes.reaper import CLAUDE_MISSING, CWD_UNUSABLE


def without_result(agent: str, cwd: str, host: Host | None, outcome: ProcessExit, claude: str) -> RunFailed:
    """A process that ended its turn without a result. On a host, ssh's 255 is the connection,
    reaper.py's own codes are what it found there, the rest is claude's."""
    if host is None:
        return RunFailed("crashed", _describe_exit(outcome), clean_text(outcome.tail))
    tail = clean_text(outcome.tail)
    if outcome.returncode == LOST:
        return RunFailed(
            "connection_lost",
            f"the connection to host {host.alias!r} was lost while agent {agent!r} worked; what ran there was "
            "ended. The agent keeps its session on the host: send the message again to resume it",
            tail,
        )
    if outcome.returncode == CLAUDE_MISSING:
        return RunFailed(
            "cli_not_found",
            f"the claude CLI {claude!r} was not found (or could not be started) on host {host.alias!r}; install it "
            "there (npm install -g @anthropic-ai/claude-code) or point AGENT_MCP_REMOTE_CLAUDE / --remote-claude at it",
            tail,
        )
    if outcome.returncode == CWD_UNUSABLE:
        return RunFailed(
            "crashed",
            f"agent {agent!r}'s cwd {cwd!r} is no longer a usable directory on host {host.alias!r}; "
            "recreate it there, or delete the agent",
            tail,
        )
    if outcome.returncode == 127:
        return RunFailed(
            "crashed",
            f"could not start agent {agent!r} on host {host.alias!r}: it needs python3 there (agent-mcp "
            "starts claude through it)",
            tail,
        )
    return RunFailed("crashed", _describe_exit(outcome) + f" on host {host.alias!r}", tail)


def _describe_exit(outcome: ProcessExit) -> str:
    if outcome.signal is not None:
        how = f"was killed by signal {outcome.signal}"
    else:
        how = f"exited with code {outcome.returncode}"
    return f"the claude CLI {how} without a result"
