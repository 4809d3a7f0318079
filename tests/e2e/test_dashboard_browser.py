"""The dashboard in a real browser (headless Chromium from Debian, driven by Selenium): the agent
list, a running agent's transcript growing live, a cancel from the page, the token page, and text an
agent wrote shown as text. The same code takes the screenshot docs/dashboard.md shows (docs/dashboard.png)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from helpers import AGENT_MCP, connect, free_port, ok, wait_for_port

pytestmark = pytest.mark.anyio

DOCS = Path(__file__).parents[2] / "docs"
HOSTILE = "<img src=x onerror=window.hacked=1> <script>window.hacked=2</script>"


@pytest.fixture
def browser() -> Iterator[object]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        hint = "install Debian's chromium and chromium-driver (.ci/run does)"
        if os.environ.get("AGENT_MCP_REQUIRE_REAL_CLIENTS"):
            pytest.fail(f"headless Chromium is missing; {hint}")
        pytest.skip(f"headless Chromium is not installed; {hint}")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield session
    finally:
        session.quit()


@pytest.fixture
def dashboard(claude_env) -> Iterator[Callable[..., str]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> str:
        port = free_port()
        process = subprocess.Popen([AGENT_MCP, "dashboard", "--port", str(port), *args], env=claude_env,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        started.append(process)
        wait_for_port(port, process)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def until(check: Callable[[], object], seconds: float = 15) -> object:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if result := check():
                return result
        except Exception:  # an element not there yet, or replaced while read
            pass
        assert time.monotonic() < deadline, "the page did not get there in time"
        time.sleep(0.1)


def texts(browser, selector: str) -> list[str]:
    return [node.text for node in browser.find_elements("css selector", selector)]


async def test_agents_and_a_transcript_growing_live(no_leaks, browser, dashboard, tmp_path, claude_env, ssh_hosts):
    base = dashboard()
    remote = ssh_hosts.start("build1")
    env = {**claude_env, "AGENT_MCP_HOSTS": "build1=1", "AGENT_MCP_SSH_CONFIG": str(ssh_hosts.config)}
    async with connect(env) as client:
        await ok(client, "create_agent", name="reviewer", role="reviews", cwd=str(remote.home), host="build1")
        await ok(client, "create_agent", name="writer", role="writes", cwd=str(tmp_path))
        await ok(client, "send_message", agent="reviewer", message="first look MOCK_TOOL")
        run = await ok(client, "start_message", agent="writer", message=f"MOCK_SLOW MOCK_THINK MOCK_TOOL {HOSTILE}")
        browser.get(base)
        until(lambda: texts(browser, "tr.agent td:first-child") == ["reviewer", "writer"])
        until(lambda: texts(browser, "tr.agent td.host") == ["build1", "local"])
        until(lambda: "running" in texts(browser, "tr[data-agent=writer] td.status")[0])
        until(lambda: texts(browser, "tr[data-step=writer]")[0].startswith("\u21b3 "))  # what it does now
        browser.find_element("css selector", "tr[data-agent=writer]").click()
        until(lambda: browser.find_element("css selector", f"tr[data-run='{run['run_id']}'] a")).click()
        first = until(lambda: len(texts(browser, "#events .ev")))
        assert HOSTILE[:40] in browser.find_element("css selector", "#runs").text  # shown as the text it is
        grown = until(lambda: (n := len(texts(browser, "#events .ev"))) > first and n)  # it grows while it runs
        until(lambda: "done" in browser.find_element("css selector", "#run-title").text, 20)
        assert len(texts(browser, "#events .ev")) >= grown
        assert any("tool_use: Bash: echo hi-from-tool" in t for t in texts(browser, "#events .ev > div"))
        assert browser.execute_script("return window.hacked === undefined")  # nothing it wrote ran
        assert browser.find_elements("css selector", "#events img") == []
        shots = DOCS if os.environ.get("AGENT_MCP_SCREENSHOTS") else tmp_path  # docs/dashboard.md's, when asked for
        browser.save_screenshot(str(shots / "dashboard.png"))


async def test_a_cancel_from_the_page_stops_the_run(no_leaks, browser, dashboard, tmp_path, claude_env):
    base = dashboard()
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        run = await ok(client, "start_message", agent="dev", message="MOCK_SLEEP=30")
        browser.get(base)
        until(lambda: browser.find_element("css selector", "tr[data-agent=dev]")).click()
        until(lambda: browser.find_element("css selector", f"tr[data-run='{run['run_id']}'] button.cancel")).click()
        with anyio.fail_after(20):
            while (await ok(client, "get_run", run_id=run["run_id"]))["status"] != "cancelled":
                await anyio.sleep(0.1)
        until(lambda: texts(browser, f"tr[data-run='{run['run_id']}'] td.status") == ["cancelled"])


async def test_with_a_token_the_page_asks_for_it(no_leaks, browser, dashboard, tmp_path, claude_env):
    base = dashboard("--token", "s3cret")
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
    browser.get(base)
    field = until(lambda: browser.find_element("css selector", "input[name=token]"))
    field.send_keys("guess\n")
    until(lambda: "that is not the token" in browser.page_source)
    browser.find_element("css selector", "input[name=token]").send_keys("s3cret\n")
    until(lambda: texts(browser, "tr.agent td:first-child") == ["dev"])
    cookie = browser.get_cookie("agent_mcp_token")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # the page's script cannot read it


async def test_a_permission_request_is_answered_from_the_page(no_leaks, browser, dashboard, tmp_path, claude_env):
    base = dashboard()
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path), permission_mode="ask")
        run = await ok(client, "start_message", agent="dev", message="MOCK_WRITE")
        browser.get(base)
        until(lambda: "waiting_permission" in texts(browser, "tr[data-agent=dev] td.status")[0])
        browser.find_element("css selector", "tr[data-agent=dev]").click()
        until(lambda: browser.find_element("css selector", f"tr[data-run='{run['run_id']}'] a")).click()
        allow = ".ev.permission_request button[data-decision=allow]"
        until(lambda: browser.find_element("css selector", allow)).click()
        with anyio.fail_after(20):  # get_run returns at once while the run waits: poll until it goes on
            while (done := await ok(client, "get_run", run_id=run["run_id"], wait_s=5))["status"] != "done":
                await anyio.sleep(0.1)
    assert done["status"] == "done" and (tmp_path / "mock_written.txt").exists()
    assert [r["answered_by"] for r in done["response"]["permission_requests"]] == ["dashboard"]


async def test_the_accounts_show_as_bars_with_the_pause_and_the_spend(
    no_leaks, browser, dashboard, tmp_path, claude_env
):
    env = {k: v for k, v in claude_env.items() if k != "ANTHROPIC_API_KEY"}
    env.update(CLAUDE_CODE_OAUTH_TOKEN="sk-ant-oat01-dummy", AGENT_MCP_MAX_COST_USD="5")
    (Path(env["HOME"]) / ".claude").mkdir(exist_ok=True)
    (Path(env["HOME"]) / ".claude" / "fake_account.json").write_text(json.dumps({"utilization": 0.93}))
    base = dashboard("--max-cost-usd", "5")
    async with connect(env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        await ok(client, "send_message", agent="dev", message="hello")
    browser.get(base)
    until(lambda: texts(browser, ".window[data-window=five_hour] span")[1].startswith("allowed_warning 93%"))
    width = browser.execute_script("return document.querySelector('.window[data-window=five_hour] .fill').style.width")
    assert width == "93%"
    assert "of $5.0000" in browser.find_element("css selector", "#spend-bar").text
