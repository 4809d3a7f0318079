"""Warm agents' figures, each next to its baseline from the same run (bench/run.py prints them).

- A follow-up message to a warm agent against the same message to a cold one (warm agents off), with
  the double starting as slowly as the real CLI does (FAKE_CLAUDE_STARTUP_S).
- With the real CLI (tests/clients) against the loopback mock API, when installed: agent-mcp's warm
  round trip against the floor, one live CLI process fed the same turn on its stdin.
- Tools that print a lot (the double's MOCK_PRINT): the time to the result against the double alone
  writing the same, and how much the server grew meanwhile, warm and cold.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import anyio
from common import (
    DOUBLE,
    MB,
    ROOT,
    RawClient,
    Row,
    environment,
    interleaved_medians,
    memory_kib,
    run_under_pty,
    timed,
)

from agent_mcp.agents.claude._argv import build_argv
from agent_mcp.agents.claude._frames import user_frame
from agent_mcp.core.models import AgentOptions

REAL_CLAUDE = ROOT / "tests" / "clients" / "node_modules" / ".bin" / "claude"
CLI_STARTUP_S = "0.6"


def warm_and_cold_medians(env: dict[str, str], work: Path, rounds: int) -> dict[str, float]:
    """Two servers on one store, one with warm agents off; their agents answer in turn."""
    warm, cold = RawClient(env), RawClient({**env, "AGENT_MCP_WARM_TTL": "0"})
    for client, name in ((warm, "warm"), (cold, "cold")):
        client.call("create_agent", name=name, role="answers", cwd=str(work))
        client.call("send_message", agent=name, message="warm up")
    medians = interleaved_medians(
        {
            "warm": lambda message: warm.call("send_message", agent="warm", message=message),
            "cold": lambda message: cold.call("send_message", agent="cold", message=message),
        },
        rounds,
    )
    warm.close()
    cold.close()
    return medians


async def warm_vs_cold(tmp: Path, rounds: int, quick: bool) -> Row:
    env = {**environment(tmp), "FAKE_CLAUDE_STARTUP_S": CLI_STARTUP_S}
    work = tmp / "work"
    work.mkdir()
    ms = await anyio.to_thread.run_sync(warm_and_cold_medians, env, work, rounds)
    return Row("follow-up message to a warm agent (baseline: the same to a cold agent, warm agents off)",
               ms["warm"], ms["cold"], "ms", "<= 0.2x cold", None if quick else ms["warm"] <= 0.2 * ms["cold"],
               f"the double starting in {CLI_STARTUP_S} s, as the real CLI does")  # fmt: skip


class LiveCli:
    """The floor: one claude process, fed each turn on its stdin, read to the turn's result."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        argv = build_argv(str(REAL_CLAUDE), "floor", "answers", AgentOptions(), None)
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)  # fmt: skip

    def turn(self, message: str) -> None:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(user_frame(message))
        self.process.stdin.flush()
        while line := self.process.stdout.readline():
            if b'"type":"result"' in line and json.loads(line).get("type") == "result":
                return
        raise RuntimeError("the CLI ended without a result")

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait()


def real_cli_medians(env: dict[str, str], work: Path, rounds: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "tests"))
    from mock_api import MockAnthropic  # a test helper: the loopback Messages API

    quiet = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
             "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_MAX_RETRIES": "1"}  # fmt: skip
    with MockAnthropic() as api:
        real = {**env, **quiet, "ANTHROPIC_BASE_URL": api.url, "AGENT_MCP_CLAUDE_BIN": str(REAL_CLAUDE)}
        ours, floor = RawClient(real), LiveCli(real, work)
        ours.call("create_agent", name="bench", role="answers", cwd=str(work))
        ours.call("send_message", agent="bench", message="warm up")
        floor.turn("warm up")
        medians = interleaved_medians(
            {"ours": lambda message: ours.call("send_message", agent="bench", message=message), "floor": floor.turn},
            rounds,
        )
        ours.close()
        floor.close()
    return medians


async def real_cli(tmp: Path, rounds: int, quick: bool) -> Row:
    name = "warm round trip with the real CLI (baseline: one live CLI process fed the turn on its stdin)"
    if not REAL_CLAUDE.exists():
        return Row(name, 0, 0, "ms", "<= 1.5x the live process", None,
                   "the real CLI is not installed: npm ci --prefix tests/clients")  # fmt: skip
    work = tmp / "work"
    work.mkdir()
    ms = await anyio.to_thread.run_sync(real_cli_medians, environment(tmp), work, rounds)
    return Row(name, ms["ours"], ms["floor"], "ms", "<= 1.5x the live process",
               None if quick else ms["ours"] <= 1.5 * ms["floor"], "claude against the loopback mock API")  # fmt: skip


def print_through(env: dict[str, str], work: Path, size: int, warm: bool, rounds: int) -> tuple[float, float]:
    """(median seconds to the result, most MiB the server grew at a peak) of messages whose tools print
    `size` bytes, to an agent that is warm (it answered before) or cold (warm agents off)."""
    client = RawClient(env if warm else {**env, "AGENT_MCP_WARM_TTL": "0"})
    client.call("create_agent", name="printer", role="r", cwd=str(work))
    client.call("send_message", agent="printer", message="warm up")
    pid = client.process.pid
    times, growth = [], []
    for _ in range(rounds):
        before = memory_kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak from here on
        start = time.perf_counter()
        client.call("send_message", agent="printer", message=f"MOCK_PRINT={size}")
        times.append(time.perf_counter() - start)
        growth.append((memory_kib(pid, "VmHWM") - before) / 1024)
    client.close()
    return statistics.median(times), max(growth)


async def printing(tmp: Path, size: int, rounds: int, quick: bool) -> list[Row]:
    """The double alone writing the same output is the baseline of the time. Of the memory: the
    growth the issue measured before warm agents (about 15 MiB); the stream's largest line here is
    about 2 MiB (each 1 MiB tool result is written twice)."""
    argv = build_argv(str(DOUBLE), "printer", "r", AgentOptions(), None)
    rows = []
    for warm in (True, False):
        kind = "warm" if warm else "cold"
        (tmp / kind).mkdir()
        env, work = environment(tmp / kind), tmp / kind / "work"
        work.mkdir()
        frame = user_frame(f"MOCK_PRINT={size}")
        alone = statistics.median(
            [await timed(partial(anyio.to_thread.run_sync, run_under_pty, argv, str(work), env, frame))
             for _ in range(rounds)]
        )  # fmt: skip
        seconds, grown = await anyio.to_thread.run_sync(print_through, env, work, size, warm, rounds)
        rows += [
            Row(f"tools printing {size // MB} MiB, {kind} agent: time to the result (baseline: the double alone)",
                seconds, alone, "s", "<= 1.25x the double alone", None if quick else seconds <= 1.25 * alone),
            Row(f"tools printing {size // MB} MiB, {kind} agent: server memory growth (baseline: as measured "
                "before warm agents)", grown, 15.0, "MiB", "kept so (<= 15 MiB)", None if quick else grown <= 15.0,
                "its largest line is about 2 MiB"),
        ]  # fmt: skip
    return rows
