"""Attacks on the server, each written as a hostile caller, repository or agent would make it:
paths swapped under a checked agent, a hostile repository, floods, limits, escaping processes,
fuzzed tool arguments (hypothesis, through the in-memory client), and an agent's output gone wrong
(a crash mid-stream, a truncated line, a 10 MB line, invalid UTF-8, output after the result).

Every test here is marked `attack`; the suite's summary line counts them, with the scenarios, bad
inputs and faults the tests below count themselves (conftest.STATS).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import get_args

import anyio
import pytest
from conftest import DOUBLE, STATS, alive, listed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from agent_mcp.core.config import Settings, load_settings
from agent_mcp.core.environment import MAX_ARG_BYTES, largest_role
from agent_mcp.core.errors import InvalidInput, RunFailed
from agent_mcp.core.models import AgentOptions, ErrorKind
from agent_mcp.doctor import check_leftovers
from agent_mcp.hosts.machines import LOCAL
from agent_mcp.hosts.worktree import create_worktree
from agent_mcp.processes.process import AgentProcess, ProcessRegistry, ProcessSpec
from agent_mcp.server.tools import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.attack]


def swap_for_symlink(path: Path, target: Path) -> None:
    """What an agent that can write to its cwd's parent can do between two messages."""
    path.rename(path.with_name(path.name + ".moved"))
    path.symlink_to(target)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    return (tmp_path / "root").resolve()


async def test_a_cwd_swapped_for_a_symlink_out_of_the_roots_is_refused_at_run_time(
    make_pool, root, claude_env, no_leaks
):
    pool = await make_pool(claude_env, allowed_roots=(root,))
    (root / "proj").mkdir()
    await pool.create("dev", "r", str(root / "proj"), AgentOptions(permission_mode="acceptEdits"))
    assert (await pool.send("dev", "MOCK_WRITE")).is_error is False
    assert (root / "proj" / "mock_written.txt").exists()

    outside = root.parent / "outside"
    swap_for_symlink(root / "proj", outside)
    with pytest.raises(RunFailed) as refused:
        await pool.send("dev", "MOCK_WRITE")
    assert refused.value.kind == "policy"
    assert str(refused.value).startswith("[policy] ")
    assert repr(str(outside)) in str(refused.value) and str(root) in str(refused.value)
    assert not (outside / "mock_written.txt").exists()
    assert pool.live_processes == 0


@pytest.mark.parametrize("option", ["add_dirs", "mcp_config"])
async def test_an_option_path_swapped_out_of_the_roots_is_refused_at_run_time(
    make_pool, root, claude_env, no_leaks, option
):
    pool = await make_pool(claude_env, allowed_roots=(root,))
    outside = root.parent / "outside"
    if option == "add_dirs":
        (root / "extra").mkdir()
        options, path, target = AgentOptions(add_dirs=[str(root / "extra")]), root / "extra", outside
    else:
        config = json.dumps({"mcpServers": {}})
        (root / "mcp.json").write_text(config)
        (outside / "mcp.json").write_text(config)
        options, path, target = AgentOptions(mcp_config=str(root / "mcp.json")), root / "mcp.json", outside / "mcp.json"
    await pool.create("dev", "r", str(root), options)
    assert (await pool.send("dev", "hello")).is_error is False

    swap_for_symlink(path, target)
    with pytest.raises(RunFailed) as refused:
        await pool.send("dev", "hello")
    assert refused.value.kind == "policy" and repr(str(target)) in str(refused.value)


