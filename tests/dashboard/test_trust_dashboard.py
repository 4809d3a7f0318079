"""The dashboard against a page elsewhere and a guesser: no page may frame it (clicks in a frame pass
the Origin check), its CSP allows no inline script, wrong tokens lock every check for a while, a
permission request with an input of over 8 KB can still be answered from the page, and bad
parameters are answered 400, never 500. (The same over real sockets: e2e/test_trust_http.py.)"""

from __future__ import annotations

import re

import httpx2
import pytest

from agent_mcp.core.models import AgentOptions
from agent_mcp.dashboard._page import LOGIN_PAGE, PAGE
from agent_mcp.dashboard.app import COOKIE, dashboard_app
from agent_mcp.web.auth import TokenGuard

pytestmark = pytest.mark.anyio

ORIGIN = {"origin": "http://127.0.0.1"}


def client(pool, guard: TokenGuard | None = None) -> httpx2.AsyncClient:
    app = dashboard_app(lambda: pool, guard)
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1")


def never_framed(response: httpx2.Response) -> bool:
    policy = response.headers.get("content-security-policy", "")
    return (
        response.headers.get("x-frame-options") == "DENY"
        and "frame-ancestors 'none'" in policy
        and "script-src 'self'" in policy
        and "unsafe-inline" not in policy
    )


@pytest.mark.attack
async def test_no_page_may_frame_it_and_no_inline_script_runs(make_pool, claude_env, no_leaks):
    """A page elsewhere framed the dashboard: clicks in the frame (allow, allow always, cancel) came
    from the dashboard's own origin. Every answer, refusals and files included, now forbids framing."""
    pool = await make_pool(claude_env)
    async with client(pool) as http, client(pool, TokenGuard("s3cret", 10, 10.0)) as locked:
        answers = [
            await http.get("/"),
            await http.get("/dashboard.js"),
            await http.get("/dashboard.css"),
            await http.get("/api/agents"),
            await http.get("/api/runs/nope/transcript"),
            await http.post("/api/runs/x/cancel"),  # no Origin: 403
            await http.get("/no/such/page"),
            await locked.get("/"),  # the login page
            await locked.post("/login", data={"token": "guess"}),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 400, 403, 404, 401, 401]
    assert all(map(never_framed, answers)), [dict(a.headers) for a in answers if not never_framed(a)]
    assert answers[1].headers["content-type"].startswith("text/javascript")
    for page in (PAGE, LOGIN_PAGE):  # nothing inline a CSP would have to allow
        assert not re.search(r"<script(?![^>]*\ssrc=)", page) and "<style" not in page
        assert not re.search(r"\son[a-z]+=", page) and "javascript:" not in page


@pytest.mark.attack
async def test_wrong_tokens_past_the_budget_lock_every_check_and_the_right_one_gets_in_after_the_wait(
    make_pool, claude_env, no_leaks
):
    """200 wrong tokens went through /login in 0.3 s. Now 5 are taken (the budget here), then every
    check (login, cookie, bearer) answers 429 with Retry-After, right token included, until one more
    is earned back."""
    pool = await make_pool(claude_env)
    now = [0.0]  # the guard's clock, moved by hand: nothing is earned back while the guesses come
    guard = TokenGuard("s3cret", 5, 60.0, clock=lambda: now[0])
    async with client(pool, guard) as http:
        tried = [await http.post("/login", data={"token": f"guess{i}"}) for i in range(200)]
        during = await http.post("/login", data={"token": "s3cret"})
        bearer = await http.get("/api/agents", headers={"authorization": "Bearer s3cret"})
        assert [t.status_code for t in tried] == [401] * 5 + [429] * 195
        assert during.status_code == bearer.status_code == 429
        assert int(during.headers["retry-after"]) >= 1 and "AGENT_MCP_WRONG_TOKENS" in during.text
        assert bearer.json()["error"].startswith("[throttled] 5 wrong tokens came too fast")
        now[0] += int(during.headers["retry-after"])  # waited as told
        right = await http.post("/login", data={"token": "s3cret"})
        assert right.status_code == 303 and (await http.get("/api/agents")).status_code == 200
    async with client(pool, TokenGuard("s3cret", 5, 60.0)) as http:
        http.cookies.set(COOKIE, "an-old-token")  # a page left open since the token changed
        stale = await http.get("/api/agents")
        assert stale.status_code == 401 and f'{COOKIE}=""' in stale.headers["set-cookie"]  # so it counts once


