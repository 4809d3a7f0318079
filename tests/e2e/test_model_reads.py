"""What a coordinator's model reads: the real claude CLI as the client of agent-mcp (its model
scripted by the mock API), calling create_agent, send_message and list_agents over 1,000 agents.
The CLI's stream-json `user` events carry each tool_result as the model got it."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime

import pytest
from conftest import DOUBLE
from helpers import AGENT_MCP
from test_real_cli import QUIET, REAL_CLAUDE, real_env  # noqa: F401  (the fixture)

from agent_mcp.core.models import AgentOptions
from agent_mcp.core.rows import AgentRecord
from agent_mcp.store.database import Store
from agent_mcp.store.owners import owner_of

pytestmark = pytest.mark.anyio

TOOLS = ("create_agent", "send_message", "list_agents")


async def test_the_model_reads_lean_results_that_claude_code_passes_on(tmp_path, real_env, no_leaks):  # noqa: F811
    env, api = real_env
    state = tmp_path / "state"
    work = tmp_path / "work"
    work.mkdir()
    store = Store(state, owner_of(os.getpid()))
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    for i in range(999):  # and the coordinator's own: 1,000, the default limit
        await store.agents.add(AgentRecord(f"agent-{i:04d}", "a role of some length " * 4, str(work),
                                          AgentOptions(), created_at))  # fmt: skip
    store.close()
    server = {
        "command": AGENT_MCP,
        "env": {"AGENT_MCP_CLAUDE_BIN": str(DOUBLE), "AGENT_MCP_STATE_DIR": str(state), "HOME": env["HOME"],
                "ANTHROPIC_API_KEY": "sk-ant-api03-dummy"},
    }  # fmt: skip
    api.script = [
        ("mcp__agent-mcp__create_agent", {"name": "reviewer", "role": "reviews code", "cwd": str(work)}),
        ("mcp__agent-mcp__send_message", {"agent": "reviewer", "message": "review src/ for bugs"}),
        ("mcp__agent-mcp__list_agents", {}),
    ]
    done = subprocess.run(
        [str(REAL_CLAUDE), "-p", "--output-format=stream-json", "--verbose", "--strict-mcp-config",
         f"--mcp-config={json.dumps({'mcpServers': {'agent-mcp': server}})}",
         "--allowedTools=" + ",".join(f"mcp__agent-mcp__{tool}" for tool in TOOLS)],
        input="coordinate the agents", capture_output=True, text=True, timeout=180, cwd=work, env={**env, **QUIET},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = []
    for line in done.stdout.splitlines():
        event = json.loads(line)
        if event.get("type") != "user":
            continue
        for block in event["message"]["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block["content"]
                results.append(content if isinstance(content, str) else "".join(c.get("text", "") for c in content))
    assert len(results) == 3 and api.script == [], done.stdout[-3000:]
    for text in results:
        assert "<persisted-output>" not in text and "exceeds maximum allowed tokens" not in text, text[:500]
    created, sent, listed = (json.loads(text) for text in results)
    assert created["name"] == "reviewer" and "permission_mode" not in created  # lean
    assert sent["text"].startswith("Mock reply #1") and "error_kind" not in sent
    assert listed["total"] == 1000 and len(listed["agents"]) == 50 and listed["next_cursor"]
    # measured as with a project at a path of usual length, not pytest's long temporary one
    sizes = {tool: len(text.replace(str(work), "/home/me/project")) for tool, text in zip(TOOLS, results, strict=True)}
    print("what the model read (characters):", sizes)
    assert sizes["create_agent"] <= 300 and sizes["list_agents"] <= 16_000