async def test_the_process_starts_in_the_directory_that_was_checked_not_where_its_path_leads_later(tmp_path):
    """The window between check and use: the path is swapped after the directory was opened and
    checked; the child must still start in the checked directory."""
    checked, elsewhere = tmp_path / "checked", tmp_path / "elsewhere"
    checked.mkdir()
    elsewhere.mkdir()
    fd = os.open(checked, os.O_PATH | os.O_DIRECTORY)
    try:
        swap_for_symlink(checked, elsewhere)
        lines: list[bytes] = []

        async def on_line(line: bytes) -> bool:
            lines.append(line)
            return False

        # It answers its input line, as claude does: output written before a turn's frame belongs to
        # no turn and is dropped (a child that printed at once raced its own turn).
        spec = ProcessSpec(
            argv=[sys.executable, "-c", "import os, sys; sys.stdin.readline(); print(os.getcwd())"],
            cwd_fd=fd,
            env=dict(os.environ),
            max_line_bytes=1 << 20,
        )
        process = AgentProcess(spec, ProcessRegistry())
        assert await process.run_turn(b"go\n", on_line, 20, 20) is False  # it printed and exited
        await process.end()
    finally:
        os.close(fd)
    assert [line.decode().strip() for line in lines if line.strip()] == [str(tmp_path / "checked.moved")]


# --- worktrees: the caller's repository is not trusted ---------------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def repository(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "file.txt").write_text("content\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path.resolve()


def plant(repo: Path, marker: Path, hooks_path: bool) -> None:
    """Everything in a repository that makes git run code: hooks, fsmonitor, a filter driver."""
    (repo / ".gitattributes").write_text("* filter=evil\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-q", "-m", "attributes")
    script = f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat\n'
    hooks = repo / ("hooks" if hooks_path else ".git/hooks")
    hooks.mkdir(exist_ok=True)
    for hook in ("post-checkout", "reference-transaction", "pre-auto-gc", "post-index-change"):
        (hooks / hook).write_text(script)
        (hooks / hook).chmod(0o755)
    if hooks_path:
        git(repo, "config", "core.hooksPath", str(hooks))
    (repo / "fsmonitor.sh").write_text(script)
    (repo / "fsmonitor.sh").chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(repo / "fsmonitor.sh"))
    git(repo, "config", "filter.evil.smudge", str(repo / "fsmonitor.sh"))
    git(repo, "config", "filter.evil.clean", str(repo / "fsmonitor.sh"))
    git(repo, "config", "filter.evil.required", "true")
    git(repo, "config", "submodule.recurse", "true")
    git(repo, "status")  # the plant works: plain git runs it
    assert marker.exists()
    marker.unlink()


@pytest.mark.parametrize("hooks_path", [False, True], ids=["git-hooks", "core.hooksPath"])
async def test_the_callers_repository_runs_no_code_in_the_server(make_pool, tmp_path, claude_env, no_leaks, hooks_path):
    repo = repository(tmp_path / "repo")
    marker = tmp_path / "ran.txt"
    plant(repo, marker, hooks_path)
    pool = await make_pool(claude_env)
    for force in (False, True):
        info = await pool.create("dev", "r", str(repo), AgentOptions(), worktree=True)
        assert Path(info.cwd, "file.txt").read_text() == "content\n"  # checked out, no filter applied
        if force:
            Path(info.cwd, "file.txt").write_text("changed\n")
        await pool.delete("dev", force=force)
        if not force:
            git(repo, "-c", "core.hooksPath=/dev/null", "branch", "-D", "agent-mcp/dev")
    assert not marker.exists(), marker.read_text()


async def test_a_worktree_of_a_repository_larger_than_the_roots_is_refused(make_pool, tmp_path, claude_env, no_leaks):
    outer = repository(tmp_path / "outer")
    root = outer / "inner"
    root.mkdir()
    pool = await make_pool(claude_env, allowed_roots=(root,))
    with pytest.raises(InvalidInput) as refused:
        await pool.create("dev", "r", str(root), AgentOptions(), worktree=True)
    assert f"top level of the repository at cwd {str(outer)!r} lies outside the allowed roots ({root})" in str(
        refused.value
    )
    assert git(outer, "branch", "--list", "agent-mcp/*") == ""
    assert await listed(pool) == []


