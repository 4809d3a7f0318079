"""Adversarial: fuzzed tool arguments, injected faults. Counted into the one summary line the suite
prints at its end (see conftest.STATS)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import get_args

import anyio
import pytest
from conftest import DOUBLE, STATS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from agent_mcp.core.config import Settings
from agent_mcp.core.errors import RunFailed
from agent_mcp.core.models import AgentOptions, ErrorKind
from agent_mcp.server.tools import build_server

pytestmark = pytest.mark.anyio

REFUSALS = {"invalid_input", "unknown_agent", "unknown_run", "busy", "depth_exceeded", "policy"}
RUN_FAILURES = set(get_args(ErrorKind))


def stored(state_dir: Path) -> tuple[list[tuple], list[tuple]]:
    """Everything the store holds about agents and runs, read past the server."""
    db = sqlite3.connect(state_dir / "agent-mcp.sqlite3")
    try:
        agents = db.execute("SELECT * FROM agents ORDER BY name").fetchall()
        runs = db.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
    finally:
        db.close()
    return agents, runs


def values(paths: list[str]) -> st.SearchStrategy[object]:
    texts = st.one_of(
        st.text(max_size=40),
        st.sampled_from(["", " ", "\n\t", "dev", "DEV", "ghost", "-x", "--help", "a\x00b", "../..", "~", "relative",
                         "yolo", "acceptEdits", "high", "all", "any", "auto", "\ud800", "é" * 40]),
        st.sampled_from(paths),
        st.text(min_size=1, max_size=3).map(lambda t: t * 30_000),
    )  # fmt: skip
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), texts)
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(st.text(max_size=8), scalars, max_size=3),
        st.lists(st.dictionaries(st.sampled_from(["agent", "message", "x"]), texts, max_size=2), max_size=2),
    )


def test_fuzzed_arguments_never_crash_and_refusals_change_nothing(tmp_path, claude_env, no_leaks):
    """Each example: a fresh server (in memory) and a sequence of calls with drawn arguments."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "file.txt").write_text("x")
    paths = [str(work), str(tmp_path / "file.txt"), str(tmp_path / "missing"), "/", "/etc", str(DOUBLE)]
    tools = {
        "create_agent": ["name", "role", "cwd", "model", "permission_mode", "allowed_tools", "disallowed_tools",
                         "max_turns", "max_budget_usd", "add_dirs", "mcp_config", "effort", "worktree", "host"],
        "list_agents": ["status", "name_prefix", "limit", "cursor"],
        "get_agent": ["name"],
        "send_message": ["agent", "message", "timeout_s"],
        "start_message": ["agent", "message", "timeout_s"],
        "get_run": ["run_id", "wait_s", "text_offset", "text_limit"],
        "cancel_run": ["run_id"],
        "answer_permission": ["run_id", "request_id", "decision", "message"],
        "get_transcript": ["run_id", "after", "limit"],
        "get_history": ["agent", "limit", "cursor", "full"],
        "delete_agent": ["name", "force"],
        "reset_agent": ["name"],
        "broadcast": ["agents", "message", "messages", "timeout_s"],
        "wait_runs": ["run_ids", "mode", "wait_s"],
    }  # fmt: skip
    anything = values(paths)
    # Half the time a parameter gets a plausible value, so the checks behind the first one are reached.
    plausible = {
        "agent": st.just("dev"),
        "name": st.sampled_from(["dev", "other"]),
        "agents": st.just(["dev"]),
        "role": st.just("r"),
        "cwd": st.just(str(work)),
        "message": st.just("hello"),
        "limit": st.integers(-5, 2000),
        "after": st.integers(-5, 50),
        "max_turns": st.integers(-3, 50),
        "max_budget_usd": st.floats(-1, 5),
        "timeout_s": st.floats(-1, 30),
        "wait_s": st.floats(-1, 0.5),
        "force": st.booleans(),
        "full": st.booleans(),
        "status": st.sampled_from(["idle", "running", "waiting_permission", "queued", "busy"]),
        "decision": st.sampled_from(["allow", "allow_always", "deny", "maybe"]),
        "text_offset": st.integers(-5, 100),
        "text_limit": st.integers(-5, 30_000),
        "mode": st.sampled_from(["all", "any", "some"]),
        "permission_mode": st.sampled_from(["default", "plan", "ask", "yolo"]),
        "effort": st.sampled_from(["low", "max", "huge"]),
    }

    required = {"create_agent": 3, "get_agent": 1, "send_message": 2, "start_message": 2, "get_run": 1, "cancel_run": 1,
                "answer_permission": 3, "get_transcript": 1, "get_history": 1, "delete_agent": 1, "reset_agent": 1,
                "wait_runs": 1}  # fmt: skip

    def argument(name: str) -> st.SearchStrategy[object]:
        if name not in plausible:
            return anything
        return st.integers(0, 3).flatmap(lambda roll: plausible[name] if roll else anything)

    def arguments(tool: str) -> st.SearchStrategy[dict]:
        """Required parameters are there 9 times in 10, so the checks behind them are reached."""
        first = tools[tool][: required.get(tool, 0)]
        always = {name: argument(name) for name in first}
        sometimes = {name: argument(name) for name in [*tools[tool], "bogus"] if name not in first}
        full = st.fixed_dictionaries(always, optional=sometimes)
        partial = st.fixed_dictionaries({}, optional={**always, **sometimes})
        return st.integers(0, 9).flatmap(lambda roll: full if roll else partial)

    call = st.sampled_from(sorted(tools)).flatmap(lambda tool: st.tuples(st.just(tool), arguments(tool)))
    examples = iter(range(10**9))

    async def run_example(calls: list[tuple[str, dict]]) -> None:
        state_dir = tmp_path / f"state-{next(examples)}"
        server = build_server(
            Settings(claude_bin=str(DOUBLE), state_dir=state_dir, allowed_roots=(tmp_path.resolve(),), timeout_s=20),
            claude_env,
        )
        async with Client(server, mode="legacy") as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            assert listed == set(tools), "a tool was added or renamed: fuzz it too"
            assert not (await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(work)})).is_error
            for tool, arguments in calls:
                before = stored(state_dir)
                result = await client.call_tool(tool, arguments)  # an exception here fails the test
                if not result.is_error:
                    continue
                STATS["bad_inputs"] += 1
                text = result.content[0].text
                kind = text[1:].partition("] ")[0] if text.startswith("[") else None
                assert kind in REFUSALS | RUN_FAILURES, f"no [kind] for {tool}({arguments}): {text[:200]}"
                assert len(text) > len(kind) + 10, f"an unexplained failure for {tool}({arguments})"
                started = kind not in REFUSALS or text.startswith("[policy] refused to run")  # a run that failed
                busy = any(status in ("queued", "running") for _, status in before[1])  # may change meanwhile
                if not started and not busy:
                    assert stored(state_dir) == before, f"refused {tool}({arguments}) changed the store"

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(calls=st.lists(call, min_size=1, max_size=6))
    def example(calls: list[tuple[str, dict]]) -> None:
        anyio.run(run_example, calls)

    example()
    STATS["scenarios"] += 1


