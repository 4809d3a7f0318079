"""Sandboxed agents (processes/sandbox.py, hosts/boxes.py): the box made at every run, what it shows,
and attacks from inside it, made with the double's tools (MOCK_RUN runs a repository's program as the
Bash tool does, MOCK_WRITE writes a file as the Write tool does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import anyio
import pytest
from conftest import MARK, alive, listed, marked_processes, script

from agent_mcp.core.errors import SandboxUnavailable
from agent_mcp.core.models import AgentOptions

pytestmark = pytest.mark.anyio

ACCEPT = AgentOptions(permission_mode="acceptEdits")


@pytest.fixture
def boxed_env(claude_env: dict[str, str], bwrap: str) -> dict[str, str]:
    """claude_env with the CLI's state directory made (a box binds it back, but makes none)."""
    (Path(claude_env["HOME"]) / ".claude").mkdir()
    return claude_env


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    made = {name: tmp_path / name for name in ("mine", "theirs", "outside")}
    for path in made.values():
        path.mkdir()
    return made


async def test_a_sandboxed_agent_answers_and_shows_it(make_pool, boxed_env, dirs, no_leaks):
    pool = await make_pool(boxed_env)
    info = await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    plain = await pool.create("plain", "r", str(dirs["theirs"]), ACCEPT)
    assert info.sandbox is True and plain.sandbox is False
    assert "sandbox" in info.model_dump() and "sandbox" not in plain.model_dump()  # lean: absent when off
    [boxed_entry, plain_entry] = await listed(pool)
    assert boxed_entry.sandbox and not plain_entry.sandbox
    reply = await pool.send("boxed", "MOCK_WRITE")
    assert reply.is_error is False, reply.text
    assert (dirs["mine"] / "mock_written.txt").read_text() == "hello\n"
    second = await pool.send("boxed", "again MOCK_TEXT")  # the session goes on, in a box again
    assert second.session_id == reply.session_id and second.is_error is False


async def run_inside(pool, agent: str, cwd: Path, body: str) -> str:  # type: ignore[no-untyped-def]
    """What a program of the repository's, run by the agent's Bash tool, found (its report, written in its
    own cwd: the one place it may write)."""
    program = script(cwd / "probe.sh", body + " > report.txt 2>&1\n")
    reply = await pool.send(agent, f"MOCK_RUN={program}")
    assert reply.is_error is False, reply.text
    return (cwd / "report.txt").read_text()