async def test_a_dot_git_file_pointing_at_another_repository_is_refused(make_pool, tmp_path, claude_env, no_leaks):
    other = repository(tmp_path / "other")
    root = tmp_path / "root"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / ".git").write_text(f"gitdir: {other / '.git'}\n")
    pool = await make_pool(claude_env, allowed_roots=(root.resolve(),))
    with pytest.raises(InvalidInput) as refused:
        await pool.create("dev", "r", str(root / "proj"), AgentOptions(), worktree=True)
    assert "lies outside the allowed roots" in str(refused.value)
    assert git(other, "branch", "--list", "agent-mcp/*") == ""


@pytest.mark.parametrize("cut", ["after-git", "inside-git", "half-made"])
async def test_a_creation_cut_short_blocks_nothing_and_doctor_lists_it(make_pool, tmp_path, claude_env, no_leaks, cut):
    """As a server killed inside create_agent leaves it: a worktree and branch, no agent."""
    repo = repository(tmp_path / "repo")
    state = tmp_path / "state"
    pool = await make_pool(claude_env)
    if cut == "after-git":
        await create_worktree(LOCAL, str(repo), str(state / "worktrees"), "dev", ())
    elif cut == "inside-git":  # git locks a worktree while it creates it
        await create_worktree(LOCAL, str(repo), str(state / "worktrees"), "dev", ())
        git(repo, "worktree", "lock", "--reason", "initializing", str(state / "worktrees" / "dev"))
        (state / "worktrees" / "dev" / "file.txt").unlink()
    else:
        (state / "worktrees" / "dev").mkdir(parents=True)  # git had only begun
    assert [c.value for c in check_leftovers(state / "worktrees", set())] == [
        f"1 without an agent in {state / 'worktrees'}: dev"
    ]

    info = await pool.create("dev", "r", str(repo), AgentOptions(), worktree=True)
    assert info.worktree_branch == "agent-mcp/dev" and Path(info.cwd, "file.txt").exists()
    assert check_leftovers(state / "worktrees", {"dev"}) == []
    assert git(repo, "worktree", "list").count("\n") == 1  # the main checkout and the agent's, no orphan


async def test_a_kept_branch_with_work_on_it_is_never_dropped(make_pool, tmp_path, claude_env, no_leaks):
    repo = repository(tmp_path / "repo")
    pool = await make_pool(claude_env)
    info = await pool.create("dev", "r", str(repo), AgentOptions(), worktree=True)
    Path(info.cwd, "work.txt").write_text("work\n")
    git(Path(info.cwd), "add", ".")
    git(Path(info.cwd), "commit", "-q", "-m", "work")
    await pool.delete("dev", force=False)  # keeps the branch with its commit

    with pytest.raises(InvalidInput) as refused:
        await pool.create("dev", "r", str(repo), AgentOptions(), worktree=True)
    assert "branch 'agent-mcp/dev' with 1 commit(s) not on HEAD" in str(refused.value)
    assert "git branch -D agent-mcp/dev" in str(refused.value)
    assert git(repo, "log", "--format=%s", "agent-mcp/dev", "-1") == "work"


# --- memory: floods are refused at a limit that names itself ---------------------------------


async def test_a_flood_of_messages_to_one_agent_stops_at_max_queued(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, max_queued=4)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    await pool.create("other", "r", str(tmp_path), AgentOptions())
    runs = [await pool.start("dev", "MOCK_SLEEP=30") for _ in range(3)]
    with pytest.raises(InvalidInput) as refused:
        await pool.broadcast([("other", "hi"), ("dev", "one"), ("DEV", "two")])  # 3 + 2 > 4
    assert "AGENT_MCP_MAX_QUEUED / --max-queued" in str(refused.value) and "'dev' has 3 message(s)" in str(
        refused.value
    )
    assert len(await pool.broadcast([("other", "hi"), ("dev", "one")])) == 2
    with pytest.raises(InvalidInput, match="max-queued"):
        await pool.start("dev", "one too many")
    for run in runs:
        await pool.cancel(run.run_id)
    assert (await pool.start("dev", "room again")).agent == "dev"
    await pool.delete("dev", force=True)


