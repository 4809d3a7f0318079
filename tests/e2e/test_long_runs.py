"""Long runs under control, end to end: limits, completion, cancellation, progress, handles, shutdown.

Every test runs under `no_leaks`, which fails it if the server or any claude process outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import anyio
import pytest
from conftest import MARK, marked_processes
from helpers import call, claude_processes, connect, ok, refused, server_pid, user_messages


def cold(env: dict[str, str]) -> dict[str, str]:
    """Warm agents off: the process of a run ends with it (tests/test_warm.py has the warm cases)."""
    return {**env, "AGENT_MCP_WARM_TTL": "0"}


pytestmark = pytest.mark.anyio


async def wait_for_status(client, status: str, agent: int = 0) -> dict:
    with anyio.fail_after(10):
        while (info := (await ok(client, "list_agents"))["agents"][agent])["status"] != status:
            await anyio.sleep(0.05)
    return info


async def test_timeout_per_call_kills_the_run_and_the_agent_stays_usable(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        first = await ok(client, "send_message", agent="dev", message="hello")
        text = await refused(client, "send_message", agent="dev", message="slow MOCK_SLEEP=30", timeout_s=1)
        assert claude_processes(claude_env) == []
        info = (await ok(client, "list_agents"))["agents"][0]
        after = await ok(client, "send_message", agent="dev", message="quick")
    assert text.startswith("[timed_out] agent 'dev' hit its timeout of 1 s")
    assert (info["status"], info["session_id"], info["message_count"]) == ("idle", first["session_id"], 1)
    assert after["session_id"] == first["session_id"] and after["text"].startswith("Mock reply #3")


@pytest.mark.parametrize(
    ("variable", "limit"), [("AGENT_MCP_TIMEOUT", "timeout of 1 s"), ("AGENT_MCP_IDLE_TIMEOUT", "idle timeout of 1 s")]
)
async def test_server_wide_limits_from_the_environment(tmp_path, claude_env, no_leaks, variable, limit):
    claude_env[variable] = "1"
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        text = await refused(client, "send_message", agent="dev", message="slow MOCK_SLEEP=30")
        assert claude_processes(claude_env) == []
    assert text.startswith("[timed_out] ") and limit in text


async def test_idle_limit_does_not_stop_a_run_that_keeps_talking(tmp_path, claude_env, no_leaks):
    claude_env["AGENT_MCP_IDLE_TIMEOUT"] = "1.5"
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="dev", message="MOCK_SLOW MOCK_TOOL")  # 1 s per event
    assert reply["is_error"] is False and reply["num_turns"] == 2


async def test_the_result_ends_the_run_even_while_a_grandchild_holds_the_terminal(tmp_path, claude_env, no_leaks):
    async with connect(cold(claude_env)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        with anyio.fail_after(5):
            reply = await ok(client, "send_message", agent="dev", message="go MOCK_GRANDCHILD")
        assert claude_processes(claude_env) == []
    assert reply["is_error"] is False


async def test_a_process_that_lingers_after_its_result_is_killed(tmp_path, claude_env, no_leaks):
    async with connect(cold(claude_env)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="dev", message="go MOCK_LINGER")
        assert claude_processes(claude_env) == []
    assert reply["text"].startswith("Mock reply #1")


async def test_a_cancelled_call_kills_the_process_group_within_two_seconds(tmp_path, claude_env, no_leaks):
    async with connect(cold(claude_env)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        with anyio.CancelScope() as scope:

            async def send() -> None:
                await call(
                    client, "send_message", agent="dev", message="MOCK_IGNORE_TERM MOCK_GRANDCHILD MOCK_SLEEP=30"
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(send)
                await wait_for_status(client, "running")
                await anyio.sleep(0.3)
                assert len(claude_processes(claude_env)) == 3  # the reaper, the double and its grandchild
                cancelled_at = time.monotonic()
                scope.cancel()
        while claude_processes(claude_env) and time.monotonic() - cancelled_at < 2:
            await anyio.sleep(0.05)
        assert claude_processes(claude_env) == []
        info = await wait_for_status(client, "idle")
        assert info["message_count"] == 0


async def test_a_cancelled_queued_message_leaves_the_queue(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        replies: list[dict] = []

        async def first() -> None:
            replies.append(await ok(client, "send_message", agent="dev", message="first MOCK_SLEEP=1.5"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await wait_for_status(client, "running")
            with anyio.move_on_after(0.5):
                await call(client, "send_message", agent="dev", message="second, never sent")
            with anyio.fail_after(2):
                while (await ok(client, "list_agents"))["agents"][0]["queued"] != 0:
                    await anyio.sleep(0.05)
        [agent] = (await ok(client, "list_agents"))["agents"]
    assert agent["message_count"] == 1
    assert user_messages(claude_env, tmp_path, replies[0]["session_id"]) == ["first MOCK_SLEEP=1.5"]


async def test_progress_notifications_describe_each_step(tmp_path, claude_env, no_leaks):
    messages: list[str] = []
    counters: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        counters.append(progress)
        messages.append(message or "")

    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        result = await call(client, "send_message", on_progress, agent="dev", message="x MOCK_TOOL")
    assert not result.is_error
    assert messages[0].startswith("session started")
    assert "I will run a command." in messages
    assert "Bash: echo hi-from-tool" in messages
    assert messages[-1] == "finished"
    assert counters == sorted(counters) and len(set(counters)) == len(counters)


async def test_run_handles_start_poll_wait_and_cancel(tmp_path, claude_env, no_leaks):
    progress: list[str] = []

    async def on_progress(_: float, __: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with connect(cold(claude_env)) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        started = await ok(client, "start_message", agent="dev", message="one MOCK_SLEEP=1 MOCK_TOOL")
        queued = await ok(client, "start_message", agent="dev", message="two MOCK_SLEEP=30")
        assert started["status"] in ("queued", "running") and started["position"] == 0
        assert (queued["status"], queued["position"], queued["response"]) == ("queued", 1, None)
        now = await ok(client, "get_run", run_id=started["run_id"])
        assert now["status"] in ("queued", "running") and now["response"] is None

        waited = await client.call_tool(
            "get_run", {"run_id": started["run_id"], "wait_s": 20}, progress_callback=on_progress
        )
        done = waited.structured_content
        assert done["status"] == "done" and done["finished_at"] is not None
        assert done["response"]["text"].startswith("Mock reply #1")
        assert "Bash: echo hi-from-tool" in progress

        running = await ok(client, "get_run", run_id=queued["run_id"], wait_s=0.5)
        assert (running["status"], running["position"]) == ("running", 0)
        cancelled = await ok(client, "cancel_run", run_id=queued["run_id"])
        assert (cancelled["status"], cancelled["error_kind"]) == ("cancelled", "cancelled")
        assert claude_processes(claude_env) == []
        assert (await ok(client, "cancel_run", run_id=queued["run_id"]))["status"] == "cancelled"

        assert "no run with id 'nope'" in await refused(client, "get_run", run_id="nope")
        assert "no run with id 'nope'" in await refused(client, "cancel_run", run_id="nope")
        assert "wait_s must be" in await refused(client, "get_run", run_id=started["run_id"], wait_s=-1)
        assert "no agent named 'ghost'" in await refused(client, "start_message", agent="ghost", message="hi")
        assert "message is empty" in await refused(client, "start_message", agent="dev", message="")
        [agent] = (await ok(client, "list_agents"))["agents"]
    assert (agent["status"], agent["queued"], agent["message_count"]) == ("idle", 0, 1)


async def test_closing_stdin_ends_the_server_and_every_claude_process(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        await ok(client, "start_message", agent="dev", message="MOCK_IGNORE_TERM MOCK_GRANDCHILD MOCK_SLEEP=30")
        await wait_for_status(client, "running")
    # no_leaks: neither the server nor anything it started outlives the client; the store says why
    async with connect(claude_env) as client:
        [run] = (await ok(client, "get_history", agent="dev"))["runs"]
    assert (run["status"], run["error_kind"]) == ("interrupted", "interrupted")
    assert run["error"] == "[interrupted] the agent-mcp server stopped before the message finished"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_ends_the_server_and_every_claude_process_within_five_seconds(
    tmp_path, claude_env, no_leaks, signum
):
    gone_after: float | None = None
    with contextlib.suppress(Exception):  # the server dies under the client
        async with connect(claude_env) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            await ok(client, "start_message", agent="dev", message="MOCK_IGNORE_TERM MOCK_GRANDCHILD MOCK_SLEEP=30")
            await wait_for_status(client, "running")
            started = time.monotonic()
            os.kill(server_pid(claude_env), signum)
            while marked_processes(claude_env[MARK]) and time.monotonic() - started < 10:
                await anyio.sleep(0.05)
            gone_after = time.monotonic() - started
    assert gone_after is not None and gone_after < 5, f"server and claude took {gone_after} s to go"
