"""The HTTP server and the dashboard over real sockets on loopback, attacked from a page elsewhere
(its name rebound to the server's address, or framing the dashboard), by slow clients (half-sent
requests, a body that never ends, more connections than the cap) and by a guesser of the token."""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import httpx2
import pytest
from helpers import AGENT_MCP, free_port, ok
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from test_dashboard_browser import browser, dashboard, until  # noqa: F401 (fixtures)
from test_http import INITIALIZE, STREAMS

from agent_mcp.web.auth import transport_security

pytestmark = pytest.mark.anyio

SERVERS = {"mcp": ["--transport", "http"], "dashboard": ["dashboard"]}


@contextmanager
def serving(env: dict[str, str], *args: str, host: str = "127.0.0.1") -> Iterator[int]:
    """agent-mcp with these arguments on host, until it listens there; yields its port."""
    port = free_port()
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    process = subprocess.Popen([AGENT_MCP, *args, "--host", host, "--port", str(port)], env=env, **quiet)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "it did not listen"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def half_sent(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(data)
    return sock


def answer_then_closed(sock: socket.socket) -> bytes:
    """All the server writes until it closes the connection (a timeout fails the test)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def test_the_allowed_names_come_from_the_bind_address():
    def names(host: str, port: int) -> tuple[list[str], list[str]]:
        settings = transport_security(host, port)
        assert settings.enable_dns_rebinding_protection
        return settings.allowed_hosts, settings.allowed_origins

    assert names("127.0.0.2", 8000) == (
        ["127.0.0.2:8000", "localhost:8000"],
        ["http://127.0.0.2:8000", "http://localhost:8000"],
    )
    assert names("::1", 9) == (["[::1]:9", "localhost:9"], ["http://[::1]:9", "http://localhost:9"])
    assert names("localhost", 9)[0] == ["127.0.0.1:9", "[::1]:9", "localhost:9"]
    assert names("box.example", 80) == (
        ["box.example:80", "box.example"],
        ["http://box.example:80", "http://box.example"],
    )
    assert names("10.1.2.3", 0)[0] == ["10.1.2.3:*"]  # a port the system picks
    # No name to hold a request to on a wildcard address: the token (required there) guards.
    assert not transport_security("0.0.0.0", 8000).enable_dns_rebinding_protection


@pytest.mark.attack
async def test_a_page_rebound_to_a_loopback_address_is_refused(tmp_path, claude_env, no_leaks):
    """On 127.0.0.2 without a token the SDK's own list (127.0.0.1, localhost, ::1) did not apply: a
    request naming evil.example in Host got 200 and could create agents."""
    with serving(claude_env, "--transport", "http", host="127.0.0.2") as port:
        url = f"http://127.0.0.2:{port}/mcp"
        async with httpx2.AsyncClient(headers=STREAMS, timeout=30) as http:
            rebound = await http.post(url, json=INITIALIZE, headers={"Host": f"evil.example:{port}"})
            framed = await http.post(url, json=INITIALIZE, headers={"Origin": f"http://evil.example:{port}"})
            own = await http.post(url, json=INITIALIZE)
            assert (rebound.status_code, framed.status_code, own.status_code) == (421, 403, 200)
            session = {"mcp-session-id": own.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            create = {"name": "create_agent", "arguments": {"name": "evil", "role": "r", "cwd": str(tmp_path)}}
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": create}
            taken = await http.post(url, json=call, headers={**session, "Host": f"evil.example:{port}"})
            assert taken.status_code == 421
        async with Client(streamable_http_client(url)) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            assert [a["name"] for a in (await ok(client, "list_agents"))["agents"]] == ["dev"]


@pytest.mark.attack
@pytest.mark.parametrize("server", SERVERS)
def test_half_sent_requests_are_closed_after_the_header_timeout(server, claude_env, no_leaks):
    """50 half-sent requests stayed open 60 s. Now each is answered 408 and closed at the deadline,
    also one that trickles a byte at a time, also one that sends nothing; the server goes on."""
    with serving(claude_env, *SERVERS[server], "--http-header-timeout", "0.5") as port:
        started = time.monotonic()
        socks = [half_sent(port, b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le") for _ in range(50)]
        silent = half_sent(port, b"")
        trickled = half_sent(port, b"G")
        for byte in b"ET /":  # bytes keep coming, the deadline stays
            time.sleep(0.08)
            trickled.send(bytes([byte]))
        answers = [answer_then_closed(s) for s in [*socks, trickled]]
        idle = answer_then_closed(silent)
        took = time.monotonic() - started
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[0]
        assert b"AGENT_MCP_HTTP_HEADER_TIMEOUT / --http-header-timeout" in answers[0]
        assert idle.startswith(b"HTTP/1.1 408 ") and 0.5 <= took < 5, took
        with httpx2.Client(timeout=10) as http:
            assert http.get(f"http://127.0.0.1:{port}/dashboard.js").status_code == 200


@pytest.mark.attack
@pytest.mark.parametrize("server", SERVERS)
def test_a_body_that_never_ends_is_closed_after_the_body_timeout(server, claude_env, no_leaks):
    with serving(claude_env, *SERVERS[server], "--http-body-timeout", "0.5") as port:
        path = "/mcp" if server == "mcp" else "/login"
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        head += "Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n"
        sock = half_sent(port, (head + "{").encode())  # 1 byte of the 1,000 it announced
        started = time.monotonic()
        answer = answer_then_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 ") and 0.3 <= time.monotonic() - started < 5
        assert b"AGENT_MCP_HTTP_BODY_TIMEOUT / --http-body-timeout" in answer


@pytest.mark.attack
@pytest.mark.parametrize("server", SERVERS)
def test_connections_past_the_cap_are_refused_at_once(server, claude_env, no_leaks):
    with serving(claude_env, *SERVERS[server], "--max-http-connections", "5") as port:
        time.sleep(0.3)  # the connection that found it listening is gone
        held = [half_sent(port, b"GET / HT") for _ in range(5)]
        time.sleep(0.3)  # all five accepted by the server
        started = time.monotonic()
        refused = answer_then_closed(half_sent(port, b""))
        assert refused.startswith(b"HTTP/1.1 503 ") and time.monotonic() - started < 1
        assert b"AGENT_MCP_MAX_HTTP_CONNECTIONS / --max-http-connections" in refused
        for sock in held:
            sock.close()
        time.sleep(0.3)
        with httpx2.Client(timeout=10) as http:
            assert http.get(f"http://127.0.0.1:{port}/dashboard.css").status_code == 200


async def test_a_long_call_and_its_stream_outlast_the_timeouts(tmp_path, claude_env, no_leaks):
    """The deadlines run only while the client owes part of its request: a tool call that takes
    longer, and the session's streams, are the server's turn."""
    args = ["--transport", "http", "--http-header-timeout", "0.3", "--http-body-timeout", "0.3"]
    with serving(claude_env, *args) as port:
        async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp")) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            await anyio.sleep(1)  # idle past the header timeout
            reply = await ok(client, "send_message", agent="dev", message="MOCK_SLEEP=1.5 hello")
            assert reply["text"].startswith("Mock reply")


@pytest.mark.attack
async def test_a_guesser_of_the_bearer_token_is_locked_out(claude_env, no_leaks):
    """The MCP endpoint shares the dashboard's token: guessing it there was as fast as at /login."""
    args = ["--transport", "http", "--token", "s3cret", "--wrong-tokens", "3", "--wrong-token-refill", "2"]
    with serving(claude_env, *args) as port:
        url = f"http://127.0.0.1:{port}/mcp"
        async with httpx2.AsyncClient(headers=STREAMS, timeout=30) as http:
            tried = [await http.post(url, json=INITIALIZE, headers={"Authorization": f"Bearer {i}"}) for i in range(50)]
            during = await http.post(url, json=INITIALIZE, headers={"Authorization": "Bearer s3cret"})
            assert [t.status_code for t in tried] == [401] * 3 + [429] * 47
            assert during.status_code == 429 and int(during.headers["retry-after"]) >= 1
            assert "AGENT_MCP_WRONG_TOKENS / --wrong-tokens" in during.json()["error"]["message"]
            await anyio.sleep(int(during.headers["retry-after"]))  # waited as told
            right = await http.post(url, json=INITIALIZE, headers={"Authorization": "Bearer s3cret"})
            assert right.status_code == 200


@contextmanager
def page_elsewhere(html: str) -> Iterator[str]:
    """A page served from another origin (another port), as any site the person visits."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.attack
async def test_a_page_elsewhere_cannot_frame_the_dashboard(no_leaks, browser, dashboard):  # noqa: F811
    """Framed, the dashboard's buttons took clicks the person meant for the page around it."""
    base = dashboard()
    browser.get(base)
    until(lambda: browser.find_element("css selector", "#agents"))  # it shows, alone in its tab
    with page_elsewhere(f'<iframe id="f" src="{base}/" width="800" height="600"></iframe>') as framer:
        browser.get(framer)
        frame = until(lambda: browser.find_element("css selector", "iframe#f"))
        time.sleep(1)
        browser.switch_to.frame(frame)
        assert browser.find_elements("css selector", "#agents") == []  # the browser refused to show it
        browser.switch_to.default_content()
