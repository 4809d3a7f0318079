"""Agent kinds: one package per agent CLI (claude/, codex/, gemini/), each behind the AgentKind interface (kind.py).

May import: core. Nothing above (pool, server), and not processes, store or hosts: a kind reads and
writes bytes; the pool brings them to a process.
"""

from __future__ import annotations

from agent_mcp.agents.claude.kind import ClaudeKind
from agent_mcp.agents.codex.kind import CodexKind
from agent_mcp.agents.gemini.kind import GeminiKind
from agent_mcp.agents.kind import AgentKind

KINDS: dict[str, AgentKind] = {"claude": ClaudeKind(), "codex": CodexKind(), "gemini": GeminiKind()}


def kind_for(cli: str) -> AgentKind:
    return KINDS[cli]


def stripped_env() -> set[str]:
    """What no kind's CLI may inherit: the variables that would make one believe it runs inside another
    session of its own (core/environment.py strips them)."""
    return {name for kind in KINDS.values() for name in kind.stripped_env}
