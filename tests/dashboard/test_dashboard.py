"""The dashboard's server: what it shows (from the store every server writes), what a person can do
from it (cancel a run, answer a permission request, also of another server's run), and who may: the
token, its cookie, and the Origin of every action. The page sets agent text as text, never markup."""

from __future__ import annotations

import re
import time

import anyio
import httpx2
import pytest

from agent_mcp.core.models import AgentOptions
from agent_mcp.core.rows import Account, LimitReport
from agent_mcp.dashboard._page import PAGE, SCRIPT
from agent_mcp.dashboard.app import COOKIE, dashboard_app
from agent_mcp.web.auth import TokenGuard

pytestmark = pytest.mark.anyio

ORIGIN = {"origin": "http://127.0.0.1"}


def client(pool, token: str | None = None) -> httpx2.AsyncClient:
    guard = None if token is None else TokenGuard(token, 10, 10.0)
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=dashboard_app(lambda: pool, guard)), base_url="http://127.0.0.1"
    )


async def test_it_shows_the_agents_their_runs_and_a_transcript(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "<b>role</b>", str(tmp_path), AgentOptions())
    reply = await pool.send("dev", "MOCK_TOOL <img src=x onerror=alert(1)>")
    async with client(pool) as http:
        page = await http.get("/")
        [agent] = (await http.get("/api/agents")).json()["agents"]
        [run] = (await http.get("/api/agents/dev/runs")).json()["runs"]
        transcript = (await http.get(f"/api/runs/{reply.run_id}/transcript?after=1")).json()
        bad = await http.get(f"/api/runs/{reply.run_id}/transcript?after=x")
        unknown = await http.get("/api/agents/ghost/runs")
    assert (
        page.status_code == 200
        and '<script src="/dashboard.js">' in page.text
        and "http" not in re.sub(r"http://www\.w3\.org/2000/svg", "", page.text)
    )
    assert (agent["name"], agent["status"], agent["role"]) == ("dev", "idle", "<b>role</b>")  # data, as written
    assert run["run_id"] == reply.run_id and "<img src=x onerror=alert(1)>" in run["message"]
    assert transcript["events"][0]["seq"] == 2 and transcript["status"] == "done"
    assert bad.status_code == 400 and bad.json()["error"].startswith("[invalid_input] after must be")
    assert unknown.status_code == 400 and unknown.json()["error"].startswith("[unknown_agent]")


def test_the_page_never_parses_text_as_markup():
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in PAGE + SCRIPT, sink


