"""What the model reads: the characters of structuredContent each result puts into the caller's context.

    .venv/bin/python bench/reads.py

Claude Code hands its model a tool's structuredContent as compact JSON, and does not pass on a result
over its limit (25,000 tokens) at all. Each figure is measured here through the installed `agent-mcp`
(stdio, the SDK's client) with the test double, beside the figure the issue measured before results
were made lean, and the goal.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).parent))
from common import AGENT_MCP, environment  # the same environment as the other benchmarks

AGENTS = 1000


def chars(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False))


async def measure(tmp: Path) -> list[tuple[str, int, str, int]]:
    env = environment(tmp)
    work = tmp / "work" / "project"
    work.mkdir(parents=True)
    params = StdioServerParameters(command=AGENT_MCP, env=env)
    async with Client(params, read_timeout_seconds=300) as client:

        async def call(tool: str, **arguments: Any) -> dict[str, Any]:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content[0].text
            return result.structured_content or {}

        created = await call("create_agent", name="reviewer", role="reviews the code for bugs", cwd=str(work))
        sent = await call("send_message", agent="reviewer", message="review src/ for bugs")
        for i in range(10):
            await call("send_message", agent="reviewer", message=f"MOCK_BIGLINE=1024 {i} " + "m" * 1000)
        history = await call("get_history", agent="reviewer")
        for i in range(AGENTS - 1):
            await call("create_agent", name=f"agent-{i:04d}", role="a role of some length " * 4, cwd=str(work))
        listing = await call("list_agents")
    assert listing["total"] == AGENTS
    subscription = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"} | {
        "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-x"
    }
    async with Client(StdioServerParameters(command=AGENT_MCP, env=subscription), read_timeout_seconds=300) as client:
        result = await client.call_tool("send_message", {"agent": "reviewer", "message": "review src/ for bugs"})
        oauth = result.structured_content or {}
    return [
        ("create_agent", chars(created), "546", 300),
        ("send_message, less the reply text", chars(sent) - len(sent["text"]), "483", 400),
        ("send_message of a subscription login, less the reply text", chars(oauth) - len(oauth["text"]), "444", 400),
        (f"list_agents, default page over {AGENTS:,} agents", chars(listing), "669,000 (every agent)", 16_000),
        ("get_history, a page of 10 runs with 1 KB messages and replies", chars(history), "about 27,000", 12_000),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = anyio.run(measure, Path(tmp))
    print("| result | characters now | before | goal | met |")
    print("|---|---|---|---|---|")
    for name, now, before, goal in rows:
        print(f"| {name} | {now:,} | {before} | <= {goal:,} | {'yes' if now <= goal else '**no**'} |")


if __name__ == "__main__":
    main()
