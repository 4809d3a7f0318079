"""`agent-mcp dashboard` as a process beside a stdio server on the same state directory: it shows
that server's agents and runs, and a cancel from it stops that server's run."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import anyio
import pytest
from helpers import AGENT_MCP, connect, free_port, ok, wait_for_port

pytestmark = pytest.mark.anyio


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_the_dashboard_shows_and_cancels_another_servers_run(tmp_path, claude_env, no_leaks):
    port = free_port()
    dashboard = subprocess.Popen([AGENT_MCP, "dashboard", "--port", str(port)], env=claude_env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, dashboard)
        async with connect(claude_env) as client:
            await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
            run = await ok(client, "start_message", agent="dev", message="MOCK_SLEEP=30")
            with anyio.fail_after(10):
                while (await anyio.to_thread.run_sync(fetch, f"{base}/api/agents"))[1]["agents"][0][
                    "status"
                ] != "running":
                    await anyio.sleep(0.1)
            status, _ = await anyio.to_thread.run_sync(fetch, f"{base}/api/runs/{run['run_id']}/cancel", "POST")
            assert status == 403  # no Origin: not from the page
            with anyio.fail_after(15):
                status, cancelled = await anyio.to_thread.run_sync(
                    fetch, f"{base}/api/runs/{run['run_id']}/cancel", "POST", {"origin": base}
                )
            assert status == 200 and cancelled["status"] == "cancelled"
            assert (await ok(client, "get_run", run_id=run["run_id"]))["status"] == "cancelled"
    finally:
        dashboard.terminate()
        out, _ = dashboard.communicate(timeout=10)  # it ends on SIGTERM (uvicorn re-raises the signal once done)
    assert out == b""  # logs go to stderr, access lines included


def test_beyond_loopback_the_dashboard_needs_a_token(claude_env):
    done = subprocess.run([AGENT_MCP, "dashboard", "--host", "0.0.0.0"], env=claude_env, capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2 and "not a loopback address: set a token" in done.stderr