@pytest.fixture
def elsewhere():  # type: ignore[no-untyped-def]
    """A directory outside /tmp (whose box has a private one), where the server's user may write."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="agent-mcp-test-"))
    yield path
    shutil.rmtree(path)


@pytest.mark.attack
async def test_a_boxed_tool_cannot_write_outside_its_directories(make_pool, boxed_env, dirs, elsewhere, no_leaks):
    pool = await make_pool(boxed_env)
    await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    refused = [elsewhere / "planted", Path("/var/tmp") / f"planted-{os.getpid()}"]
    private = [dirs["outside"] / "planted", Path(boxed_env["HOME"]) / "planted"]  # under /tmp: the box's own
    body = "; ".join(f"echo evil > {target} && echo WROTE {target}" for target in refused + private)
    report = await run_inside(pool, "boxed", dirs["mine"], "{ " + body + "; }")
    assert report.count("Read-only file system") == len(refused), report
    assert not any(target.exists() for target in refused + private)  # nothing reached the machine
    # The Write tool too (the double writes the file itself, as the CLI does): nothing written.
    reply = await pool.send("boxed", f"MOCK_WRITE={elsewhere / 'written.txt'}")
    assert reply.is_error is False and not (elsewhere / "written.txt").exists()


@pytest.mark.attack
@pytest.mark.parametrize("where", ["tmp", "elsewhere"])
async def test_a_boxed_tool_sees_nothing_of_the_store_nor_of_other_agents(
    make_pool, boxed_env, dirs, elsewhere, where, no_leaks
):
    """Under /tmp (the box's is private) and outside it (hidden by an empty directory in its place)."""
    base = dirs["outside"] if where == "tmp" else elsewhere
    state, theirs = base / "state", base / "theirs"
    theirs.mkdir()
    pool = await make_pool(boxed_env, state_dir=state)
    await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    await pool.create("other", "r", str(theirs), ACCEPT)
    (theirs / "secret.txt").write_text("THEIR-SECRET")
    assert any(state.iterdir())  # the store is there, outside the box
    report = await run_inside(
        pool, "boxed", dirs["mine"],
        f"{{ cat {theirs}/secret.txt; echo THEIRS; ls -A {theirs}; echo STATE; ls -A {state}; echo END; "
        f"cat {state}/*; }}",
    )  # fmt: skip
    assert "THEIR-SECRET" not in report and "SQLite" not in report, report
    listed_theirs, listed_state = report.split("THEIRS\n")[1].split("END\n")[0].split("STATE\n")
    if where == "elsewhere":  # an empty directory in their place
        assert (listed_theirs, listed_state) == ("", ""), report
    else:  # not there at all
        assert "No such file or directory" in listed_theirs and "No such file or directory" in listed_state
    assert (theirs / "secret.txt").read_text() == "THEIR-SECRET"  # seen from outside, nothing moved


@pytest.mark.attack
async def test_a_boxed_tool_cannot_see_or_signal_processes_outside(make_pool, boxed_env, dirs, no_leaks):
    pool = await make_pool(boxed_env)
    await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    victim = await anyio.open_process(["sleep", "60"])
    try:
        report = await run_inside(
            pool, "boxed", dirs["mine"],
            f"{{ cat /proc/{os.getpid()}/environ; kill -9 {victim.pid} || echo REFUSED; "
            "ls /proc | grep -c '^[0-9]'; }",
        )  # fmt: skip
        assert alive(victim.pid)
        assert "REFUSED" in report
        assert int(report.strip().splitlines()[-1]) < 10  # the box's own few processes, none of the machine's
        # The server's environment (its bearer token's home) is not there to read.
        assert boxed_env[MARK] not in report and "PATH=" not in report
    finally:
        victim.kill()
        await victim.aclose()


async def test_a_boxed_agent_s_own_directories_under_hidden_ones_are_its_own(make_pool, boxed_env, tmp_path, no_leaks):
    """The cwd under /tmp (the box's /tmp is private) and an add_dir inside another agent's cwd."""
    pool = await make_pool(boxed_env)
    outer, inner = tmp_path / "outer", tmp_path / "outer" / "shared"
    inner.mkdir(parents=True)
    (outer / "theirs.txt").write_text("hidden")
    mine = tmp_path / "mine"
    mine.mkdir()
    assert str(mine).startswith("/tmp/")
    await pool.create("other", "r", str(outer), ACCEPT)
    await pool.create("boxed", "r", str(mine), AgentOptions(permission_mode="acceptEdits", add_dirs=[str(inner)]),
                      sandbox=True)  # fmt: skip
    report = await run_inside(pool, "boxed", mine, f"{{ ls -A {outer}; echo made > {inner}/from-box; }}")
    assert report.split() == ["shared"], report  # the other agent's file is gone, its own add_dir is there
    assert (inner / "from-box").read_text() == "made\n"


async def test_cancel_ends_everything_in_the_box(make_pool, boxed_env, dirs, no_leaks):
    pool = await make_pool(boxed_env)
    await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    program = script(
        dirs["mine"] / "linger.sh", "setsid sleep 300 &\nnohup sleep 300 &\necho started > started\nsleep 300\n"
    )
    run = await pool.start("boxed", f"MOCK_RUN={program}")
    with anyio.fail_after(15):
        while not (dirs["mine"] / "started").exists():
            await anyio.sleep(0.05)
    info = await pool.cancel(run.run_id)
    assert info.status in ("cancelled", "running")
    finished = await pool.wait_run(run.run_id, 15)
    assert finished.status == "cancelled"  # no_leaks: nothing of the box is left


async def test_sandbox_true_where_bubblewrap_is_missing_is_refused_naming_the_fix(make_pool, claude_env, dirs):
    pool = await make_pool(claude_env, bwrap_bin=str(dirs["outside"] / "no-bwrap"))
    with pytest.raises(SandboxUnavailable) as refused:
        await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    text = str(refused.value)
    assert "apt-get install bubblewrap" in text and "unprivileged user namespaces" in text and "--bwrap-bin" in text
    assert await listed(pool) == []
    await pool.create("plain", "r", str(dirs["mine"]), ACCEPT)  # unsandboxed: nothing asked of bwrap


async def test_bubblewrap_that_cannot_start_is_refused(make_pool, claude_env, dirs):
    broken = script(dirs["outside"] / "bwrap", "echo 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    pool = await make_pool(claude_env, bwrap_bin=str(broken))
    with pytest.raises(SandboxUnavailable, match="No permissions to create new namespace"):
        await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)


async def test_the_server_default_boxes_and_an_agent_may_opt_out(make_pool, boxed_env, dirs, no_leaks):
    pool = await make_pool(boxed_env, sandbox=True)
    assert (await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT)).sandbox is True
    assert (await pool.create("plain", "r", str(dirs["theirs"]), ACCEPT, sandbox=False)).sandbox is False
    boxed = await pool.send("boxed", "MOCK_ECHO_PID")
    plain = await pool.send("plain", "MOCK_ECHO_PID")
    assert int(boxed.text.rsplit("pid=", 1)[1].split()[0]) < 10  # the first processes of a PID namespace
    assert int(plain.text.rsplit("pid=", 1)[1].split()[0]) > 10


async def test_a_warm_box_is_not_reused_once_another_agent_is_created(make_pool, boxed_env, dirs, no_leaks):
    """An agent created after a box was made would be visible in it: the next message gets a new box."""
    pool = await make_pool(boxed_env)
    await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    first = await pool.send("boxed", "MOCK_ECHO_PID")
    again = await pool.send("boxed", "MOCK_ECHO_PID")
    assert again.text.rsplit("pid=", 1)[1] == first.text.rsplit("pid=", 1)[1]  # warm: the same process
    await pool.create("later", "r", str(dirs["theirs"]), ACCEPT)
    (dirs["theirs"] / "secret.txt").write_text("LATER-SECRET")
    report = await run_inside(pool, "boxed", dirs["mine"], f"cat {dirs['theirs']}/secret.txt")
    assert "LATER-SECRET" not in report


