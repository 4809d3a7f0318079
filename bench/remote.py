"""Agents on SSH hosts, each figure next to its baseline from the same run (bench/run.py prints them).

Two sshd's on loopback stand for two hosts (tests/ssh_hosts.py starts them; the double is claude
there), so the figures are what the SSH path itself costs, not a network's latency:
- a warm remote agent's round trip against a warm local agent's, once the master connection is up,
  and the same with warm agents off (a process per message: a new session, the host's reaper and
  claude started for each);
- agents spread over the two hosts (host="auto") each running a 1-second job at once, against the
  same agents on this machine.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from common import ROOT, RawClient, Row, environment, round_trip_medians

sys.path.insert(0, str(ROOT / "tests"))
import anyio
from ssh_hosts import SshHosts, sshd_available


def _missing(name: str, unit: str, goal: str) -> Row:
    return Row(name, 0, 0, unit, goal, None, "sshd not installed: apt-get install openssh-server")


def _hosts(tmp: Path) -> tuple[SshHosts, dict[str, str]]:
    hosts = SshHosts(tmp / "ssh", {})
    for alias in ("h1", "h2"):
        (hosts.start(alias).home / "work").mkdir()
    return hosts, {"AGENT_MCP_SSH_CONFIG": str(hosts.config)}


def local_and_remote(env: dict[str, str], hosts: SshHosts, work: Path, rounds: int) -> dict[str, float]:
    client = RawClient({**env, "AGENT_MCP_HOSTS": "h1=2"})
    client.call("create_agent", name="local", role="answers", cwd=str(work))
    client.call("create_agent", name="remote", role="answers", cwd=str(hosts.hosts["h1"].home / "work"), host="h1")
    for name in ("local", "remote"):
        client.call("send_message", agent=name, message="warm up")  # the process, and the master connection
    medians = round_trip_medians(client, ("remote", "local"), rounds)
    client.close()
    return medians


async def round_trips(tmp: Path, rounds: int, quick: bool) -> list[Row]:
    warm = ("remote agent round trip over loopback sshd, warm (median)", "<= 1.15x a local agent", 1.15, "600")
    cold = ("remote agent round trip over loopback sshd, warm agents off (median)", "<= 1.5x a local agent", 1.5,
            "0")  # fmt: skip
    if not sshd_available():
        return [_missing(name, "ms", goal) for name, goal, _, _ in (warm, cold)]
    hosts, extra = _hosts(tmp)
    rows = []
    try:
        for i, (name, goal, most, ttl) in enumerate((warm, cold)):
            work = tmp / f"work{i}"
            work.mkdir()
            env = {**environment(tmp), **extra, "AGENT_MCP_WARM_TTL": ttl, "AGENT_MCP_STATE_DIR": str(tmp / f"s{i}")}
            ms = await anyio.to_thread.run_sync(local_and_remote, env, hosts, work, rounds)
            met = None if quick else ms["remote"] / ms["local"] <= most
            local = "a warm local agent" if ttl != "0" else "a local agent"
            rows.append(Row(name, ms["remote"], ms["local"], "ms", goal, met,
                            f"baseline: {local} in the same server, messages in turn"))  # fmt: skip
    finally:
        hosts.close()
    return rows


def spread_wall(env: dict[str, str], cwds: list[str], hosted: bool) -> float:
    """Seconds from a broadcast of 1-second jobs to the last one done (agents warm already)."""
    client = RawClient(env)
    names = [f"a{i}" for i in range(len(cwds))]
    for name, cwd in zip(names, cwds, strict=True):
        client.call("create_agent", name=name, role="r", cwd=cwd, **({"host": "auto"} if hosted else {}))
    for message in ("warm up", "MOCK_SLEEP=1"):
        start = time.perf_counter()
        runs = json.loads(client.call("broadcast", agents=names, message=message))["result"]["structuredContent"]
        done = client.call("wait_runs", run_ids=[r["run_id"] for r in runs["runs"]], wait_s=600)
        wall = time.perf_counter() - start
        assert b'"status":"failed"' not in done
    client.close()
    return wall


async def spread(tmp: Path, agents: int, quick: bool) -> Row:
    name, goal = f"{agents} agents over two hosts x 1-second job, wall time", "<= 1.15x the same on this machine"
    if not sshd_available():
        return _missing(name, "s", goal)
    hosts, extra = _hosts(tmp)
    try:
        half = agents // 2
        env = {**environment(tmp), **extra, "AGENT_MCP_HOSTS": f"h1={half},h2={agents - half}",
               "AGENT_MCP_MAX_CONCURRENT": str(agents)}  # fmt: skip
        # "auto" alternates: each creation goes to the host with fewer agents placed
        cwds = [str(hosts.hosts["h1" if i % 2 == 0 else "h2"].home / "work") for i in range(agents)]
        remote = await anyio.to_thread.run_sync(spread_wall, env, cwds, True)
        local_work = tmp / "local-work"
        local_work.mkdir()
        local_env = {**env, "AGENT_MCP_STATE_DIR": str(tmp / "local-state")}
        local = await anyio.to_thread.run_sync(spread_wall, local_env, [str(local_work)] * agents, False)
    finally:
        hosts.close()
    return Row(name, remote, local, "s", goal, None if quick else remote / local <= 1.15,
               "baseline: the same agents on this machine, same caps")  # fmt: skip
