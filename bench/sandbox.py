"""What the box costs (bench/run.py prints it): a sandboxed agent's round trip against an unsandboxed
one's in the same server, messages in turn, with warm agents off, so every message starts its CLI
(and, for the sandboxed agent, its box: bwrap, its namespaces and mounts) anew: the box's whole cost
lands on each message. Goal: under 10 ms added per run."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
from common import RawClient, Row, environment, round_trip_medians

GOAL_MS = 10.0


def medians(env: dict[str, str], tmp: Path, rounds: int) -> dict[str, float]:
    client = RawClient(env)
    for name, boxed in (("boxed", True), ("plain", False)):
        (tmp / name).mkdir()
        client.call("create_agent", name=name, role="answers", cwd=str(tmp / name), sandbox=boxed)
        client.call("send_message", agent=name, message="warm up")
    ms = round_trip_medians(client, ("boxed", "plain"), rounds)
    client.close()
    return ms


async def round_trip(tmp: Path, rounds: int, quick: bool) -> Row:
    name, goal = "sandboxed agent round trip, warm agents off (median)", f"< {GOAL_MS:g} ms added"
    if shutil.which("bwrap") is None:
        return Row(name, 0, 0, "ms", goal, None, "bubblewrap not installed: apt-get install bubblewrap")
    env = {**environment(tmp), "AGENT_MCP_WARM_TTL": "0"}
    (Path(env["HOME"]) / ".claude").mkdir(exist_ok=True)
    ms = await anyio.to_thread.run_sync(medians, env, tmp, rounds)
    added = ms["boxed"] - ms["plain"]
    met = None if quick else added < GOAL_MS
    note = f"baseline: an unsandboxed agent in the same server, messages in turn; the box adds {added:.1f} ms"
    return Row(name, ms["boxed"], ms["plain"], "ms", goal, met, note)
