"""gemini's process tree ended whole: the CLI relaunches itself as a child in its process group and
ignores SIGINT, SIGTERM and SIGHUP while the child runs (../shared/agent-clis/README.md, and
tests/fake_gemini.py, which does the same). A signal to the parent alone ends nothing; the process
layer's end (the ladder: SIGTERM to the group, then the reaper) and its cancel (the reaper at once) end
the parent and its child, and a turn through them reads as the kind reads it."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from pathlib import Path

import anyio
import pytest
from conftest import MARK, marked_processes
from gemini_turns import launcher, send, start, take_turn

pytestmark = pytest.mark.anyio

DOUBLE = Path(__file__).parents[1] / "fake_gemini.py"


def environment(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text('{"security":{"auth":{"selectedType":"gemini-api-key"}}}')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "AGENT_MCP_"))}
    return {**env, "HOME": str(home), "GEMINI_API_KEY": "dummy", MARK: uuid.uuid4().hex,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])}  # fmt: skip


def children(pid: int) -> list[int]:
    """The children of a process, once it has one (AgentProcess.pid is the run's reaper: its child is the
    CLI, and the CLI's child its relaunch)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{pid} started no child")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("ending", ["end", "cancel"])
async def test_a_relaunched_gemini_outlives_a_sigterm_to_its_parent_and_not_the_process_end(tmp_path, ending):
    env = environment(tmp_path)
    with launcher() as local:
        process = await start(local, str(DOUBLE), tmp_path, env)
        await send(process, "MOCK_SLEEP=60 work long")
        (gemini,) = children(process.pid)
        (child,) = children(gemini)
        assert os.getpgid(child) == os.getpgid(gemini)  # one group, which the run's reaper leads
        os.kill(gemini, signal.SIGTERM)  # the parent alone, as a careless ender would
        await anyio.sleep(0.5)
        assert alive(gemini) and alive(child), "a SIGTERM to the parent alone ended the tree"
        if ending == "cancel":
            process.kill_now()  # the reaper ends every process of the run at once
        started = time.monotonic()
        await process.end()
        assert time.monotonic() - started < 10
        assert not alive(gemini) and not alive(child)
        assert marked_processes(env[MARK]) == []


async def test_a_turn_on_the_double_through_the_process_layer(tmp_path):
    env = environment(tmp_path)
    with launcher() as local:
        turn = await take_turn(await start(local, str(DOUBLE), tmp_path, env), "-p --yolo MOCK_ECHO_PROMPT")
        assert turn.complete and turn.exit.returncode == 0
        response = turn.reader.response("g")
        assert response.text == "-p --yolo MOCK_ECHO_PROMPT\n\nYou are agent 'g' with role: a reviewer. Work " \
            "autonomously on the task given."  # fmt: skip
        resumed = await start(local, str(DOUBLE), tmp_path, env, resume=response.session_id)
        again = await take_turn(resumed, "MOCK_ECHO_PROMPT again\n", resumed=response.session_id)
        assert again.reader.response("g").text == "MOCK_ECHO_PROMPT again\n"
        assert again.reader.session_id == response.session_id
    assert marked_processes(env[MARK]) == []
