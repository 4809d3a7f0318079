"""The pool in a browser: the agents, their runs, a run's transcript as it grows, and a person's
actions (cancel a run, answer a permission request).

`agent-mcp dashboard` serves it over a pool of its own on the state directory: it runs no agent, it
reads the store every server on that directory writes (stdio ones included), and asks a run's owner
to act (commands.py). Safe by default: it listens on loopback only unless a token is set; with one,
the page asks for it once and keeps it in an HttpOnly, SameSite=Strict cookie, every action is a
POST checked against the token and the Origin, and wrong tokens past a budget lock every check for
a while (http_auth.TokenGuard). No page may frame it (clicks in a frame would pass the Origin check), and its
script and style are files of their own, so its CSP allows no inline script at all. What an agent
wrote is data: the page sets text, never markup (dashboard_page.py).
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_mcp.core.config import is_loopback
from agent_mcp.core.errors import AgentMCPError, InvalidInput
from agent_mcp.dashboard._page import LOGIN_PAGE, PAGE, SCRIPT, STYLE
from agent_mcp.pool import replies
from agent_mcp.pool.pool import AgentPool
from agent_mcp.web.auth import TokenGuard, retry_after

COOKIE = "agent_mcp_token"
RUNS_SHOWN = 20
LARGEST_AFTER = 2**53 - 1
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
]
REQUEST_ID_HEAD = '{"request_id": '
"""How transcript.py begins a permission request's content: its id comes first, before the input
that can be cut with the content."""


class NeverFramed:
    """Every response of the dashboard says no page may frame it and no script but its own file runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, secured if scope["type"] == "http" else send)


class Gate:
    """Who may look: without a token, this machine by a loopback name (a page elsewhere whose own name
    was rebound to 127.0.0.1 sends that name in Host); with one, whoever has it, through the guard.
    So the page, the login and every API endpoint go through it."""

    def __init__(self, guard: TokenGuard | None) -> None:
        self.guard = guard

    def refusal(self, request: Request) -> tuple[int, str] | None:
        if self.guard is None:
            if is_loopback(request.url.hostname or ""):
                return None
            return 403, "[forbidden] without a token this dashboard answers to loopback names only"
        given = request.cookies.get(COOKIE) or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not given:
            return 401, "[unauthorized] log in with the dashboard's token"
        return self.check(given)

    def check(self, given: str) -> tuple[int, str] | None:
        if self.guard is None:
            return 401, "[unauthorized] this dashboard has no token to log in with"
        if self.guard.wait_s() > 0:
            return 429, self.guard.refusal()
        if not self.guard.check(given):
            return 401, "[unauthorized] that is not the token; log in with the dashboard's token"
        return None

    def answer(self, status: int, text: str, page: bool) -> Response:
        """A refusal as a page (the login form, saying why) or as the API's JSON; a cookie with a
        wrong token is dropped, so that a page polling with it counts as one wrong guess, not many."""
        response: Response
        if page and status != 403:
            response = HTMLResponse(LOGIN_PAGE.replace("<!--wrong-->", f"<p class=err>{html.escape(text)}</p>"), status)
        else:
            response = JSONResponse({"error": text}, status_code=status)
        if status == 429 and self.guard is not None:
            response.headers["retry-after"] = str(retry_after(self.guard))
        if status == 401:
            response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    async def index(self, request: Request) -> Response:
        if (refused := self.refusal(request)) is not None:
            return self.answer(*refused, page=True)
        return HTMLResponse(PAGE)

    async def log_in(self, request: Request, most: int) -> Response:
        """The login form's POST (its body read up to `most` bytes): the token, kept in a cookie."""
        try:
            body = await capped_body(request, most)
        except InvalidInput as exc:
            return self.answer(400, f"[{exc.kind}] {exc}", page=True)
        given = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
        if (refused := self.check(given)) is not None:
            return self.answer(*refused, page=True)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, given, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    def guarded(self, handler: Callable[[Request], Awaitable[Any]], action: bool = False) -> Callable[..., Any]:
        """An API endpoint behind the gate; an action also comes from the dashboard's own page. What
        the pool refuses is answered as the API's JSON, cut to what a person reads."""

        async def endpoint(request: Request) -> Response:
            if (refused := self.refusal(request)) is not None:
                return self.answer(*refused, page=False)
            if action and request.headers.get("origin") != f"{request.url.scheme}://{request.url.netloc}":
                refusal = "[forbidden] actions come from the dashboard's own page"
                return JSONResponse({"error": refusal}, status_code=403)
            try:
                return JSONResponse(await handler(request))
            except AgentMCPError as exc:
                return JSONResponse({"error": brief(f"[{exc.kind}] {exc}")}, status_code=400)

        return endpoint


def brief(text: str, most: int = 400) -> str:
    """A refusal quotes what it refused, which can be 5,000 characters of a path: its middle goes,
    its start (what was wrong) and its end (what to do) stay."""
    if len(text) <= most:
        return text
    return f"{text[: most // 2]} … {text[len(text) - most // 2 + 3 :]}"


