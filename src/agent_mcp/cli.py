"""`agent-mcp`: parse options, then serve MCP (stdio or HTTP) until the client goes away or a signal.

stdout is the protocol wire, so everything here logs to stderr and nothing prints.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import sqlite3
import sys
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio

from agent_mcp import __version__
from agent_mcp.core.config import Settings, add_arguments, is_loopback, load_settings
from agent_mcp.doctor import run_doctor
from agent_mcp.server.tools import build_server
from agent_mcp.store.database import Store
from agent_mcp.store.file import StoreUnusable

if TYPE_CHECKING:
    from starlette.types import ASGIApp

log = logging.getLogger("agent_mcp")

SHUTDOWN_LIMIT_S = 4.5
DASHBOARD_PORT = 8766


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-mcp",
        description="An MCP server that runs a pool of Claude Code agents as tools, over stdio (the default) "
        "or Streamable HTTP (--transport http). Every option can also be set by the environment variable "
        "named after it; the flag wins.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "doctor", "dashboard"],
        default="serve",
        help="serve: MCP over stdio, or HTTP with --transport http (the default command); doctor: check the "
        "CLI, login, store and policy, then exit; dashboard: the pool in a browser, on --host and --port "
        f"(default {DASHBOARD_PORT})",
    )
    parser.add_argument("--version", action="version", version=f"agent-mcp {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("AGENT_MCP_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stderr log level; env AGENT_MCP_LOG_LEVEL",
    )
    add_arguments(parser)
    return parser


def _exit_after_cleanup(cleaned_up: threading.Event) -> None:
    """The SDK's stdin reader thread blocks a normal exit until stdin closes; after a signal we
    leave as soon as the lifespan has killed every claude process (or the limit passes)."""
    cleaned_up.wait(SHUTDOWN_LIMIT_S)
    logging.shutdown()
    os._exit(0)


async def serve(settings: Settings) -> None:
    server = build_server(settings)
    cleaned_up = threading.Event()
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
                async for signum in signals:
                    log.info("received %s; stopping every agent and exiting", signal.Signals(signum).name)
                    threading.Thread(target=_exit_after_cleanup, args=(cleaned_up,), daemon=True).start()
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(on_signal)
        try:
            await server.run_stdio_async()
        finally:
            cleaned_up.set()
        tg.cancel_scope.cancel()


async def serve_http(settings: Settings) -> None:
    """uvicorn runs the lifespan (so shutdown ends every claude process) and handles SIGTERM and
    SIGINT; requests still waiting for a reply then get a few seconds before they are dropped."""
    from starlette.routing import Mount  # only HTTP mode needs these: keep them out of the stdio server's start-up

    from agent_mcp.dashboard.app import dashboard_app
    from agent_mcp.pool.pool import AgentPool
    from agent_mcp.server.http_sessions import naming_the_session_cap
    from agent_mcp.web.auth import throttling_bearers, token_guard, transport_security

    pools: list[AgentPool] = []
    server = build_server(settings, pools=pools)
    app = server.streamable_http_app(
        host=settings.host,
        transport_security=transport_security(settings.host, settings.port),
        # JSON can take six bytes for one byte of message (\u escapes): leave room for the largest.
        max_request_body_size=6 * settings.max_message_bytes + 1024 * 1024,
        session_idle_timeout=settings.http_idle_s,
        max_sessions=settings.max_http_sessions,
    )
    guard = token_guard(settings)
    app.router.routes.append(Mount("/", dashboard_app(lambda: pools[0], guard)))  # the dashboard at /
    served = naming_the_session_cap(app, settings.max_http_sessions)
    await _serve(served if guard is None else throttling_bearers(served, guard), settings)


async def serve_dashboard(settings: Settings) -> None:
    from agent_mcp.dashboard.app import standalone
    from agent_mcp.pool.pool import AgentPool
    from agent_mcp.web.auth import token_guard

    guard = token_guard(settings)
    await _serve(standalone(AgentPool(settings), guard), settings)


async def _serve(app: ASGIApp, settings: Settings) -> None:
    from agent_mcp.web.serving import http_server

    level = logging.getLevelName(log.getEffectiveLevel()).lower()
    await http_server(app, settings, level, graceful_s=int(SHUTDOWN_LIMIT_S) - 1).serve()


_M_MMAP_THRESHOLD = -3


def _give_large_blocks_back() -> None:
    """glibc serves a block above its mmap threshold with its own mapping, returned to the system on
    free; but it raises that threshold each time such a block is freed, and then serves the next
    large reply from the heap, which keeps the memory after it is freed. A fixed threshold keeps a
    megabyte reply's memory from staying with the server once the reply is stored."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(vars(args), os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "doctor":
        sys.exit(run_doctor(settings, os.environ, sys.stdout))
    if args.command == "dashboard":
        if args.port is None and not os.environ.get("AGENT_MCP_PORT"):
            settings = replace(settings, port=DASHBOARD_PORT)
        if settings.token is None and not is_loopback(settings.host):
            parser.error(f"--host {settings.host} is not a loopback address: set a token (AGENT_MCP_TOKEN / --token)")
    _give_large_blocks_back()
    try:
        Store.open_checked(settings.state_dir)
    except StoreUnusable as exc:
        sys.exit(f"agent-mcp: {exc}")
    except (OSError, sqlite3.Error) as exc:
        sys.exit(
            f"agent-mcp: cannot open the store in {settings.state_dir} ({exc}); make the directory writable, or point "
            "AGENT_MCP_STATE_DIR / --state-dir elsewhere"
        )
    if args.command == "dashboard":
        log.info("agent-mcp %s dashboard on http://%s:%d/", __version__, settings.host, settings.port)
        anyio.run(serve_dashboard, settings)
        return
    if settings.transport == "http":
        log.info("agent-mcp %s serving on http://%s:%d/mcp", __version__, settings.host, settings.port)
        anyio.run(serve_http, settings)
        return
    log.info("agent-mcp %s serving on stdio (claude: %s)", __version__, settings.claude_bin)
    try:
        anyio.run(serve, settings)
    except BaseExceptionGroup as group:
        if group.split((BrokenPipeError, ConnectionResetError))[1] is not None:
            raise
        _client_went_away()
    except (BrokenPipeError, ConnectionResetError):
        _client_went_away()


def _client_went_away() -> None:
    """The client closed our stdout: its leaving is the normal end of a stdio server, not a crash.
    Every run has been ended by then (the pool's lifespan is over). A plain exit would wait for the
    SDK's stdin reader thread, which waits for a stdin the client may never close."""
    log.info("the client closed the connection; exiting")
    logging.shutdown()
    os._exit(0)
