"""The pool in a browser: the agents, their runs, a run's transcript as it grows, and a person's
actions (cancel a run, answer a permission request).

`agent-mcp dashboard` serves it over a pool of its own on the state directory: it runs no agent, it
reads the store every server on that directory writes (stdio ones included), and asks a run's owner
to act (commands.py). Safe by default: it listens on loopback only unless a token is set; with one,
the page asks for it once and keeps it in an HttpOnly, SameSite=Strict cookie, and every action is
a POST checked against the token and the Origin. What an agent wrote is data: the page sets text,
never markup (dashboard_page.py).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import replies
from .config import is_loopback
from .dashboard_page import LOGIN_PAGE, PAGE
from .errors import AgentMCPError, InvalidInput
from .pool import AgentPool

COOKIE = "agent_mcp_token"
RUNS_SHOWN = 20


def dashboard_app(pool_of: Callable[[], AgentPool], token: str | None, lifespan: Any = None) -> Starlette:
    def allowed(request: Request) -> bool:
        if token is None:
            return True
        given = request.cookies.get(COOKIE) or request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    def foreign(request: Request) -> Response | None:
        """Without a token only this machine may look, by a loopback name: a page elsewhere whose own
        name was rebound to 127.0.0.1 (DNS rebinding) sends that name in Host, and is refused."""
        if token is None and not is_loopback(request.url.hostname or ""):
            refusal = "[forbidden] without a token this dashboard answers to loopback names only"
            return JSONResponse({"error": refusal}, status_code=403)
        return None

    def guarded(handler: Callable[[Request], Awaitable[Any]], action: bool = False) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            if (refused := foreign(request)) is not None:
                return refused
            if not allowed(request):
                return JSONResponse({"error": "[unauthorized] log in with the dashboard's token"}, status_code=401)
            if action and request.headers.get("origin") != f"{request.url.scheme}://{request.url.netloc}":
                refusal = "[forbidden] actions come from the dashboard's own page"
                return JSONResponse({"error": refusal}, status_code=403)
            try:
                return JSONResponse(await handler(request))
            except AgentMCPError as exc:
                return JSONResponse({"error": f"[{exc.kind}] {exc}"}, status_code=400)

        return endpoint

    async def index(request: Request) -> Response:
        if (refused := foreign(request)) is not None:
            return refused
        if not allowed(request):
            return HTMLResponse(LOGIN_PAGE, status_code=401)
        return HTMLResponse(PAGE)

    async def login(request: Request) -> Response:
        given = str((await request.form()).get("token") or "")
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            return HTMLResponse(LOGIN_PAGE.replace("<!--wrong-->", "<p class=err>That is not the token.</p>"), 401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    async def agents(request: Request) -> Any:
        pool = pool_of()
        listing = await pool.listing(limit=1000)
        activity = pool.store.activity()
        shown = []
        for agent in listing.data["agents"]:
            last, step = activity.get(agent["name"].casefold(), (None, None))
            shown.append({**agent, "last_activity": last, "step": step})
        return {"agents": shown, "total": listing.data["total"]}

    async def runs(request: Request) -> Any:
        pool = pool_of()
        infos, _ = pool.history_page(request.path_params["name"], RUNS_SHOWN, None)
        return {"runs": [replies.entry_of_run(info, 300).model_dump(mode="json") for info in infos]}

    async def transcript(request: Request) -> Any:
        after = request.query_params.get("after", "0")
        if not after.isdigit():
            raise InvalidInput(f"after must be a whole number, got {after!r}")
        return pool_of().transcript(request.path_params["run_id"], int(after), 200).model_dump(mode="json")

    async def cancel(request: Request) -> Any:
        return (await pool_of().cancel(request.path_params["run_id"])).model_dump(mode="json")

    async def answer(request: Request) -> Any:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise InvalidInput("the answer must be JSON: {request_id, decision, message?}") from None
        if not isinstance(body, dict):
            raise InvalidInput("the answer must be a JSON object: {request_id, decision, message?}")
        info = await pool_of().answer_permission(
            request.path_params["run_id"], str(body.get("request_id")), str(body.get("decision")), body.get("message")
        )
        return info.model_dump(mode="json")

    routes = [
        Route("/", index),
        Route("/login", login, methods=["POST"]),
        Route("/api/agents", guarded(agents)),
        Route("/api/agents/{name}/runs", guarded(runs)),
        Route("/api/runs/{run_id}/transcript", guarded(transcript)),
        Route("/api/runs/{run_id}/cancel", guarded(cancel, action=True), methods=["POST"]),
        Route("/api/runs/{run_id}/answer", guarded(answer, action=True), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def standalone(pool: AgentPool, token: str | None) -> Starlette:
    """`agent-mcp dashboard`: the app with a pool of its own for the app's lifetime."""
    running: dict[str, AgentPool] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with pool.running() as live:
            running["pool"] = live
            yield

    return dashboard_app(lambda: running["pool"], token, lifespan)