async def test_wait_runs_answers_a_run_named_many_times_once_and_caps_the_ids(
    make_pool, tmp_path, claude_env, no_leaks
):
    pool = await make_pool(claude_env, max_wait_runs=5)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    run = await pool.start("dev", "hello")
    infos, done = await pool.wait_runs([run.run_id] * 300, "all", 30)
    assert done and [info.run_id for info in infos] == [run.run_id]
    with pytest.raises(InvalidInput) as refused:
        await pool.wait_runs([f"{i:016x}" for i in range(6)], "all", 0)
    assert "names 6 runs, over the limit of 5 (AGENT_MCP_MAX_WAIT_RUNS / --max-wait-runs)" in str(refused.value)


# --- limits that can be met -------------------------------------------------------------------


def test_a_role_limit_above_what_the_cli_can_be_given_is_refused_at_start_up():
    with pytest.raises(ValueError) as refused:
        load_settings({"max_role_bytes": str(200 * 1024)}, {})
    assert f"the most it can be is {largest_role()}" in str(refused.value)
    assert load_settings({"max_role_bytes": str(largest_role())}, {}).max_role_bytes == largest_role()


async def test_a_role_at_the_highest_limit_reaches_the_cli(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env, max_role_bytes=largest_role())
    role = "r" * largest_role()
    await pool.create("n" * 64, role, str(tmp_path), AgentOptions())
    reply = await pool.send("n" * 64, "MOCK_ECHO_ARGV")
    assert reply.is_error is False and reply.text_truncated and reply.run_id  # longer than a reply is shown
    assert role in pool.whole_text(pool.get_run(reply.run_id))


async def test_options_too_large_for_the_cli_are_refused_at_creation(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    huge = {"mcpServers": {f"s{i}": {"command": "x" * 1000} for i in range(200)}}
    with pytest.raises(InvalidInput) as refused:
        await pool.create("dev", "r", str(tmp_path), AgentOptions(mcp_config=huge))
    assert "--mcp-config would be" in str(refused.value) and f"at most {MAX_ARG_BYTES}" in str(refused.value)
    with pytest.raises(InvalidInput, match="--allowedTools would be"):
        await pool.create("dev", "r", str(tmp_path), AgentOptions(allowed_tools=["t" * 1000] * 200))
    many = os.sysconf("SC_ARG_MAX") // len(f"--add-dir={tmp_path}") + 1
    with pytest.raises(InvalidInput, match="arguments and environment would be"):
        await pool.create("dev", "r", str(tmp_path), AgentOptions(add_dirs=[str(tmp_path)] * many))
    assert await listed(pool) == []


# --- every process of a run ends with it --------------------------------------------------------


@pytest.mark.parametrize("how", ["finished", "cancelled"])
async def test_a_grandchild_that_leaves_the_session_ends_with_its_run(make_pool, tmp_path, claude_env, no_leaks, how):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    if how == "finished":
        assert (await pool.send("dev", "MOCK_ESCAPE")).is_error is False
    else:
        run = await pool.start("dev", "MOCK_ESCAPE MOCK_SLEEP=60")
        while not (tmp_path / "escaped.pid").exists():
            await anyio.sleep(0.02)
        await pool.cancel(run.run_id)
    escaped = int((tmp_path / "escaped.pid").read_text())
    # The agent's process waits warm for its next message (and what it started lives with it) until
    # it is ended: here by reset_agent.
    assert (await pool.info("dev")).warm
    await pool.reset("dev")
    with anyio.fail_after(5):
        while alive(escaped):
            await anyio.sleep(0.02)


# --- a hostile caller: fuzzed tool arguments --------------------------------------------------


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
                         "max_turns", "max_budget_usd", "add_dirs", "mcp_config", "effort", "max_total_usd", "worktree",
                         "host"],
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
        "pool_status": [],
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
        "max_total_usd": st.floats(-1, 5),
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


# --- an agent whose output goes wrong: faults injected through the double ---------------------


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
