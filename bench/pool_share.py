"""The pool's own share of a warm message (bench/run.py prints it): what agent-mcp adds per message
over the two things it cannot do without, measured in one run, interleaved.

- ours: send_message to a warm agent, the double answering at once (no FAKE_CLAUDE_STARTUP_S);
- the floor: the same double kept alive and fed the same turn on its stdin directly (warm.py's live
  process, with the double), plus one list_agents round trip to the same server (the MCP request
  and response, with the store read a listing makes).

The share is ours less the floor: the store writes, the transcript, the framing and parsing, the
result's JSON, and the hops between the loop and the threads.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
from common import DOUBLE, RawClient, Row, environment, interleaved_medians
from warm import LiveCli

from agent_mcp.agents.claude._argv import build_argv
from agent_mcp.core.models import AgentOptions

GOAL_MS = 2.0


class LiveDouble(LiveCli):
    """The floor's process: the double in place of the real CLI, fed and read as LiveCli does."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        argv = build_argv(str(DOUBLE), "floor", "answers", AgentOptions(), None)
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)  # fmt: skip


def share_medians(env: dict[str, str], work: Path, rounds: int) -> dict[str, float]:
    client, live = RawClient(env), LiveDouble(env, work)
    client.call("create_agent", name="bench", role="answers", cwd=str(work))
    client.call("send_message", agent="bench", message="warm up")
    live.turn("warm up")

    def floor(message: str) -> None:
        live.turn(message)
        client.call("list_agents")

    medians = interleaved_medians(
        {"ours": lambda message: client.call("send_message", agent="bench", message=message), "floor": floor},
        rounds,
    )
    client.close()
    live.close()
    return medians


async def pool_share(tmp: Path, rounds: int, quick: bool) -> Row:
    work = tmp / "work"
    work.mkdir()
    ms = await anyio.to_thread.run_sync(share_medians, environment(tmp), work, rounds)
    share = ms["ours"] - ms["floor"]
    return Row("the pool's share of a warm message: send_message less the floor (baseline: the floor, a live "
               "double fed the turn on its stdin plus one list_agents round trip)", share, ms["floor"], "ms",
               f"< {GOAL_MS:g} ms", None if quick else share < GOAL_MS,
               f"send_message to the warm agent: {ms['ours']:.1f} ms")  # fmt: skip