FAULTS = [
    ("MOCK_CRASH", "crashed", "Bun has crashed"),
    ("MOCK_TRUNCATED", "crashed", '{"type":"assistant","message":{"id":"msg_1","content":[{"type":"te'),
]


@pytest.mark.parametrize(("word", "kind", "tail"), FAULTS)
async def test_faults_without_a_result_are_clear_and_leave_the_agent_usable(
    make_pool, tmp_path, claude_env, no_leaks, word, kind, tail
):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with pytest.raises(RunFailed) as caught:
        await pool.send("dev", word)
    assert caught.value.kind == kind and tail in str(caught.value)
    assert (await pool.send("dev", "still there?")).is_error is False
    assert pool.running_processes == 0
    STATS["faults"] += 1
    STATS["scenarios"] += 1


@pytest.mark.parametrize(
    ("word", "check"),
    [
        ("MOCK_BIGLINE=10485760", lambda r: r.text_truncated and r.text_chars == 10 * 1024 * 1024),
        ("MOCK_BADUTF8", lambda r: r.text.startswith("Mock reply #1")),
        ("MOCK_AFTER", lambda r: r.text.startswith("Mock reply #1")),
        ("MOCK_IGNORE_TERM MOCK_LINGER", lambda r: r.text.startswith("Mock reply #1")),
        ("MOCK_GRANDCHILD", lambda r: r.text.startswith("Mock reply #1")),
        ("MOCK_NOISE MOCK_STDERR", lambda r: r.text.startswith("Mock reply #1")),
    ],
)
async def test_faults_with_a_result_still_give_the_right_answer(make_pool, tmp_path, claude_env, no_leaks, word, check):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    with anyio.fail_after(15):
        reply = await pool.send("dev", word)
    assert reply.is_error is False and check(reply)
    if reply.text_truncated:  # too long to hold: the store has it whole
        assert reply.run_id and pool.whole_text(pool.get_run(reply.run_id)) == "x" * reply.text_chars
    follow_up = await pool.send("dev", "next")
    assert follow_up.session_id == reply.session_id and follow_up.text.startswith("Mock reply #2")
    assert pool.running_processes == 0
    STATS["faults"] += 1
    STATS["scenarios"] += 1


async def test_invalid_utf8_is_replaced_not_fatal(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    seen: list[str] = []

    async def on_event(step: str) -> None:
        seen.append(step)

    await pool.send("dev", "MOCK_BADUTF8", on_event=on_event)
    assert "bad \ufffd\ufffd bytes" in seen
    assert json.dumps(seen)  # every step is plain text again
    STATS["faults"] += 1
    STATS["scenarios"] += 1
