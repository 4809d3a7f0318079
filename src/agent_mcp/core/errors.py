"""Failures a caller can act on. The MCP layer turns each into a tool error carrying its message.

Every message says what was wrong and what to do about it, because the reader is often another
model deciding its next call.
"""

from __future__ import annotations

from agent_mcp.core.models import ErrorKind


class AgentMCPError(Exception):
    """Base of every error whose message is meant for the caller. The tool error's text is
    "[<kind>] <message>", so a program can branch on the kind."""

    kind = "invalid_input"


class InvalidInput(AgentMCPError):
    pass


class Busy(InvalidInput):
    """Refused because of what is in flight (or queued) now; the same call can succeed later."""

    kind = "busy"


class DepthExceeded(InvalidInput):
    kind = "depth_exceeded"


class PolicyRefusal(InvalidInput):
    """Refused by a limit or rule of this server's settings."""

    kind = "policy"


class OutsideRoots(PolicyRefusal):
    """A path that lies (or, at run time, has come to lie) outside the allowed roots."""

    def __init__(self, what: str, resolved: str, roots: str, fix: str) -> None:
        self.what = what
        self.resolved = resolved
        super().__init__(f"{what} {resolved!r} lies outside the allowed roots ({roots}); {fix}")


QUOTED_CHARS = 80
"""A caller's value quoted in a refusal is cut to this many characters: the refusal lands in the
caller's context, and a 5 KB id need not come back whole."""


def quoted(value: str) -> str:
    if len(value) <= QUOTED_CHARS:
        return repr(value)
    return f"{value[:QUOTED_CHARS]!r}… ({len(value)} characters)"


class BudgetExhausted(AgentMCPError):
    """A spending cap (the pool's over its window, or the agent's lifetime total) is reached."""

    kind = "budget_exhausted"


class UnknownAgent(AgentMCPError):
    kind = "unknown_agent"

    def __init__(self, name: str) -> None:
        super().__init__(f"no agent named {quoted(name)}; call list_agents to see the agents, or create_agent first")


class UnknownRun(AgentMCPError):
    kind = "unknown_run"

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"no run with id {quoted(run_id)}; use the run_id that start_message returned (finished runs are kept "
            "for a while, then forgotten)"
        )


class HostUnreachable(AgentMCPError):
    """An SSH host that could not be reached (or refused the key): the text carries ssh's own words."""

    kind = "host_unreachable"


class SandboxUnavailable(AgentMCPError):
    """A sandboxed agent asked for where no box can be made (bubblewrap missing, or unable to start)."""

    kind = "sandbox_unavailable"


def box_unavailable(bwrap: str, where: str, detail: str = "") -> str:
    """Why no box can be made, and the three fixes: the one text of a refusal, a failed run and doctor."""
    said = f" ({detail})" if detail else ""
    return (
        f"bubblewrap ({bwrap!r}) is missing or cannot start {where}{said}; install it (Debian: apt-get install "
        "bubblewrap), enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu "
        "also kernel.apparmor_restrict_unprivileged_userns=0), or point AGENT_MCP_BWRAP_BIN / --bwrap-bin at a "
        "working bwrap"
    )


class RunFailed(AgentMCPError):
    """A run that produced no result event: nothing the CLI said can be returned as a reply.
    `resets_at` (ISO 8601): a run ended by its account's usage limit says when that resets."""

    def __init__(self, kind: ErrorKind, message: str, tail: str = "", resets_at: str | None = None) -> None:
        self.kind: ErrorKind = kind  # the text already starts with it
        self.resets_at = resets_at
        detail = f"[{kind}] {message}"
        if tail.strip():
            detail += f"\n--- last output of the agent's CLI ---\n{tail.strip()}"
        super().__init__(detail)


class ProcessError(Exception):
    """Base of the process layer's failures (nothing started, a limit hit, output out of bounds).
    They carry no advice for the caller: the turn that ran the process turns each into a RunFailed."""