async def test_ask_mode_transcripts_and_files_changed_work_in_a_box(make_pool, boxed_env, dirs, no_leaks):
    """A boxed agent in ask mode asks before its Write, waits in the box for the answer, and its run's
    transcript and files_changed say what it did, as outside the box."""
    pool = await make_pool(boxed_env)
    await pool.create("boxed", "r", str(dirs["mine"]), AgentOptions(permission_mode="ask"), sandbox=True)
    run = await pool.start("boxed", "write it MOCK_WRITE")
    info = await pool.wait_run(run.run_id, 10)
    assert info.status == "waiting_permission" and info.pending_permission is not None
    target = dirs["mine"] / "mock_written.txt"
    assert not target.exists()
    await pool.answer_permission(run.run_id, info.pending_permission.request_id, "allow", None)
    await run.wait(10)
    response = pool.get_run(run.run_id).response
    assert response is not None and response.files_changed == [str(target)] and target.read_text() == "hello\n"
    kinds = [e.kind for e in pool.transcript(run.run_id, 0, 50).events]
    assert "permission_request" in kinds and "tool_use" in kinds and "tool_result" in kinds


async def test_a_timeout_ends_everything_in_the_box_and_the_agent_goes_on(make_pool, boxed_env, dirs, no_leaks):
    pool = await make_pool(boxed_env)
    await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    run = await pool.start("boxed", "MOCK_GRANDCHILD MOCK_SLEEP=30", timeout_s=1)
    await run.wait(15)
    assert pool.get_run(run.run_id).error_kind == "timed_out"
    with anyio.fail_after(5):
        while marked_processes(boxed_env[MARK]):
            await anyio.sleep(0.05)
    assert not (await pool.send("boxed", "after the timeout")).is_error


async def test_a_worktree_agent_works_in_its_box(make_pool, boxed_env, tmp_path, no_leaks):
    repo = tmp_path / "repo"
    repo.mkdir()
    for argv in (["git", "init", "-q"], ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                                          "--allow-empty", "-m", "start"]):  # fmt: skip
        subprocess.run(argv, cwd=repo, check=True)
    pool = await make_pool(boxed_env)
    info = await pool.create("boxed", "r", str(repo), ACCEPT, worktree=True, sandbox=True)
    reply = await pool.send("boxed", "MOCK_WRITE")
    assert not reply.is_error, reply.text
    assert (Path(info.cwd) / "mock_written.txt").read_text() == "hello\n"
    assert not (repo / "mock_written.txt").exists()  # in its own worktree, not the repository's checkout
    assert reply.files_changed == [str(Path(info.cwd) / "mock_written.txt")]


@pytest.mark.parametrize("cli", ["codex", "gemini"])
async def test_a_boxed_codex_or_gemini_agent_answers_and_keeps_its_session(
    make_pool, gemini_env, bwrap, dirs, cli, no_leaks
):
    """Every kind runs boxed: its CLI's own state (~/.codex, ~/.gemini) is bound in writable, so its
    session outlives the box and the next message resumes it."""
    (Path(gemini_env["HOME"]) / ".claude").mkdir(exist_ok=True)
    pool = await make_pool(gemini_env, codex_bin=gemini_env["AGENT_MCP_CODEX_BIN"],
                           gemini_bin=gemini_env["AGENT_MCP_GEMINI_BIN"])  # fmt: skip
    await pool.create("boxed", "r", str(dirs["mine"]), AgentOptions(), sandbox=True, cli=cli)
    first = await pool.send("boxed", "hello")
    second = await pool.send("boxed", "again")
    assert not first.is_error and not second.is_error, (first.text, second.text)
    assert second.session_id == first.session_id
    state = Path(gemini_env["HOME"]) / f".{cli}"
    assert any(path.is_file() for path in state.rglob("*") if first.session_id[:8] in path.name)


@pytest.mark.attack
async def test_a_boxed_tool_cannot_plant_git_hooks_or_config(make_pool, boxed_env, dirs, no_leaks):
    """A hook or a config written from inside would run outside the box the next time anyone runs git
    in the agent's repository."""
    subprocess.run(["git", "init", "-q"], cwd=dirs["mine"], check=True)
    pool = await make_pool(boxed_env)
    await pool.create("boxed", "r", str(dirs["mine"]), ACCEPT, sandbox=True)
    hook, config = dirs["mine"] / ".git" / "hooks" / "pre-commit", dirs["mine"] / ".git" / "config"
    before = config.read_text()
    report = await run_inside(pool, "boxed", dirs["mine"], f"{{ echo evil > {hook}; echo '[core] x=1' >> {config}; }}")
    assert report.count("Read-only file system") == 2, report
    assert not hook.exists() and config.read_text() == before
