"""agent-mcp benchmarks: each figure measured in this run next to its baseline, printed as ratios.

    .venv/bin/python bench/run.py            # the full run recorded in BENCHMARKS.md
    .venv/bin/python bench/run.py --quick    # small sizes: checks that every benchmark works (CI)
    .venv/bin/python bench/run.py --only throughput    # one benchmark's rows alone

Every agent-mcp figure is taken the way a user's client sees it: the installed `agent-mcp` command
as a subprocess, driven by the SDK's stdio client. The claude CLI is the test double
(tests/fake_claude.py), which answers at once. The peer, @steipete/claude-code-mcp, is driven
with the same double when `npm ci --prefix bench/peer` has installed it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pool_share
import remote
import sandbox
import warm
from common import (
    AGENT_MCP,
    DOUBLE,
    MB,
    ROOT,
    RawClient,
    Row,
    environment,
    feed_and_drain,
    interleaved_medians,
    memory_kib,
    run_under_pty,
    timed,
)
from mcp import Client, StdioServerParameters

from agent_mcp.agents.claude._argv import build_argv
from agent_mcp.agents.claude._frames import user_frame
from agent_mcp.core.models import AgentOptions

PEER = ROOT / "bench" / "peer" / "node_modules" / ".bin" / "claude-code-mcp"


@asynccontextmanager
async def agent_mcp(env: dict[str, str], *args: str) -> AsyncIterator[Any]:
    params = StdioServerParameters(command=AGENT_MCP, args=list(args), env=env)
    async with Client(params, read_timeout_seconds=600, mode="legacy") as client:
        yield client


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content[0].text}")
    return dict(result.structured_content)


def run_posix_spawned(argv: list[str], cwd: str, env: dict[str, str], stdin: bytes) -> int:
    """The same floor without ptyprocess's fork of the whole calling process: posix_spawn (vfork)
    into a new session, the PTY opened by name so it becomes the controlling terminal, as ptyprocess
    makes it. Python 3.11's posix_spawn cannot change directory, so `env -C` does."""
    master, slave = os.openpty()
    read_end, write_end = os.pipe()
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.ttyname(slave), os.O_RDWR, 0), (os.POSIX_SPAWN_DUP2, 1, 2),
               (os.POSIX_SPAWN_DUP2, read_end, 0)]  # fmt: skip
    pid = os.posix_spawn("/usr/bin/env", ["env", "-C", cwd, *argv], env, file_actions=actions, setsid=True)
    os.close(slave)
    os.close(read_end)
    total = feed_and_drain(write_end, stdin, master)
    if os.waitpid(pid, 0)[1] != 0:
        raise RuntimeError(f"{argv[0]} failed when spawned with posix_spawn")
    os.close(master)
    return total


# --- the benchmarks ----------------------------------------------------------------------------