def test_the_budget_is_earned_back_one_wrong_token_per_refill():
    now = [0.0]
    guard = TokenGuard("s3cret", 3, 2.0, clock=lambda: now[0])
    for _ in range(3):
        assert guard.wait_s() == 0 and not guard.check("guess")
    assert guard.wait_s() == 2.0
    now[0] += 1.5
    assert guard.wait_s() == 0.5
    now[0] += 0.5
    assert guard.wait_s() == 0 and guard.check("s3cret")  # the right token spends nothing, earns nothing
    assert not guard.check("guess") and guard.wait_s() == 2.0
    now[0] += 100
    for _ in range(3):  # a quiet spell earns back the whole budget, never more
        assert guard.wait_s() == 0 and not guard.check("guess")
    assert guard.wait_s() == 2.0


@pytest.mark.attack
async def test_a_permission_request_with_an_input_over_8_kb_is_answered_from_the_page(
    make_pool, tmp_path, claude_env, no_leaks
):
    """Its content is cut at 8 KB; the id was inside, so the page's buttons sent no id at all."""
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions(permission_mode="ask"))
    far = tmp_path / "/".join(["d" * 200] * 50) / "f.txt"  # a path of 10 KB, in the request's input
    run = await pool.start("dev", f"MOCK_WRITE={far}")
    pending = (await pool.wait_run(run.run_id, 10)).pending_permission
    assert pending is not None
    async with client(pool) as http:
        events: list[dict] = []
        while not any(e["kind"] == "permission_request" for e in events):  # pages of about 16,000 chars
            page = (await http.get(f"/api/runs/{run.run_id}/transcript?after={len(events)}")).json()
            assert page["events"], events
            events += page["events"]
        [asked] = [e for e in events if e["kind"] == "permission_request"]
        assert asked["chars"] > len(asked["content"])  # cut
        assert asked["request_id"] == pending.request_id  # a field of its own: what the buttons send
        answered = await http.post(
            f"/api/runs/{run.run_id}/answer",
            headers=ORIGIN,
            json={"request_id": asked["request_id"], "decision": "deny"},
        )
    assert answered.status_code == 200
    assert await run.wait(10)
    done = pool.get_run(run.run_id).response
    assert done is not None
    assert [(r.request_id, r.decision) for r in done.permission_requests] == [(pending.request_id, "deny")]


BAD = [
    ("GET", "/api/runs/{run}/transcript?after=x", None),
    ("GET", "/api/runs/{run}/transcript?after=-1", None),
    ("GET", "/api/runs/{run}/transcript?after=\u00b2", None),  # '²'.isdigit() is True
    ("GET", "/api/runs/{run}/transcript?after=10000000000000000000", None),  # past SQLite's integers
    ("GET", "/api/runs/{run}/transcript?after=" + "9" * 5000, None),
    ("GET", "/api/runs/{run}/transcript?after=1e3", None),
    ("GET", "/api/runs/not-a-run-id/transcript", None),
    ("GET", "/api/runs/" + "a" * 5000 + "/transcript", None),
    ("GET", "/api/runs/%00%ff/transcript", None),
    ("GET", "/api/agents/" + "x" * 5000 + "/runs", None),
    ("GET", "/api/agents/%00/runs", None),
    ("GET", "/api/agents/ghost/runs", None),
    ("POST", "/api/runs/not-a-run-id/cancel", None),
    ("POST", "/api/runs/{run}/answer", b"not json"),
    ("POST", "/api/runs/{run}/answer", b"[1, 2]"),
    ("POST", "/api/runs/{run}/answer", b'{"request_id": {"a": 1}, "decision": "allow"}'),
    ("POST", "/api/runs/{run}/answer", b'{"request_id": "r", "decision": 7}'),
    ("POST", "/api/runs/{run}/answer", b'{"request_id": "r", "decision": "deny", "message": ["x"]}'),
    ("POST", "/api/runs/{run}/answer", b'{"request_id": "r", "decision": "deny", "message": "a\\u0000b"}'),
    ("POST", "/api/runs/{run}/answer", b'{"request_id": "r", "decision": "maybe"}'),
    ("POST", "/api/runs/{run}/answer", b'{"request_id": "r", "decision": "deny", "message": "' + b"m" * 70_000 + b'"}'),
    ("POST", "/api/runs/zzzzzzzzzzzz/answer", b'{"request_id": "r", "decision": "deny"}'),
]


@pytest.mark.attack
async def test_bad_parameters_are_answered_400_never_500(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, max_message_bytes=64 * 1024)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    run = (await pool.send("dev", "hello")).run_id
    async with client(pool) as http:
        for method, path, body in BAD:
            answer = await http.request(method, path.format(run=run), headers=ORIGIN, content=body)
            assert answer.status_code == 400, (path[:80], body and body[:80], answer.status_code, answer.text[:300])
            error = answer.json()["error"]
            assert re.match(r"\[[a-z_]+\] ", error) and len(error) <= 400, error
