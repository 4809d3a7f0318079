"""Usage limits and spending caps end to end (#29): the installed server, the double on a subscription
login whose account (~/.claude/fake_account.json) the test pauses, and the real CLI once against the
mock API's Account.

How it could be abused, and what these tests hold: a flood of runs against a paused account (none
starts a process, none runs twice, each ends once), a caller waiting forever on a reset far away (the
run ends at once past --max-rate-limit-wait), a restart to escape the pause (it is in the store), a
paused host stopping the other accounts (it does not), spend past a cap (refused, and the CLI itself
is given the remainder), and caps that are no numbers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
from conftest import DOUBLE
from helpers import call, connect, ok, refused
from mock_api import Account
from real_limits import subscription  # noqa: F401 (a fixture)

pytestmark = pytest.mark.anyio

RESET_S = 4


def subscriber(env: dict[str, str], **settings: str) -> dict[str, str]:
    """The server's environment on a claude.ai login (the double reports usage limits only to one)."""
    out = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}
    out.update(CLAUDE_CODE_OAUTH_TOKEN="sk-ant-oat01-dummy", **settings)
    return out


def pause(home: Path, seconds: float | None = RESET_S, **state: object) -> float | None:
    """The login's account rejects every call until then (None: no reset known)."""
    until = None if seconds is None else time.time() + seconds
    (home / ".claude").mkdir(exist_ok=True)
    (home / ".claude" / "fake_account.json").write_text(json.dumps({"rejected_until": until, **state}))
    return until


def double_processes() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(DOUBLE).encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def collecting(steps: list[str]):
    async def progress(_progress: float, _total: float | None, message: str | None) -> None:
        steps.append(message or "")

    return progress


async def run_of(client, run_id: str, wait_s: float = 0) -> dict:
    return await ok(client, "get_run", run_id=run_id, wait_s=wait_s)


