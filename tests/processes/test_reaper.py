"""The long-lived reaper (reaper.py serve) and the runs it forks: every guarantee a run's own reaper
gave holds with one reaper per server, and what is new in it holds too: its death ends every run,
the server's death ends it, runs stay apart, nothing is left a zombie, many runs start at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from conftest import MARK, marked_processes

from agent_mcp.processes._spawning import Reaper, Started
from agent_mcp.processes.process import AgentProcess, ExecutableNotFound, ProcessRegistry, ProcessSpec, SpawnFailed

pytestmark = pytest.mark.anyio

ESCAPES = """
import os, signal, sys, time
if os.fork() == 0:  # a daemon of the run: out of claude's group and session, deaf to SIGHUP and SIGTERM
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(120)
    os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(120)
"""
"""claude's stand-in: it leaves a daemon that escaped its group and session, and outlives a SIGTERM."""


def state(pid: int) -> str | None:
    """The process's state letter (Z: a zombie), None once it is gone (reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def until(condition: Callable[[], object], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


class Runs:
    """Runs of a test, each with a mark of its own in its environment, so each run's processes
    (claude and what it started) can be found and told apart."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
        self.registry = ProcessRegistry()
        self.marks: dict[int, str] = {}

    def start(self, script: str = ESCAPES, executable: str = sys.executable) -> AgentProcess:
        mark = uuid.uuid4().hex
        spec = ProcessSpec(argv=[executable, "-c", script], cwd_fd=self.cwd, env={**os.environ, MARK: mark},
                           max_line_bytes=1 << 20, exit_grace_s=0.2, kill_grace_s=0.5)  # fmt: skip
        process = AgentProcess(spec, self.registry)
        self.marks[process.pid] = mark
        return process

    def of(self, process: AgentProcess) -> list[int]:
        return marked_processes(self.marks[process.pid])

    def started(self, *processes: AgentProcess) -> None:
        """Each has its daemon running (claude and the daemon)."""
        until(lambda: all(len(self.of(process)) == 2 for process in processes))

    def close(self) -> None:
        self.registry.kill_all()
        os.close(self.cwd)


@pytest.fixture
def runs(tmp_path: Path):
    runs = Runs(tmp_path)
    yield runs
    runs.close()


@pytest.mark.attack
async def test_the_long_lived_reaper_killed_ends_every_run_and_the_next_run_gets_a_new_one(runs):
    first, second = runs.start(), runs.start()
    runs.started(first, second)
    reaper = parent(first.pid)
    assert parent(second.pid) == reaper and b"serve" in Path(f"/proc/{reaper}/cmdline").read_bytes().split(b"\0")
    os.kill(reaper, signal.SIGKILL)
    until(lambda: not runs.of(first) and not runs.of(second))
    for process in (first, second):
        assert await process.wait_exit(5)
        assert (await process.end()).signal == signal.SIGKILL
    third = runs.start()
    runs.started(third)
    assert parent(third.pid) != reaper and state(reaper) is None  # the dead one reaped, not left a zombie
    await third.end()


@pytest.mark.attack
async def test_cancelling_one_run_ends_its_whole_tree_and_leaves_the_other_run_alone(runs):
    cancelled, kept = runs.start(), runs.start()
    runs.started(cancelled, kept)
    kept_pids = runs.of(kept)
    cancelled.kill_now()
    until(lambda: not runs.of(cancelled))
    assert await cancelled.wait_exit(5)
    time.sleep(0.2)
    assert runs.of(kept) == kept_pids and not kept.poll()
    await cancelled.end()
    await kept.end()  # past SIGTERM, which it ignores: its reaper ends it and its daemon
    assert not runs.of(kept)


@pytest.mark.attack
async def test_a_run_that_kills_its_own_reaper_leaves_nothing_behind(runs):
    """Its daemon is re-parented to the long-lived reaper (a subreaper too), which ends it. With a
    reaper per run and nothing above it, the daemon went to init and lived on."""
    process = runs.start(ESCAPES.replace("signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(120)",
                                         "signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(0.5)\nos.kill(os.getppid(), 9)"
                                         "\ntime.sleep(120)"))  # fmt: skip
    runs.started(process)
    until(lambda: not runs.of(process) and process.poll())
    assert (await process.end()).signal == signal.SIGKILL