def round_trip_figures(env: dict[str, str], work: Path, rounds: int) -> dict[str, float]:
    """Medians (ms) of one answered message, taken round by round so drift hits all alike: agent-mcp's
    send_message, the peer's claude_code (when installed), and the same argv spawned directly under
    a PTY by ptyprocess and by posix_spawn; then agent-mcp through the SDK's Python client."""
    ours = RawClient({**env, "AGENT_MCP_WARM_TTL": "0"})  # a process per message, as the baselines
    ours.call("create_agent", name="bench", role="answers", cwd=str(work))
    first = json.loads(ours.call("send_message", agent="bench", message="warm up"))
    argv = build_argv(
        str(DOUBLE), "bench", "answers", AgentOptions(), first["result"]["structuredContent"]["session_id"]
    )
    contenders: dict[str, Callable[[str], object]] = {
        "ours": lambda message: ours.call("send_message", agent="bench", message=message),
        "ptyprocess": lambda message: run_under_pty(argv, str(work), env, user_frame(message)),
        "posix_spawn": lambda message: run_posix_spawned(argv, str(work), env, user_frame(message)),
    }
    clients = [ours]
    if PEER.exists():
        peer = RawClient({**env, "CLAUDE_CLI_NAME": str(DOUBLE)}, (str(PEER),))
        peer_work = str(work.parent / "peer-work")
        os.mkdir(peer_work)
        peer.call("claude_code", prompt="warm up", workFolder=peer_work)
        contenders["peer"] = lambda message: peer.call("claude_code", prompt=message, workFolder=peer_work)
        clients.append(peer)
    medians = interleaved_medians(contenders, rounds)
    for client in clients:
        client.close()

    async def with_sdk_client() -> float:
        async with agent_mcp({**env, "AGENT_MCP_WARM_TTL": "0"}) as sdk:
            await call(sdk, "send_message", agent="bench", message="warm up")
            return statistics.median([await timed(lambda: call(sdk, "send_message", agent="bench", message="m"))
                                      for _ in range(max(3, rounds // 3))])  # fmt: skip

    return {**medians, "sdk_client": anyio.run(with_sdk_client) * 1000}


async def round_trips(tmp: Path, rounds: int, quick: bool) -> list[Row]:
    env = environment(tmp)
    work = tmp / "work"
    work.mkdir()
    ms = await anyio.to_thread.run_sync(round_trip_figures, env, work, rounds)
    ours = ms["ours"]
    name = "round trip vs @steipete/claude-code-mcp"
    peer = (
        Row(name, ours, ms["peer"], "ms", "faster than the peer (< 1.00x)", None if quick else ours < ms["peer"],
            f"the same argv spawned directly under a PTY: {ms['ptyprocess']:.1f} ms with ptyprocess, "
            f"{ms['posix_spawn']:.1f} ms with posix_spawn")
        if "peer" in ms
        else Row(name, ours, 0, "ms", "faster than the peer", None,
                 "peer not installed: run `npm ci --prefix bench/peer`")
    )  # fmt: skip
    return [
        Row("send_message round trip, warm agents off (median)", ours, ms["ptyprocess"], "ms",
            "<= 1.10x direct PTY spawn",
            None if quick else ours / ms["ptyprocess"] <= 1.10,
            f"through the SDK's Python client: {ms['sdk_client']:.0f} ms"),
        peer,
    ]  # fmt: skip


async def parallelism(tmp: Path, agents: int, quick: bool) -> Row:
    env = environment(tmp)
    work = tmp / "work"
    work.mkdir()
    names = [f"a{i}" for i in range(agents)]
    async with agent_mcp(env, "--max-concurrent", str(agents)) as client:
        for name in names:
            await call(client, "create_agent", name=name, role="r", cwd=str(work))
        warm = await call(client, "broadcast", agents=names, message="warm up")
        await call(client, "wait_runs", run_ids=[r["run_id"] for r in warm["runs"]])

        async def fan_out() -> None:
            runs = await call(client, "broadcast", agents=names, message="MOCK_SLEEP=1")
            waited = await call(client, "wait_runs", run_ids=[r["run_id"] for r in runs["runs"]])
            assert all(r["status"] == "done" for r in waited["runs"])

        wall = await timed(fan_out)
    argv = build_argv(str(DOUBLE), "a0", "r", AgentOptions(), None)

    async def direct() -> None:  # the same jobs spawned at once under PTYs, without agent-mcp
        async with anyio.create_task_group() as tasks:
            for _ in names:
                tasks.start_soon(partial(anyio.to_thread.run_sync, run_under_pty, argv, str(work), env,
                                         user_frame("MOCK_SLEEP=1"), limiter=anyio.CapacityLimiter(1)))  # fmt: skip

    floor = await timed(direct)
    return Row(f"{agents} agents x 1-second job, wall time", wall, floor, "s", "< 1.3 s",
               None if quick else wall < 1.3, "baseline: the same jobs spawned at once, directly")  # fmt: skip


@dataclass
class BigReply:
    seconds: float
    """send_message's, to its result."""
    response_bytes: int
    before: int
    """The server's resident KiB before the message."""
    peak: int
    """Its peak resident KiB to the result."""
    read_peak: int
    """Its peak resident KiB once the reply was read back whole by reference, as well."""
    pages: int


def raw_big_reply(env: dict[str, str], work: Path, size: int) -> BigReply:
    """One send_message of a `size`-character reply, then the reply read whole by reference: page
    after page with get_run's text_offset, as a caller following the cut reply's note would."""
    client = RawClient(env)
    client.call("create_agent", name="big", role="r", cwd=str(work))
    before = memory_kib(client.process.pid, "VmRSS")
    start = time.perf_counter()
    line = client.call("send_message", agent="big", message=f"MOCK_BIGLINE={size}")
    seconds = time.perf_counter() - start
    peak = memory_kib(client.process.pid, "VmHWM")
    run_id, read, pages = json.loads(line)["result"]["structuredContent"]["run_id"], 0, 0
    while read < size:
        page = json.loads(client.call("get_run", run_id=run_id, text_offset=read))
        read, pages = read + len(page["result"]["structuredContent"]["response"]["text"]), pages + 1
    read_peak = memory_kib(client.process.pid, "VmHWM")
    client.close()
    return BigReply(seconds, len(line), before, peak, read_peak, pages)


async def throughput(tmp: Path, size: int, quick: bool) -> list[Row]:
    env = environment(tmp)
    work = tmp / "work"
    work.mkdir()
    blob = tmp / "blob"
    blob.write_bytes(b"x" * size)
    cat_s = await timed(lambda: anyio.to_thread.run_sync(run_under_pty, ["cat", str(blob)], str(work), env, b""))
    argv = build_argv(str(DOUBLE), "big", "r", AgentOptions(), None)
    double_s = await timed(lambda: anyio.to_thread.run_sync(run_under_pty, argv, str(work), env,
                                                            user_frame(f"MOCK_BIGLINE={size}")))  # fmt: skip
    big = await anyio.to_thread.run_sync(raw_big_reply, env, work, size)
    assert big.response_bytes < 100_000, "the reply came back whole, not cut to its head and tail"
    peak_mb, read_mb = big.peak / 1024, big.read_peak / 1024
    return [
        Row(f"{size // MB} MB reply: time to the result (cut to head and tail; the whole stays in the store)",
            big.seconds, double_s, "s", "<= 2x the double alone writing it",
            None if quick else big.seconds <= 2 * double_s,
            f"the double alone, spawned directly and read to its end; cat of the same size through a PTY: "
            f"{cat_s:.2f} s"),
        Row(f"{size // MB} MB reply: peak server memory", peak_mb, size / MB, "MB", "< 3x the reply",
            None if quick else peak_mb < 3 * size / MB, f"resident before the message: {big.before / 1024:.0f} MB"),
        Row(f"{size // MB} MB reply end to end: peak server memory, sent and then read whole by reference",
            read_mb, size / MB, "MB", "<= 3x the reply", None if quick else read_mb <= 3 * size / MB,
            f"{big.pages} pages of get_run(text_offset); resident before the message: {big.before / 1024:.0f} MB"),
    ]  # fmt: skip


async def cold_start(tmp: Path, rounds: int, quick: bool) -> Row:
    env = environment(tmp)
    requests = (
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        b'"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}\n'
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
        b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n'
    )

    def start_to_tools() -> None:
        process = subprocess.Popen([AGENT_MCP], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        assert process.stdin and process.stdout
        process.stdin.write(requests)
        process.stdin.flush()
        for line in process.stdout:
            if line.startswith(b'{"jsonrpc":"2.0","id":2'):
                break
        process.stdin.close()
        process.wait()

    def import_mcp() -> None:
        subprocess.run([sys.executable, "-c", "import mcp"], check=True, env=env)

    ours, base = [], []
    for _ in range(rounds):
        ours.append(await timed(lambda: anyio.to_thread.run_sync(start_to_tools)))
        base.append(await timed(lambda: anyio.to_thread.run_sync(import_mcp)))
    ours_ms, base_ms = statistics.median(ours) * 1000, statistics.median(base) * 1000
    return Row("cold start to an answered tools/list", ours_ms, base_ms, "ms", '<= 1.5x `python -c "import mcp"`',
               None if quick else ours_ms <= 1.5 * base_ms)  # fmt: skip


def scale_figures(env: dict[str, str], work: Path, agents: int, rounds: int) -> tuple[float, float, float, float]:
    """Medians (ms) of list_agents with the raw client, of the SDK alone returning the same result
    prebuilt (interleaved with the first), and with the SDK's client; and the server's resident MB."""
    client = RawClient(env)
    for i in range(agents):
        client.call("create_agent", name=f"agent-{i:04d}", role="a role of some length " * 4, cwd=str(work))
    line = client.call("list_agents", limit=agents)  # every agent in one page, as before pages
    assert line.count(b'"created_at"') >= agents
    listing = work / "listing.json"
    listing.write_text(json.loads(line)["result"]["content"][0]["text"])
    floor = RawClient(env, (sys.executable, str(ROOT / "bench" / "sdk_floor.py"), str(listing)))
    medians = interleaved_medians(
        {"ours": lambda _: client.call("list_agents", limit=agents), "floor": lambda _: floor.call("list_agents")},
        rounds,
    )
    rss = memory_kib(client.process.pid, "VmRSS") / 1024
    client.close()
    floor.close()

    async def with_sdk_client() -> float:
        async with agent_mcp(env) as sdk:
            await call(sdk, "list_agents", limit=agents)
            return statistics.median([await timed(lambda: call(sdk, "list_agents", limit=agents)) for _ in range(3)])

    return medians["ours"], medians["floor"], anyio.run(with_sdk_client) * 1000, rss


async def scale(tmp: Path, agents: int, rounds: int, quick: bool) -> list[Row]:
    env = environment(tmp)
    work = tmp / "work"
    work.mkdir()
    latency, floor, sdk_latency, rss = await anyio.to_thread.run_sync(scale_figures, env, work, agents, rounds)
    return [
        Row(f"{agents} agents: list_agents latency (median)", latency, floor, "ms", "< 50 ms",
            None if quick else latency < 50,
            f"baseline: the SDK returning the same result prebuilt (bench/sdk_floor.py); "
            f"through the SDK's Python client: {sdk_latency:.0f} ms"),
        Row(f"{agents} agents: server memory", rss, 120, "MB", "< 120 MB", None if quick else rss < 120),
    ]  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | agent-mcp | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        baseline = f"{row.baseline:.1f} {row.unit}" if row.baseline else "-"
        ratio = f"{row.ratio:.2f}x" if row.baseline else "-"
        note = f" ({row.note})" if row.note else ""
        lines.append(f"| {row.name}{note} | {row.ours:.1f} {row.unit} | {baseline} | {ratio} | {row.goal} | {met} |")
    return "\n".join(lines)


SECTIONS = ("round-trip", "parallel", "throughput", "cold", "scale", "warm", "share", "real-cli", "printing", "remote",
            "spread", "sandbox")  # fmt: skip


async def main(quick: bool, only: str | None = None) -> int:
    """Every section in turn (or the one named), each in a scratch directory of its own."""
    sizes = (
        {"rounds": 3, "agents": 4, "bytes": 5 * MB, "scale": 50, "printed": 5 * MB, "spread": 4}
        if quick
        else {"rounds": 60, "agents": 32, "bytes": 50 * MB, "scale": 1000, "printed": 50 * MB, "spread": 16}
    )
    rounds, few = sizes["rounds"], max(3, sizes["rounds"] // 3)
    sections: dict[str, Callable[[Path], Awaitable[Row | list[Row]]]] = {
        "round-trip": lambda tmp: round_trips(tmp, rounds, quick),
        "parallel": lambda tmp: parallelism(tmp, sizes["agents"], quick),
        "throughput": lambda tmp: throughput(tmp, sizes["bytes"], quick),
        "cold": lambda tmp: cold_start(tmp, few, quick),
        "scale": lambda tmp: scale(tmp, sizes["scale"], rounds, quick),
        "warm": lambda tmp: warm.warm_vs_cold(tmp, few, quick),
        "share": lambda tmp: pool_share.pool_share(tmp, rounds, quick),
        "real-cli": lambda tmp: warm.real_cli(tmp, rounds, quick),
        "printing": lambda tmp: warm.printing(tmp, sizes["printed"], 3, quick),
        "remote": lambda tmp: remote.round_trips(tmp, rounds, quick),
        "spread": lambda tmp: remote.spread(tmp, sizes["spread"], quick),
        "sandbox": lambda tmp: sandbox.round_trip(tmp, rounds, quick),
    }
    assert tuple(sections) == SECTIONS
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="agent-mcp-bench-") as scratch:
        for name, section in sections.items():
            if only in (None, name):
                (Path(scratch) / name).mkdir()
                found = await section(Path(scratch) / name)
                rows.extend(found if isinstance(found, list) else [found])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
          f"Python {platform.python_version()}{' (quick mode: goals not judged)' if quick else ''}")  # fmt: skip
    print(table(rows))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes; checks the benchmarks work, judges nothing")
    parser.add_argument("--only", choices=SECTIONS, help="run this benchmark's rows alone")
    arguments = parser.parse_args()
    sys.exit(anyio.run(main, arguments.quick, arguments.only))