async def test_held_runs_start_nothing_during_the_pause_and_all_finish_after_it(claude_env, tmp_path, no_leaks):
    env = subscriber(claude_env, AGENT_MCP_WARM_TTL="0", AGENT_MCP_MAX_CONCURRENT="2")
    home = Path(env["HOME"])
    async with connect(env) as client:
        for name in ("a", "b", "c"):
            await ok(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
        pause(home)
        first = await ok(client, "start_message", agent="a", message="first of a")
        with anyio.fail_after(10):
            while (info := await run_of(client, first["run_id"]))["status"] != "queued" or "waiting_for" not in info:
                await anyio.sleep(0.05)
        assert info["waiting_for"] == "rate_limit" and info["resets_at"]
        runs = [first] + [await ok(client, "start_message", agent=n, message=f"to {n}") for n in ("a", "b", "c")]
        steps: list[str] = []
        waiting = await call(
            client, "wait_runs", run_ids=[r["run_id"] for r in runs], wait_s=1,
            progress=collecting(steps),
        )  # fmt: skip
        assert not waiting.structured_content["done"]
        assert any("usage limit" in step for step in steps), steps
        for run in runs:
            assert (await run_of(client, run["run_id"]))["status"] == "queued"
        assert double_processes() == [], "no claude process starts while the account is paused"
        status = await ok(client, "pool_status")
        assert status["accounts"][0]["paused_until"] and status["queued"] == 4 and status["running"] == 0
        done = await ok(client, "wait_runs", run_ids=[r["run_id"] for r in runs], wait_s=30)
        assert done["done"]
        for run in done["runs"]:
            assert run["status"] == "done" and not run["response"]["is_error"], json.dumps(run)
        counts = {n: (await ok(client, "get_agent", name=n))["message_count"] for n in ("a", "b", "c")}
        assert counts == {"a": 2, "b": 1, "c": 1}, "each run counted once"
        history = await ok(client, "get_history", agent="a")
        assert [r["message"] for r in history["runs"]] == ["to a", "first of a"]  # in order, once each


async def test_with_fail_a_paused_account_s_runs_end_at_once(claude_env, tmp_path, no_leaks):
    env = subscriber(claude_env, AGENT_MCP_ON_RATE_LIMIT="fail")
    pause(Path(env["HOME"]), 30)
    async with connect(env) as client:
        for name in ("a", "b"):
            await ok(client, "create_agent", name=name, role="r", cwd=str(tmp_path))
        rejected = await ok(client, "send_message", agent="a", message="hello")
        assert rejected["error_kind"] == "rate_limited" and rejected["rate_limit_status"] == "rejected"
        started = time.monotonic()
        result = await call(client, "send_message", agent="b", message="hello")
        assert time.monotonic() - started < 2
        assert result.is_error and result.content[0].text.startswith("[rate_limited] ")
        assert "--on-rate-limit" in result.content[0].text
        [run] = (await ok(client, "get_history", agent="b", full=True))["runs"]
        assert run["error_kind"] == "rate_limited" and run["resets_at"] and run.get("started_at") is None
        assert (await ok(client, "get_agent", name="b"))["message_count"] == 0


async def test_a_run_rejected_after_it_did_work_is_not_sent_again(claude_env, tmp_path, no_leaks):
    env = subscriber(claude_env)
    pause(Path(env["HOME"]), RESET_S, requests_left=1)  # its first call goes through, the second is rejected
    async with connect(env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="a", message="MOCK_TOOL")
        assert reply["is_error"] and reply["error_kind"] == "rate_limited"
        steps = (await ok(client, "get_transcript", run_id=reply["run_id"]))["events"]
        assert [e["summary"] for e in steps if e["kind"] == "tool_use"] == ["Bash: echo hi-from-tool"]
        assert len((await ok(client, "get_history", agent="a"))["runs"]) == 1
        later = await ok(client, "send_message", agent="a", message="after the pause")  # held, then answered
        assert not later["is_error"]


async def test_a_reset_beyond_the_longest_wait_ends_the_run_at_once(claude_env, tmp_path, no_leaks):
    env = subscriber(claude_env, AGENT_MCP_MAX_RATE_LIMIT_WAIT="2")
    pause(Path(env["HOME"]), 3600)
    async with connect(env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        started = time.monotonic()
        result = await call(client, "send_message", agent="a", message="hello")
        assert time.monotonic() - started < 3
        assert result.is_error and result.content[0].text.startswith("[rate_limited] ")
        assert "--max-rate-limit-wait" in result.content[0].text


async def test_a_pause_survives_a_restart(claude_env, tmp_path, no_leaks):
    env = subscriber(claude_env)
    until = pause(Path(env["HOME"]), 6)
    async with connect(env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        run = await ok(client, "start_message", agent="a", message="hello")
        with anyio.fail_after(10):
            while "waiting_for" not in await run_of(client, run["run_id"]):
                await anyio.sleep(0.05)
    async with connect(env) as client:  # the first server is gone (its run interrupted)
        status = await ok(client, "pool_status")
        [local] = status["accounts"]
        assert local["paused_until"] and local["windows"][0]["status"] == "rejected"
        again = await ok(client, "start_message", agent="a", message="hello again")
        info = await run_of(client, again["run_id"], wait_s=0.5)
        assert info["status"] == "queued" and info["waiting_for"] == "rate_limit"
        done = await run_of(client, again["run_id"], wait_s=30)
        assert done["status"] == "done" and not done["response"]["is_error"]
        assert until is not None and time.time() >= until


async def test_a_paused_host_does_not_stop_this_machine_s_agents(ssh_hosts, claude_env, tmp_path, no_leaks):
    h1 = ssh_hosts.start("h1", {"ANTHROPIC_API_KEY": "", "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-dummy"})
    (h1.home / "work").mkdir()
    pause(h1.home, 5)
    env = {**subscriber(claude_env), "AGENT_MCP_HOSTS": "h1=2", "AGENT_MCP_SSH_CONFIG": str(ssh_hosts.config)}
    async with connect(env) as client:
        await ok(client, "create_agent", name="remote", role="r", cwd=str(h1.home / "work"), host="h1")
        await ok(client, "create_agent", name="local", role="r", cwd=str(tmp_path))
        remote = await ok(client, "start_message", agent="remote", message="hello")
        with anyio.fail_after(20):
            while "waiting_for" not in await run_of(client, remote["run_id"]):
                await anyio.sleep(0.05)
        reply = await ok(client, "send_message", agent="local", message="hello")
        assert not reply["is_error"]
        accounts = {a["host"]: a for a in (await ok(client, "pool_status"))["accounts"]}
        assert accounts["h1"]["paused_until"] and accounts[None]["paused_until"] is None
        assert (await run_of(client, remote["run_id"]))["status"] == "queued"
        done = await run_of(client, remote["run_id"], wait_s=30)
        assert done["status"] == "done" and not done["response"]["is_error"]


async def test_spending_caps_give_the_cli_the_remainder_and_refuse_past_it(claude_env, tmp_path, no_leaks):
    env = {**claude_env, "AGENT_MCP_MAX_COST_USD": "1", "AGENT_MCP_COST_WINDOW": "0"}
    async with connect(env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path), max_budget_usd=5.0)
        await ok(client, "create_agent", name="b", role="r", cwd=str(tmp_path), max_total_usd=0.01)
        first = await ok(client, "send_message", agent="a", message="MOCK_ECHO_ARGV")
        assert "--max-budget-usd=1.0" in first["text"], "the pool's remainder, smaller than the agent's 5"
        second = await ok(client, "send_message", agent="a", message="MOCK_ECHO_ARGV")
        assert f"--max-budget-usd={1 - first['cost_usd']!r}" in second["text"]
        b = await ok(client, "send_message", agent="b", message="MOCK_ECHO_ARGV")
        assert "--max-budget-usd=0.01" in b["text"]
        assert b["cost_usd"] > 0.01  # the double's turn costs more than the cap: the cap is now reached
        text = await refused(client, "send_message", agent="b", message="again")
        assert text.startswith("[budget_exhausted] ") and "max_total_usd" in text
        text = await refused(client, "broadcast", agents=["a", "b"], message="again")
        assert text.startswith("[budget_exhausted] ")
        spend = (await ok(client, "pool_status"))["spend"]
        assert spend["max_cost_usd"] == 1 and spend["window_s"] == 0
        assert spend["cost_usd"] == pytest.approx(first["cost_usd"] + second["cost_usd"] + b["cost_usd"], abs=1e-6)


@pytest.mark.attack
@pytest.mark.parametrize("cap", [-1, 0, 1e7, 1e300])  # (JSON has no infinity: a client sends it as null)
async def test_a_cap_that_is_no_budget_is_refused(claude_env, tmp_path, cap):
    async with connect(claude_env) as client:
        text = await refused(client, "create_agent", name="a", role="r", cwd=str(tmp_path), max_total_usd=cap)
        assert text.startswith("[invalid_input] max_total_usd must be a positive number of US dollars")


async def test_pool_status_is_small_and_also_a_resource(claude_env, tmp_path):
    env = subscriber(claude_env, AGENT_MCP_HOSTS="gpu1=2,gpu2=2,buildbox=4", AGENT_MCP_MAX_COST_USD="50")
    pause(Path(env["HOME"]), 30)
    async with connect(env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        await call(client, "start_message", agent="a", message="hello")
        with anyio.fail_after(10):
            while not (status := await call(client, "pool_status")).structured_content["accounts"][0]["paused_until"]:
                await anyio.sleep(0.05)
        text = status.content[0].text
        assert len(text) < 1500, text
        assert [a["host"] for a in status.structured_content["accounts"]] == [None, "gpu1", "gpu2", "buildbox"]
        resource = await client.read_resource("agent-mcp://pool")
        assert json.loads(resource.contents[0].text)["accounts"] == status.structured_content["accounts"]


async def test_a_plain_reply_of_a_subscription_login_says_nothing_of_its_allowed_limit(claude_env, tmp_path):
    async with connect(subscriber(claude_env)) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        result = await call(client, "send_message", agent="a", message="hello")
        reply = json.loads(result.content[0].text)
        assert not any(key.startswith("rate_limit") for key in reply)
        assert len(json.dumps({**reply, "text": ""}, separators=(",", ":"))) <= 400


async def test_the_real_cli_held_by_its_account_runs_after_the_reset(subscription, tmp_path, no_leaks):  # noqa: F811
    env, api = subscription
    async with connect(env) as client:
        await ok(client, "create_agent", name="a", role="r", cwd=str(tmp_path))
        assert not (await ok(client, "send_message", agent="a", message="hello"))["is_error"]
        api.account = Account(status="rejected", resets_at=int(time.time()) + RESET_S)
        steps: list[str] = []
        result = await call(
            client, "send_message", agent="a", message="held MOCK_TEXT",
            progress=collecting(steps),
        )  # fmt: skip
        reply = result.structured_content
        assert not reply["is_error"], reply
        assert any("usage limit" in step for step in steps), steps
        assert (await ok(client, "get_agent", name="a"))["message_count"] == 2
