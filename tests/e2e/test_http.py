"""Streamable HTTP: one pool served to several clients, behind a bearer token."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import asynccontextmanager, contextmanager

import anyio
import httpx2
import pytest
from conftest import MARK, marked_processes
from helpers import AGENT_MCP, claude_processes, free_port, ok, wait_for_port
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-token"


@contextmanager
def http_server(env: dict[str, str], *args: str):
    port = free_port()
    process = subprocess.Popen(
        [AGENT_MCP, "--transport", "http", "--port", str(port), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


@asynccontextmanager
async def http_client(url: str, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def test_requests_without_the_right_token_get_401(claude_env, no_leaks):
    claude_env["AGENT_MCP_TOKEN"] = TOKEN
    with http_server(claude_env) as (url, _):
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        async with httpx2.AsyncClient() as http:
            missing = await http.post(url, json=body)
            wrong = await http.post(url, json=body, headers={"Authorization": "Bearer nope"})
        assert missing.status_code == wrong.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        with pytest.raises(Exception) as refused:
            async with http_client(url, token="nope") as client:
                await client.list_tools()
        assert isinstance(refused.value, MCPError) or refused.group_contains(MCPError, depth=None)
        async with http_client(url) as client:
            assert "send_message" in {t.name for t in (await client.list_tools()).tools}


async def test_two_clients_share_one_pool(tmp_path, claude_env, no_leaks):
    with http_server(claude_env, "--token", TOKEN) as (url, _):
        async with http_client(url) as first, http_client(url) as second:
            await ok(first, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            one = await ok(first, "send_message", agent="dev", message="hello")
            [seen] = (await ok(second, "list_agents"))["agents"]
            two = await ok(second, "send_message", agent="dev", message="from the other client")
            started = await ok(second, "start_message", agent="dev", message="MOCK_SLEEP=0.3")
            waited = await ok(first, "get_run", run_id=started["run_id"], wait_s=10)
    assert (seen["session_id"], seen["message_count"]) == (one["session_id"], 1)
    assert two["session_id"] == one["session_id"] and two["text"].startswith("Mock reply #2")
    assert waited["status"] == "done" and waited["response"]["text"].startswith("Mock reply #3")


async def test_a_big_message_fits_through_http(tmp_path, claude_env, no_leaks):
    message = "é" * (2 * 1024 * 1024)  # 4 MiB of UTF-8, the largest message allowed
    with http_server(claude_env) as (url, _):
        async with http_client(url, token=None) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            reply = await ok(client, "send_message", agent="dev", message=message)
    assert reply["is_error"] is False


def test_listening_beyond_loopback_needs_a_token(claude_env):
    done = subprocess.run(
        [AGENT_MCP, "--transport", "http", "--host", "0.0.0.0", "--port", "0"],
        env=claude_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--host 0.0.0.0 is not a loopback address: set a bearer token with AGENT_MCP_TOKEN" in done.stderr


async def test_sigterm_stops_the_http_server_and_every_claude_process(tmp_path, claude_env, no_leaks):
    with http_server(claude_env, "--token", TOKEN) as (url, process):
        async with http_client(url) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            await ok(client, "start_message", agent="dev", message="MOCK_IGNORE_TERM MOCK_SLEEP=30")
            with anyio.fail_after(10):
                while (await ok(client, "list_agents"))["agents"][0]["status"] != "running":
                    await anyio.sleep(0.05)
            assert claude_processes(claude_env)
            started = time.monotonic()
            os.kill(process.pid, signal.SIGTERM)
            while marked_processes(claude_env[MARK]) and time.monotonic() - started < 10:
                await anyio.sleep(0.05)
            assert not marked_processes(claude_env[MARK])
            assert time.monotonic() - started < 5


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "flood", "version": "1"}},
}
STREAMS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.attack
async def test_sessions_a_client_opens_and_abandons_are_capped_and_closed_when_idle(claude_env, no_leaks):
    """A client that opens sessions and never closes them (thousands, in the attack as found)."""
    with http_server(claude_env, "--max-http-sessions", "3", "--http-idle-timeout", "1") as (url, _):
        async with httpx2.AsyncClient(headers=STREAMS, timeout=30) as http:
            opened = [await http.post(url, json=INITIALIZE) for _ in range(3)]
            assert [r.status_code for r in opened] == [200, 200, 200]
            refused = await http.post(url, json=INITIALIZE)
            assert refused.status_code == 503
            assert "AGENT_MCP_MAX_HTTP_SESSIONS / --max-http-sessions" in refused.json()["error"]["message"]
            await anyio.sleep(2.5)  # idle past the timeout: the abandoned sessions are closed
            old = await http.post(
                url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                headers={"mcp-session-id": opened[0].headers["mcp-session-id"]},
            )  # fmt: skip
            assert old.status_code == 404
            assert (await http.post(url, json=INITIALIZE)).status_code == 200


async def test_the_dashboard_is_at_the_root_of_the_http_server(tmp_path, claude_env, no_leaks):
    """The same page and API as `agent-mcp dashboard`, over the server's own pool, behind its token."""
    claude_env["AGENT_MCP_TOKEN"] = TOKEN
    with http_server(claude_env) as (url, _):
        root = url.removesuffix("/mcp")
        async with http_client(url) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            async with httpx2.AsyncClient() as http:
                asked = await http.get(root + "/")
                refused = await http.get(root + "/api/agents")
                logged_in = await http.post(root + "/login", data={"token": TOKEN})
                agents = await http.get(root + "/api/agents")  # the client keeps the cookie it was given
    assert asked.status_code == 401 and 'name="token"' in asked.text
    assert refused.status_code == 401 and logged_in.status_code == 303
    assert [a["name"] for a in agents.json()["agents"]] == ["dev"]
