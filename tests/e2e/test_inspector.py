"""The MCP Inspector's CLI mode (tests/clients, from the npm registry) driving agent-mcp, in the
legacy protocol era and the modern one. Each Inspector call starts its own server; the store
carries the agents from one call to the next, as it does across a user's client restarts."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import MARK
from helpers import AGENT_MCP, real_client

PASSED = ("HOME", "PATH", "AGENT_MCP_STATE_DIR", "AGENT_MCP_CLAUDE_BIN", "ANTHROPIC_API_KEY", MARK)


@pytest.fixture
def inspector(claude_env):
    inspector_bin = real_client("mcp-inspector", "the MCP Inspector")

    def run(era: str, method: str, *args: str, tool_error: bool = False) -> dict:
        env_flags = [flag for name in PASSED for flag in ("-e", f"{name}={claude_env[name]}")]
        command = [str(inspector_bin), "--cli", "-q", "--format", "json", "--protocol-era", era, *env_flags, AGENT_MCP]
        done = subprocess.run(
            [*command, "--method", method, *args], capture_output=True, text=True, timeout=120, env=claude_env
        )
        # With --format json the Inspector exits 5 when the tool answered isError: true.
        assert done.returncode == (5 if tool_error else 0), done.stderr
        return json.loads(done.stdout)["result"]

    return run


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_list_create_list_send_through_the_inspector(tmp_path, inspector, no_leaks, era):
    tools = inspector(era, "tools/list")["tools"]
    assert {"create_agent", "list_agents", "send_message", "start_message", "get_run"} <= {t["name"] for t in tools}
    assert all(t.get("outputSchema") for t in tools)

    created = inspector(era, "tools/call", "--tool-name", "create_agent", "--tool-arg", "name=dev", "role=tester",
                        f"cwd={tmp_path}")  # fmt: skip
    assert created["isError"] is False and created["structuredContent"]["name"] == "dev"

    listed = inspector(era, "tools/call", "--tool-name", "list_agents")
    assert [a["name"] for a in listed["structuredContent"]["agents"]] == ["dev"]

    sent = inspector(era, "tools/call", "--tool-name", "send_message", "--tool-args-json",
                     json.dumps({"agent": "dev", "message": "--hello from the inspector"}))  # fmt: skip
    reply = sent["structuredContent"]
    assert sent["isError"] is False
    assert reply["text"] == "Mock reply #1. Last user text tail: --hello from the inspector"

    again = inspector(era, "tools/call", "--tool-name", "send_message", "--tool-arg", "agent=dev", "message=again")
    assert again["structuredContent"]["session_id"] == reply["session_id"]

    bad = inspector(
        era, "tools/call", "--tool-name", "send_message", "--tool-arg", "agent=ghost", "message=x", tool_error=True
    )
    assert bad["isError"] is True and "no agent named 'ghost'" in bad["content"][0]["text"]
