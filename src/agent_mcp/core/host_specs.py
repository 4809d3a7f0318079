"""The SSH hosts agents may run on: what --hosts lists, and which of them a creation gets.

A host is named as the user's ssh knows it (an alias of ~/.ssh/config, or user@host[:port]), so
its keys, jump hosts and options stay in the user's ssh configuration. Only a listed host can ever
be reached: a caller names one of these aliases (or "auto"), never a destination of its own. An
alias is checked when the list is read: one that ssh could take for an option (a leading `-`), or
that holds whitespace or shell characters, is refused at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from agent_mcp.core.errors import InvalidInput, PolicyRefusal

AUTO = "auto"
ALIAS_RE = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@)?[A-Za-z0-9_][A-Za-z0-9._-]{0,252}(?::[0-9]{1,5})?")
"""user@host:port at most, each part of letters, digits, `.`, `_` and `-`, never starting with `-`."""


@dataclass(frozen=True)
class Host:
    alias: str
    cap: int
    """Concurrent claude processes this server runs there."""

    @property
    def destination(self) -> str:
        """What ssh is given: `user@host:port` becomes the URI form, the only one with a port."""
        login, _, port = self.alias.rpartition(":") if ":" in self.alias else (self.alias, "", "")
        return f"ssh://{login}:{port}" if port else self.alias


def parse_hosts(text: str) -> tuple[Host, ...]:
    """`build1=4,gpu-box=2,me@10.0.0.5:2222=1`: each host with its cap."""
    hosts: dict[str, Host] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        alias, has_cap, cap_text = part.partition("=")
        alias = alias.strip()
        if not ALIAS_RE.fullmatch(alias) or alias == AUTO:
            raise ValueError(
                f"{alias!r} is not a host this server can use: give an ssh alias or user@host[:port] of letters, "
                "digits, '.', '_' and '-' (not starting with '-', and not 'auto')"
            )
        port = alias.rpartition(":")[2] if ":" in alias else "22"
        if not 0 < int(port) < 65536:
            raise ValueError(f"{alias!r}: {port} is not a port number")
        if not has_cap or not cap_text.strip().isdigit() or int(cap_text) < 1:
            raise ValueError(
                f"{alias!r} needs its cap, the claude processes it may run at once, as {alias}=N with N at least 1"
            )
        cap = int(cap_text)
        if alias.casefold() in hosts:
            raise ValueError(f"{alias!r} is listed twice")
        hosts[alias.casefold()] = Host(alias, cap)
    return tuple(hosts.values())


def listed(hosts: tuple[Host, ...], wanted: str) -> Host:
    """The listed host named `wanted` (exactly, ignoring case); anything else is refused."""
    for host in hosts:
        if host.alias.casefold() == wanted.casefold():
            return host
    if not hosts:
        raise PolicyRefusal(
            f"host {wanted[:100]!r} is not one this server may use: it lists no hosts (AGENT_MCP_HOSTS / --hosts). "
            "Leave host out to run the agent on this machine, or list the host when starting agent-mcp"
        )
    raise PolicyRefusal(
        f"host {wanted[:100]!r} is not one this server may use (AGENT_MCP_HOSTS / --hosts lists "
        f"{', '.join(h.alias for h in hosts)}); pick one of them, 'auto', or leave host out for this machine"
    )


def choose(hosts: tuple[Host, ...], wanted: str, busy: Mapping[str, int], placed: Mapping[str, int]) -> Host:
    """`auto`: the listed host with the most free slots (cap less its busy runs), then the fewest
    agents placed on it, then the first listed; any other name must be listed."""
    if wanted != AUTO:
        return listed(hosts, wanted)
    if not hosts:
        raise InvalidInput(
            "host='auto' picks one of the hosts this server may use, and it lists none (AGENT_MCP_HOSTS / --hosts); "
            "leave host out to run the agent on this machine"
        )
    order = {host.alias: place for place, host in enumerate(hosts)}
    return min(
        hosts,
        key=lambda h: (-(h.cap - busy.get(h.alias, 0)), placed.get(h.alias, 0), order[h.alias]),
    )