async def test_actions_need_the_pages_own_origin_and_cancel_a_run(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    run = await pool.start("dev", "MOCK_SLEEP=30")
    async with client(pool) as http:
        forged = await http.post(f"/api/runs/{run.run_id}/cancel", headers={"origin": "http://evil.example"})
        missing = await http.post(f"/api/runs/{run.run_id}/cancel")
        assert (forged.status_code, missing.status_code) == (403, 403)
        assert pool.get_run(run.run_id).status in ("queued", "running")
        with anyio.fail_after(10):
            done = await http.post(f"/api/runs/{run.run_id}/cancel", headers=ORIGIN)
    assert done.status_code == 200 and done.json()["status"] == "cancelled"


async def test_a_permission_request_is_answered_from_the_page(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions(permission_mode="ask"))
    run = await pool.start("dev", "MOCK_WRITE")
    pending = (await pool.wait_run(run.run_id, 10)).pending_permission
    assert pending is not None
    async with client(pool) as http:
        events = (await http.get(f"/api/runs/{run.run_id}/transcript")).json()["events"]
        [asked] = [e for e in events if e["kind"] == "permission_request"]
        assert asked["request_id"] == pending.request_id  # what the page's buttons answer
        wrong = await http.post(f"/api/runs/{run.run_id}/answer", headers=ORIGIN, content=b"not json")
        answered = await http.post(f"/api/runs/{run.run_id}/answer", headers=ORIGIN,
                                   json={"request_id": pending.request_id, "decision": "allow"})  # fmt: skip
    assert wrong.status_code == 400 and answered.status_code == 200
    await run.wait(10)
    assert (tmp_path / "mock_written.txt").exists()


async def test_with_a_token_the_page_asks_for_it_once_and_keeps_it_in_a_strict_cookie(
    make_pool, tmp_path, claude_env, no_leaks
):
    pool = await make_pool(claude_env)
    async with client(pool, token="s3cret") as http:
        assert (await http.get("/")).status_code == 401 and 'name="token"' in (await http.get("/")).text
        assert (await http.get("/api/agents")).status_code == 401
        wrong = await http.post("/login", data={"token": "guess"})
        assert wrong.status_code == 401 and "not the token" in wrong.text
        right = await http.post("/login", data={"token": "s3cret"})
        assert right.status_code == 303
        cookie = right.headers["set-cookie"]
        assert f"{COOKIE}=s3cret" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert (await http.get("/api/agents")).status_code == 200  # the cookie came back
        assert (await http.get("/")).status_code == 200
    async with client(pool, token="s3cret") as http:
        bearer = await http.get("/api/agents", headers={"authorization": "Bearer s3cret"})
        assert bearer.status_code == 200


async def test_without_a_token_only_loopback_names_are_answered(make_pool, claude_env, no_leaks):
    """A page whose own name was rebound to 127.0.0.1 (DNS rebinding) reaches the port, but not the data."""
    pool = await make_pool(claude_env)
    app = dashboard_app(lambda: pool, None)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://evil.example:8766") as http:
        page, data = await http.get("/"), await http.get("/api/agents")
        act = await http.post("/api/runs/x/cancel", headers={"origin": "http://evil.example:8766"})
    assert page.status_code == data.status_code == act.status_code == 403
    assert data.json()["error"].startswith("[forbidden] without a token")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://localhost:8766") as http:
        assert (await http.get("/api/agents")).status_code == 200


async def test_it_shows_each_account_s_windows_and_the_spend(make_pool, claude_env, no_leaks):
    pool = await make_pool(claude_env, max_cost_usd=10.0)
    await pool.limits.observe(Account(None), LimitReport("five_hour", "allowed_warning", 1796454511, 0.93))
    await pool.limits.observe(Account(None), LimitReport("seven_day", "rejected", int(time.time()) + 60))
    async with client(pool) as http:
        status = (await http.get("/api/pool")).json()
    [account] = status["accounts"]
    assert account["host"] is None and account["paused_until"]
    assert [(w["type"], w["status"]) for w in account["windows"]] == [
        ("five_hour", "allowed_warning"), ("seven_day", "rejected")
    ]  # fmt: skip
    assert status["spend"] == {"cost_usd": 0.0, "max_cost_usd": 10.0, "window_s": 86400.0}
    assert "refreshPool" in SCRIPT and 'id="accounts"' in PAGE


async def test_a_codex_agent_shows_its_cli_and_a_cost_it_never_reported(make_pool, tmp_path, codex_env, no_leaks):
    from conftest import CODEX_DOUBLE

    pool = await make_pool(codex_env, codex_bin=str(CODEX_DOUBLE))
    await pool.create("cx", "r", str(tmp_path), AgentOptions(), cli="codex")
    await pool.send("cx", "hello MOCK_TOOL")
    async with client(pool) as http:
        [agent] = (await http.get("/api/agents")).json()["agents"]
        [run] = (await http.get("/api/agents/cx/runs")).json()["runs"]
    assert agent["cli"] == "codex" and agent.get("total_cost_usd", 0) == 0
    assert "cost_usd" not in run["response"]  # lean: unknown says nothing; the page shows n/a, not $0
    assert 'value === null || value === undefined ? "n/a"' in SCRIPT and 'agent.cli !== "claude"' in SCRIPT
