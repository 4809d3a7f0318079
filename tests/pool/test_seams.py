"""The pool's two seams hold: a kind of agent and a launcher of processes plug in without the pool.

A launcher that wraps another (as a sandbox would) and a kind that frames its messages its own way
are given to a running pool here, through the places that pick a launcher and the kinds listed in
agents/; the pool's own modules are not touched. And the pool's source names no CLI flag and no CLI
event: a new kind could not work if it did.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

from agent_mcp import agents
from agent_mcp.agents.claude.kind import ClaudeKind
from agent_mcp.core.models import AgentOptions
from agent_mcp.core.rows import AgentRecord
from agent_mcp.hosts import places as places_module
from agent_mcp.hosts.places import Opened, Places
from agent_mcp.processes.launcher import Launcher, Workplace
from agent_mcp.processes.process import AgentProcess

pytestmark = pytest.mark.anyio

POOL = Path(agents.__file__).parents[1] / "pool"


class Wrapping:
    """A launcher around another, as a sandbox would be: the same process, started under `env`."""

    def __init__(self, inner: Launcher) -> None:
        self.inner = inner
        self.host = inner.host
        self.started: list[list[str]] = []

    async def start(self, agent: str, argv: list[str], workplace: Workplace, env: Mapping[str, str]) -> AgentProcess:
        wrapped = ["env", "WRAPPED_BY_TEST=1", *argv]
        self.started.append(wrapped)
        return await self.inner.start(agent, wrapped, workplace, env)

    def failure(self, outcome, agent, cwd):  # type: ignore[no-untyped-def]
        return self.inner.failure(outcome, agent, cwd)


async def test_a_launcher_that_wraps_another_runs_the_agent_without_the_pool_knowing(
    make_pool, tmp_path, claude_env, monkeypatch, no_leaks
):
    wrappers: list[Wrapping] = []
    real_open = Places.open

    async def wrapped_open(self: Places, agent: AgentRecord, bin_setting: str, remote_bin_setting: str) -> Opened:
        opened = await real_open(self, agent, bin_setting, remote_bin_setting)
        wrappers.append(Wrapping(opened.launcher))
        return Opened(wrappers[-1], opened.workplace, opened.executable)

    monkeypatch.setattr(places_module.Places, "open", wrapped_open)
    pool = await make_pool(claude_env, warm_ttl_s=0)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    first = await pool.send("dev", "hello MOCK_ECHO_ENV=WRAPPED_BY_TEST")
    second = await pool.send("dev", "again")  # resumed through the wrapper too
    assert "WRAPPED_BY_TEST=1" in first.text and second.session_id == first.session_id
    assert [w.started[0][:2] for w in wrappers] == [["env", "WRAPPED_BY_TEST=1"]] * 2
    assert "--resume=" + str(first.session_id) in wrappers[1].started[0]


class Shouting(ClaudeKind):
    """claude, with its messages framed its own way (in capitals)."""

    def message_frame(self, message: str) -> bytes:
        return super().message_frame(message.upper())


async def test_a_kind_frames_the_message_without_the_pool_knowing(make_pool, tmp_path, claude_env, monkeypatch):
    monkeypatch.setitem(agents.KINDS, "claude", Shouting())
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    response = await pool.send("dev", "say mock_echo_pid")
    assert "Last user text tail: SAY MOCK_ECHO_PID" in response.text and "\npid=" in response.text
    [(run, _)] = pool.store.runs.history("dev", 10)
    assert run.message == "say mock_echo_pid"  # the pool keeps the message as given; only the kind framed it


def string_literals(path: Path) -> list[str]:
    return [
        n.value
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def test_the_pool_names_no_cli_flag_and_no_cli_event():
    events = {"system", "assistant", "user", "result", "control_request", "control_response", "control_cancel_request",
              "rate_limit_event", "stream_event", "can_use_tool", "init"}  # fmt: skip
    found = {
        (path.name, value)
        for path in POOL.glob("*.py")
        for value in string_literals(path)
        if (value.startswith("--") and value[2:3].isalpha()) or value in events
    }
    assert found == set()
