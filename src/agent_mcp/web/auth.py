"""Who may talk to the HTTP server: the names a request may give in Host and Origin (from the bind
address, against DNS rebinding), and one static token, compared in constant time and throttled
after every wrong guess (dashboard and MCP alike)."""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import time
from collections.abc import Callable

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_mcp.core.config import Settings, is_loopback

SCOPE = "agents"
WILDCARDS = ("0.0.0.0", "::", "")


class StaticTokenVerifier(TokenVerifier):
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id="agent-mcp-client", scopes=[SCOPE])
        return None


def auth_settings(host: str, port: int) -> AuthSettings:
    """The SDK wants OAuth metadata even for a static token; these URLs only describe this server."""
    base = f"http://{host}:{port}"
    return AuthSettings(
        issuer_url=f"{base}/",  # type: ignore[arg-type]
        resource_server_url=f"{base}/mcp",  # type: ignore[arg-type]
        required_scopes=[SCOPE],
        validate_token_resource=False,
    )


def _in_host_header(name: str) -> str:
    """An IPv6 address is bracketed in Host and Origin."""
    try:
        return f"[{name}]" if ipaddress.ip_address(name.strip("[]")).version == 6 else name
    except ValueError:
        return name


def transport_security(host: str, port: int) -> TransportSecuritySettings:
    """The SDK guards only 127.0.0.1, localhost and ::1 by itself: on any other loopback address
    (127.0.0.2) a page whose name was rebound to it passed with its own name in Host. So the names
    are set here, from the bind address, with the port: that address (and localhost, for a loopback
    one), or the name --host gives. A wildcard address has no name to hold requests to; there the
    token, which load_settings requires beyond loopback, is the guard."""
    if host in WILDCARDS:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = {_in_host_header(host)}
    if is_loopback(host):
        names.add("localhost")
    if host == "localhost":
        names |= {"127.0.0.1", "[::1]"}
    hosts = [f"{name}:{port or '*'}" for name in sorted(names)] + (sorted(names) if port == 80 else [])
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts],
    )


class TokenGuard:
    """The token, and a budget of wrong guesses: `budget` at once, one more earned back every
    `refill_s`. With none left, every check is refused unanswered, right or wrong (an answer to the
    right one would tell a guesser when it guessed right). A client with an old token beside a good
    one spends a few and locks nobody out; a guesser gets one guess per refill_s."""

    def __init__(self, token: str, budget: int, refill_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._token = token.encode()
        self._budget = budget
        self._refill_s = refill_s
        self._clock = clock
        self._left = float(budget)
        self._counted_at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._left = min(float(self._budget), self._left + (now - self._counted_at) / self._refill_s)
        self._counted_at = now

    def wait_s(self) -> float:
        """How long every check is refused still (0: a check may be made now)."""
        self._refill()
        return max(0.0, (1 - self._left) * self._refill_s)

    def check(self, given: str) -> bool:
        """Only while wait_s() is 0: the caller answers 429 before."""
        if hmac.compare_digest(given.encode(), self._token):
            return True
        self.count_wrong()
        return False

    def count_wrong(self) -> None:
        self._refill()
        self._left -= 1

    def refusal(self) -> str:
        return (
            f"[throttled] {self._budget} wrong tokens came too fast: every token is refused for "
            f"{retry_after(self)} s more (AGENT_MCP_WRONG_TOKENS / --wrong-tokens at once, one more every "
            "AGENT_MCP_WRONG_TOKEN_REFILL / --wrong-token-refill seconds); then try again"
        )


def token_guard(settings: Settings) -> TokenGuard | None:
    """One per server: the dashboard and the MCP endpoint it serves beside share its budget."""
    if settings.token is None:
        return None
    return TokenGuard(settings.token, settings.wrong_tokens, settings.wrong_token_refill_s)


def retry_after(guard: TokenGuard) -> int:
    """Retry-After counts whole seconds: rounded up, so a client that waits it is let in."""
    return max(1, math.ceil(guard.wait_s()))


def throttling_bearers(app: ASGIApp, guard: TokenGuard) -> ASGIApp:
    """The MCP endpoint checks the bearer token in the SDK, which answers 401 to a wrong one and knows
    no lock: here a request with a bearer is answered 429 while the guard is locked, and one the SDK
    refused with 401 counts as a wrong guess. (The dashboard checks its own tokens with the guard.)"""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        bearer = scope["type"] == "http" and "authorization" in Headers(scope=scope)
        if not bearer or not scope["path"].startswith("/mcp"):
            await app(scope, receive, send)
            return
        if guard.wait_s() > 0:
            body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": guard.refusal()}})
            headers = [(b"content-type", b"application/json"), (b"retry-after", str(retry_after(guard)).encode())]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body.encode()})
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                guard.count_wrong()
            await send(message)

        await app(scope, receive, counting)

    return guarded