def whole_number(what: str, text: str, highest: int) -> int:
    """A query parameter: ASCII digits only (str.isdigit takes '²'), and checked before int() can
    make a number SQLite cannot hold."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(highest)) and int(text) <= highest):
        raise InvalidInput(f"{what} must be a whole number from 0 to {highest}, got {text[:40]!r}")
    return int(text)


def request_id_of(content: str) -> str | None:
    """A permission request's id, read from the head of its content: whole even when the content
    was cut at 8 KB in the middle of a long tool input."""
    if not content.startswith(REQUEST_ID_HEAD):
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(content, len(REQUEST_ID_HEAD))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


async def capped_body(request: Request, most: int) -> bytes:
    """A body read up to `most` bytes: a client cannot make the dashboard hold more."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > most:
            raise InvalidInput(
                f"the request's body is over {most} bytes (AGENT_MCP_MAX_MESSAGE_BYTES / --max-message-bytes)"
            )
    return bytes(body)


def answer_fields(body: bytes) -> tuple[str, str, str | None]:
    """The answer's request_id, decision and message, each of the type it must be."""
    shape = "the answer must be a JSON object: {request_id, decision, message?} (strings)"
    try:
        fields = json.loads(body)
    except ValueError:
        raise InvalidInput(shape) from None
    if not isinstance(fields, dict):
        raise InvalidInput(shape)
    request_id, decision, message = fields.get("request_id"), fields.get("decision"), fields.get("message")
    if not (isinstance(request_id, str) and isinstance(decision, str) and isinstance(message, str | None)):
        raise InvalidInput(shape)
    return request_id, decision, message


async def script(_: Request) -> Response:
    return Response(SCRIPT, media_type="text/javascript")


async def style(_: Request) -> Response:
    return Response(STYLE, media_type="text/css")


class Api:
    """What the page reads (the agents, an agent's runs, a run's transcript) and the actions a person
    takes (cancel a run, answer a permission request), over the pool of the moment."""

    def __init__(self, pool_of: Callable[[], AgentPool]) -> None:
        self.pool_of = pool_of

    async def agents(self, request: Request) -> dict[str, Any]:
        pool = self.pool_of()
        listing = await pool.listing(limit=1000)
        activity = pool.store.runs.activity()
        shown = []
        for agent in listing.data["agents"]:
            last, step = activity.get(agent["name"].casefold(), (None, None))
            shown.append({**agent, "last_activity": last, "step": step})
        return {"agents": shown, "total": listing.data["total"]}

    async def pool(self, request: Request) -> dict[str, Any]:
        """pool_status: each account's windows and pause, the spend against its cap."""
        return self.pool_of().status().model_dump(mode="json")

    async def runs(self, request: Request) -> dict[str, Any]:
        infos, _ = self.pool_of().history_page(request.path_params["name"], RUNS_SHOWN, None)
        return {"runs": [replies.entry_of_run(info, 300).model_dump(mode="json") for info in infos]}

    async def transcript(self, request: Request) -> dict[str, Any]:
        after = whole_number("after", request.query_params.get("after", "0"), LARGEST_AFTER)
        page = self.pool_of().transcript(request.path_params["run_id"], after, 200).model_dump(mode="json")
        for event in page["events"]:
            if event["kind"] == "permission_request":
                event["request_id"] = request_id_of(event["content"])
        return page

    async def cancel(self, request: Request) -> dict[str, Any]:
        return (await self.pool_of().cancel(request.path_params["run_id"])).model_dump(mode="json")

    async def answer(self, request: Request) -> dict[str, Any]:
        pool = self.pool_of()
        request_id, decision, message = answer_fields(await capped_body(request, pool.settings.max_message_bytes))
        info = await pool.answer_permission(request.path_params["run_id"], request_id, decision, message, "dashboard")
        return info.model_dump(mode="json")


def dashboard_app(pool_of: Callable[[], AgentPool], guard: TokenGuard | None, lifespan: Any = None) -> Starlette:
    gate, api = Gate(guard), Api(pool_of)

    async def login(request: Request) -> Response:
        return await gate.log_in(request, pool_of().settings.max_message_bytes)

    routes = [
        Route("/", gate.index),
        Route("/dashboard.js", script),
        Route("/dashboard.css", style),
        Route("/login", login, methods=["POST"]),
        Route("/api/agents", gate.guarded(api.agents)),
        Route("/api/pool", gate.guarded(api.pool)),
        Route("/api/agents/{name}/runs", gate.guarded(api.runs)),
        Route("/api/runs/{run_id}/transcript", gate.guarded(api.transcript)),
        Route("/api/runs/{run_id}/cancel", gate.guarded(api.cancel, action=True), methods=["POST"]),
        Route("/api/runs/{run_id}/answer", gate.guarded(api.answer, action=True), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(NeverFramed)])


def standalone(pool: AgentPool, guard: TokenGuard | None) -> Starlette:
    """`agent-mcp dashboard`: the app with a pool of its own for the app's lifetime."""
    running: dict[str, AgentPool] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with pool.running() as live:
            running["pool"] = live
            yield

    return dashboard_app(lambda: running["pool"], guard, lifespan)