async def test_no_zombie_is_left_and_shutdown_reaps_the_long_lived_reaper(runs):
    processes = [runs.start("import sys; sys.stdin.readline()") for _ in range(4)]  # until its input ends
    reaper = parent(processes[0].pid)
    exits = [await process.end() for process in processes]
    assert [exit.returncode for exit in exits] == [0, 0, 0, 0]
    until(lambda: all(state(process.pid) is None for process in processes))  # reaped by the long-lived reaper
    assert children(reaper) == []
    runs.registry.kill_all()
    assert state(reaper) is None  # ended and reaped


async def test_many_runs_start_at_once_and_each_takes_its_turn(runs):
    echo = "import sys; print(sys.stdin.readline().strip() + ' done', flush=True)"
    processes = [runs.start(echo) for _ in range(32)]
    [reaper] = {parent(process.pid) for process in processes}
    seen: dict[int, bytes] = {}

    async def turn(process: AgentProcess) -> None:
        async def on_line(line: bytes) -> bool:
            seen[process.pid] = line
            return True

        assert await process.run_turn(f"{process.pid}\n".encode(), on_line, 30, 30)
        assert (await process.end()).returncode == 0

    async with anyio.create_task_group() as tasks:
        for process in processes:
            tasks.start_soon(turn, process)
    assert seen == {process.pid: f"{process.pid} done".encode() for process in processes}
    until(lambda: all(state(process.pid) is None for process in processes))
    assert children(reaper) == []


async def test_the_long_lived_reaper_outlives_the_thread_that_started_it(runs, tmp_path):
    """It does not take the server's death from that thread's (the kernel's parent-death signal
    would: it follows the thread), so the runs it starts live on."""
    first = threading.Thread(target=lambda: start_directly(runs.registry.reaper, tmp_path, "pass").close())
    first.start()
    first.join()
    process = runs.start()
    runs.started(process)
    time.sleep(0.3)
    assert len(runs.of(process)) == 2 and not process.poll()
    await process.end()


async def test_what_cannot_start_is_refused_as_before(runs, tmp_path):
    with pytest.raises(ExecutableNotFound):
        runs.start(executable=str(tmp_path / "nowhere"))
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    runs.cwd, directory = os.open(not_a_directory, os.O_PATH), runs.cwd
    try:
        with pytest.raises(SpawnFailed, match="NotADirectoryError"):
            runs.start()
    finally:
        os.close(runs.cwd)
        runs.cwd = directory
    process = runs.start("print('still here')")  # the long-lived reaper serves on
    assert (await process.end()).returncode == 0


def start_directly(reaper: Reaper, cwd: Path, script: str) -> Started:
    """A run started by the reaper alone, without a AgentProcess (which needs an event loop)."""
    directory = os.open(cwd, os.O_PATH | os.O_DIRECTORY)
    spec = ProcessSpec(argv=[sys.executable, "-c", script], cwd_fd=directory, env=dict(os.environ), max_line_bytes=1)
    stdin, _ = os.pipe()
    _, stdout = socket.socketpair()
    try:
        return reaper.spawn(spec, stdin, stdout.fileno())
    finally:
        os.close(directory)
        os.close(stdin)
        stdout.close()


SERVER = """
import sys, time
from pathlib import Path
from agent_mcp.processes._spawning import Reaper
from test_reaper import start_directly
reaper = Reaper()
runs = [start_directly(reaper, Path("."), sys.argv[1]) for _ in range(2)]
print(*(run.pid for run in runs), flush=True)
time.sleep(120)
"""


@pytest.mark.attack
def test_a_sigkilled_server_takes_its_long_lived_reaper_and_every_run(tmp_path):
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    server = subprocess.Popen([sys.executable, "-c", SERVER, ESCAPES], cwd=tmp_path, env=env, stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        run_reapers = list(map(int, server.stdout.readline().split()))
        [reaper] = {parent(pid) for pid in run_reapers}
        assert parent(reaper) == server.pid
        # the server, its reaper, and per run: its reaper, claude and the daemon
        until(lambda: len(marked_processes(mark)) == 1 + 1 + 2 * 3)
    finally:
        server.kill()
        server.wait()
    until(lambda: not marked_processes(mark) and state(reaper) in (None, "Z"))  # Z: init has yet to reap it
