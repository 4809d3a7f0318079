"""Every server option in one place, with its flag, environment variable and default.

The CLI parser is built from OPTIONS, and tests/test_docs.py holds docs/configuration.md's option table to
it, so a new option cannot be added in one place and forgotten in another.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_mcp.core._option_values import (
    YEAR_S,
    directory,
    dollars,
    existing_file,
    non_empty,
    one_of,
    port,
    positive_float,
    positive_int,
    roots,
    seconds_or_off,
    seconds_within,
    switch,
)
from agent_mcp.core.environment import depth_of, largest_role
from agent_mcp.core.host_specs import Host, parse_hosts

MIB = 1024 * 1024
KIB = 1024


def default_state_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return Path(base) / "agent-mcp"


@dataclass(frozen=True)
class Settings:
    claude_bin: str = "claude"
    codex_bin: str = "codex"
    gemini_bin: str = "gemini"
    state_dir: Path = field(default_factory=lambda: default_state_dir(os.environ))
    timeout_s: float = 3600.0
    idle_timeout_s: float = 900.0
    max_concurrent: int = 8
    max_agents: int = 1000
    max_depth: int = 2
    depth: int = 0
    """How deep in nested agent pools this server runs (AGENT_MCP_DEPTH, set by a parent agent-mcp)."""
    allowed_roots: tuple[Path, ...] = field(default_factory=tuple)
    max_message_bytes: int = 4 * MIB
    max_role_bytes: int = 64 * KIB
    max_line_bytes: int = 128 * MIB
    max_queued: int = 100
    max_reply_chars: int = 20_000
    max_resource_chars: int = 1_000_000
    max_wait_runs: int = 1000
    warm_ttl_s: float = 600.0
    max_warm: int = 8
    permission_timeout_s: float = 300.0
    permission_answerers: str = "any"
    keep_runs: int = 1000
    max_transcript_events: int = 2000
    hosts: tuple[Host, ...] = field(default_factory=tuple)
    ssh_config: Path | None = None
    remote_claude: str = "claude"
    connect_timeout_s: float = 15.0
    lock_timeout_s: float = 5.0
    transport: str = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    http_idle_s: float = 3600.0
    max_http_sessions: int = 100
    max_http_connections: int = 256
    http_header_timeout_s: float = 10.0
    http_body_timeout_s: float = 60.0
    wrong_tokens: int = 10
    wrong_token_refill_s: float = 10.0
    on_rate_limit: str = "wait"
    max_rate_limit_wait_s: float = 21600.0
    max_cost_usd: float | None = None
    cost_window_s: float = 86400.0
    sandbox: bool = False
    bwrap_bin: str = "bwrap"


@dataclass(frozen=True)
class Option:
    attr: str
    flag: str
    env: str
    convert: Callable[[str], Any]
    help: str
    const: str | None = None
    """The value of the flag given alone (`--sandbox`), for a switch; None: the flag takes a value."""


OPTIONS: tuple[Option, ...] = (
    Option(
        "claude_bin",
        "--claude-bin",
        "AGENT_MCP_CLAUDE_BIN",
        non_empty,
        "the claude executable: a name on PATH or a path (default: claude)",
    ),
    Option(
        "codex_bin",
        "--codex-bin",
        "AGENT_MCP_CODEX_BIN",
        non_empty,
        "the codex executable, for agents created with cli codex: a name on PATH or a path, here and on the hosts "
        "(default: codex)",
    ),
    Option(
        "gemini_bin",
        "--gemini-bin",
        "AGENT_MCP_GEMINI_BIN",
        non_empty,
        "the gemini executable, for agents created with cli gemini: a name on PATH or a path, here and on the hosts "
        "(default: gemini)",
    ),
    Option(
        "state_dir",
        "--state-dir",
        "AGENT_MCP_STATE_DIR",
        directory,
        "where the SQLite store lives (default: $XDG_STATE_HOME/agent-mcp, else ~/.local/state/agent-mcp)",
    ),
    Option(
        "timeout_s",
        "--timeout",
        "AGENT_MCP_TIMEOUT",
        positive_float,
        "wall-clock limit of one message in seconds, counted from the process start (default: 3600)",
    ),
    Option(
        "idle_timeout_s",
        "--idle-timeout",
        "AGENT_MCP_IDLE_TIMEOUT",
        positive_float,
        "limit on silence (no output) during one message, in seconds (default: 900)",
    ),
    Option(
        "max_concurrent",
        "--max-concurrent",
        "AGENT_MCP_MAX_CONCURRENT",
        positive_int,
        "claude processes running at once; more wait their turn (default: 8)",
    ),
    Option(
        "max_agents",
        "--max-agents",
        "AGENT_MCP_MAX_AGENTS",
        positive_int,
        "most agents the store may hold (default: 1000)",
    ),
    Option(
        "max_depth",
        "--max-depth",
        "AGENT_MCP_MAX_DEPTH",
        positive_int,
        "deepest nesting of agent pools (an agent running agent-mcp); at it, messages are refused (default: 2)",
    ),
    Option(
        "allowed_roots",
        "--allowed-roots",
        "AGENT_MCP_ALLOWED_ROOTS",
        roots,
        f"'{os.pathsep}'-separated directories an agent's cwd must lie under (default: unrestricted)",
    ),
    Option(
        "max_message_bytes",
        "--max-message-bytes",
        "AGENT_MCP_MAX_MESSAGE_BYTES",
        positive_int,
        "largest message in UTF-8 bytes (default: 4 MiB)",
    ),
    Option(
        "max_role_bytes",
        "--max-role-bytes",
        "AGENT_MCP_MAX_ROLE_BYTES",
        positive_int,
        "largest role in UTF-8 bytes (default: 64 KiB)",
    ),
    Option(
        "max_line_bytes",
        "--max-line-bytes",
        "AGENT_MCP_MAX_LINE_BYTES",
        positive_int,
        "longest output line read from claude, in bytes; a run that writes a longer one fails (default: 128 MiB)",
    ),
    Option(
        "warm_ttl_s",
        "--warm-ttl",
        "AGENT_MCP_WARM_TTL",
        seconds_or_off,
        "seconds an idle agent's claude process is kept for its next message; 0: a new process per message "
        "(default: 600)",
    ),
    Option(
        "max_warm",
        "--max-warm",
        "AGENT_MCP_MAX_WARM",
        positive_int,
        "idle claude processes kept at once; the least recently used goes first (default: 8)",
    ),
    Option(
        "permission_timeout_s",
        "--permission-timeout",
        "AGENT_MCP_PERMISSION_TIMEOUT",
        positive_float,
        "seconds a permission request of an ask-mode agent waits for an answer before it is denied (default: 300)",
    ),
    Option(
        "permission_answerers",
        "--permission-answerers",
        "AGENT_MCP_PERMISSION_ANSWERERS",
        one_of("person", "any"),
        "who may answer an ask-mode agent's permission requests: person (only through elicitation or the "
        "dashboard) or any (also the MCP caller with answer_permission, never allow_always) (default: any)",
    ),
    Option(
        "keep_runs",
        "--keep-runs",
        "AGENT_MCP_KEEP_RUNS",
        positive_int,
        "transcripts kept per agent: those of older runs are dropped (the runs stay) (default: 1000)",
    ),
    Option(
        "max_transcript_events",
        "--max-transcript-events",
        "AGENT_MCP_MAX_TRANSCRIPT_EVENTS",
        positive_int,
        "events kept in one run's transcript; later ones are counted in a last event (default: 2000)",
    ),
    Option(
        "max_queued",
        "--max-queued",
        "AGENT_MCP_MAX_QUEUED",
        positive_int,
        "most messages one agent may have queued or running in this server; more are refused (default: 100)",
    ),
    Option(
        "max_reply_chars",
        "--max-reply-chars",
        "AGENT_MCP_MAX_REPLY_CHARS",
        positive_int,
        "longest reply text a tool result carries; a longer one comes as head and tail, the whole readable by "
        "resource or get_run paging (default: 20000)",
    ),
    Option(
        "max_resource_chars",
        "--max-resource-chars",
        "AGENT_MCP_MAX_RESOURCE_CHARS",
        positive_int,
        "longest reply the resource agent-mcp://runs/{run_id}/reply gives whole (read whole, it costs the server "
        "several times its size); a longer one is read in pages with get_run's text_offset (default: 1000000)",
    ),
    Option(
        "max_wait_runs",
        "--max-wait-runs",
        "AGENT_MCP_MAX_WAIT_RUNS",
        positive_int,
        "most run ids one wait_runs call may name (default: 1000)",
    ),
    Option(
        "hosts",
        "--hosts",
        "AGENT_MCP_HOSTS",
        parse_hosts,
        "SSH hosts agents may run on, each with its cap on concurrent claude processes: alias=N,user@host:port=N "
        "(default: none, only this machine)",
    ),
    Option(
        "ssh_config",
        "--ssh-config",
        "AGENT_MCP_SSH_CONFIG",
        existing_file,
        "the ssh client configuration file to use for the hosts (default: ssh's own, ~/.ssh/config)",
    ),
    Option(
        "remote_claude",
        "--remote-claude",
        "AGENT_MCP_REMOTE_CLAUDE",
        non_empty,
        "the claude executable on the hosts: a name on the host's PATH or a path there (default: claude)",
    ),
    Option(
        "connect_timeout_s",
        "--connect-timeout",
        "AGENT_MCP_CONNECT_TIMEOUT",
        positive_float,
        "seconds to reach a host over ssh before it counts as unreachable (default: 15)",
    ),
    Option(
        "lock_timeout_s",
        "--lock-timeout",
        "AGENT_MCP_LOCK_TIMEOUT",
        positive_float,
        "seconds create_agent and delete_agent wait for a lock another call or server holds on the name, then "
        "refuse with busy (default: 5)",
    ),
    Option(
        "transport",
        "--transport",
        "AGENT_MCP_TRANSPORT",
        one_of("stdio", "http"),
        "stdio (the default) or http: Streamable HTTP at http://HOST:PORT/mcp",
    ),
    Option(
        "host",
        "--host",
        "AGENT_MCP_HOST",
        non_empty,
        "address to listen on with --transport http (default: 127.0.0.1)",
    ),
    Option("port", "--port", "AGENT_MCP_PORT", port, "port to listen on with --transport http (default: 8000)"),
    Option(
        "token",
        "--token",
        "AGENT_MCP_TOKEN",
        non_empty,
        "bearer token HTTP clients must send; required to listen beyond loopback",
    ),
    Option(
        "http_idle_s",
        "--http-idle-timeout",
        "AGENT_MCP_HTTP_IDLE_TIMEOUT",
        positive_float,
        "an HTTP session with no request in flight for this many seconds is closed (default: 3600)",
    ),
    Option(
        "max_http_sessions",
        "--max-http-sessions",
        "AGENT_MCP_MAX_HTTP_SESSIONS",
        positive_int,
        "most HTTP sessions open at once; a client opening another is refused (default: 100)",
    ),
    Option(
        "max_http_connections",
        "--max-http-connections",
        "AGENT_MCP_MAX_HTTP_CONNECTIONS",
        positive_int,
        "most HTTP connections open at once (MCP server and dashboard); one more is answered 503 and closed at once "
        "(default: 256)",
    ),
    Option(
        "http_header_timeout_s",
        "--http-header-timeout",
        "AGENT_MCP_HTTP_HEADER_TIMEOUT",
        positive_float,
        "seconds an HTTP client has to send a request's headers, from its connection or its previous response; "
        "then it is answered 408 and closed (default: 10)",
    ),
    Option(
        "http_body_timeout_s",
        "--http-body-timeout",
        "AGENT_MCP_HTTP_BODY_TIMEOUT",
        positive_float,
        "seconds an HTTP client has to send a request's whole body once its headers are in; then it is answered 408 "
        "and closed (default: 60)",
    ),
    Option(
        "wrong_tokens",
        "--wrong-tokens",
        "AGENT_MCP_WRONG_TOKENS",
        positive_int,
        "wrong tokens taken at once (dashboard login and API, HTTP bearer); past them every token check, right or "
        "wrong, answers 429 until one more is earned back (default: 10)",
    ),
    Option(
        "wrong_token_refill_s",
        "--wrong-token-refill",
        "AGENT_MCP_WRONG_TOKEN_REFILL",
        positive_float,
        "seconds to earn back one wrong token of --wrong-tokens (default: 10)",
    ),
    Option(
        "on_rate_limit",
        "--on-rate-limit",
        "AGENT_MCP_ON_RATE_LIMIT",
        one_of("wait", "fail"),
        "when an account hits its usage limit: wait (its runs are held and start by themselves once it resets) or "
        "fail (they end rate_limited at once) (default: wait)",
    ),
    Option(
        "max_rate_limit_wait_s",
        "--max-rate-limit-wait",
        "AGENT_MCP_MAX_RATE_LIMIT_WAIT",
        seconds_within(30 * 86400, "never wait: end at once"),
        "longest a run is held for a usage limit to reset; one that would wait longer ends rate_limited "
        "(default: 21600)",
    ),
    Option(
        "max_cost_usd",
        "--max-cost-usd",
        "AGENT_MCP_MAX_COST_USD",
        dollars,
        "most the pool may spend over --cost-window, in USD; at it, messages are refused budget_exhausted "
        "(default: no cap)",
    ),
    Option(
        "cost_window_s",
        "--cost-window",
        "AGENT_MCP_COST_WINDOW",
        seconds_within(10 * YEAR_S, "the store's whole life"),
        "the rolling window --max-cost-usd counts spend over, in seconds; 0: the store's whole life (default: 86400)",
    ),
    Option(
        "sandbox",
        "--sandbox",
        "AGENT_MCP_SANDBOX",
        switch,
        "run each agent's CLI in a bubblewrap box unless create_agent says sandbox=false; 1 or 0 (default: 0)",
        const="1",
    ),
    Option(
        "bwrap_bin",
        "--bwrap-bin",
        "AGENT_MCP_BWRAP_BIN",
        non_empty,
        "the bubblewrap executable that makes the boxes, here and on the hosts: a name on PATH or a path "
        "(default: bwrap)",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for option in OPTIONS:
        switch = {"nargs": "?", "const": option.const} if option.const is not None else {}
        parser.add_argument(
            option.flag,
            dest=option.attr,
            metavar=option.env,
            default=None,
            help=f"{option.help}; env {option.env}",
            **switch,  # type: ignore[arg-type]
        )


def load_settings(flags: Mapping[str, str | None], env: Mapping[str, str]) -> Settings:
    """Flags win over environment variables, which win over defaults; a bad value names its source."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw, source = flags.get(option.attr), option.flag
        if raw is None:
            raw, source = env.get(option.env), option.env
        if raw is None or raw == "":
            continue
        try:
            values[option.attr] = option.convert(raw)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    values.setdefault("state_dir", default_state_dir(env))
    values["depth"] = depth_of(env)
    settings = Settings(**values)
    if settings.max_role_bytes > largest_role():
        raise ValueError(
            f"--max-role-bytes / AGENT_MCP_MAX_ROLE_BYTES is {settings.max_role_bytes}, more than one argument to the "
            f"claude CLI can carry (the role goes in one): the most it can be is {largest_role()}"
        )
    if settings.transport == "http" and settings.token is None and not is_loopback(settings.host):
        raise ValueError(
            f"--host {settings.host} is not a loopback address: set a bearer token with AGENT_MCP_TOKEN or --token "
            "before serving beyond this machine"
        )
    return settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
