"""The command line a user types, and the client configuration the README hands out."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import AGENT_MCP
from mcp import Client, StdioServerParameters

from agent_mcp.core.config import OPTIONS

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("command", [[AGENT_MCP], [sys.executable, "-m", "agent_mcp"]])
def test_help_lists_every_option_with_its_environment_variable(command):
    out = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True, timeout=60).stdout
    for option in OPTIONS:
        assert option.flag in out and option.env in out


@pytest.mark.parametrize(
    ("args", "env", "problem"),
    [
        (["--max-concurrent", "0"], {}, "--max-concurrent: must be a whole number of at least 1"),
        ([], {"AGENT_MCP_TIMEOUT": "soon"}, "AGENT_MCP_TIMEOUT"),
        (["--allowed-roots", "relative/dir"], {}, "is not an absolute path"),
        (["--no-such-flag"], {}, "unrecognized arguments"),
        (["--max-role-bytes", "200000"], {}, "more than one argument to the claude CLI can carry"),
    ],
)
def test_bad_options_stop_the_server_with_a_message(args, env, problem):
    done = subprocess.run(
        [AGENT_MCP, *args], capture_output=True, text=True, timeout=60, input="", env={**_base_env(), **env}
    )
    assert done.returncode == 2
    assert problem in done.stderr
    assert done.stdout == ""


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AGENT_MCP_")}


@pytest.mark.anyio
async def test_the_example_client_configuration_works(tmp_path, claude_env, no_leaks):
    block = json.loads((ROOT / "mcp.json.example").read_text())["mcpServers"]["agent-mcp"]
    assert block["command"] == "/ABS/agent-mcp"  # the placeholder the README tells users to replace
    params = StdioServerParameters(command=AGENT_MCP, args=block["args"], env={**claude_env, **block["env"]})
    async with Client(params, read_timeout_seconds=60) as client:
        created = await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(tmp_path)})
        reply = await client.call_tool("send_message", {"agent": "dev", "message": "hello"})
    assert not created.is_error
    assert reply.structured_content["text"] == "Mock reply #1. Last user text tail: hello"


INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},'
    b'"clientInfo":{"name":"t","version":"1"}}}\n'
)


def test_a_client_that_goes_away_ends_the_server_quietly(tmp_path):
    """Its stdin closed, or its end of stdout closed with a reply on its way: exit 0, no traceback."""
    env = {**_base_env(), "AGENT_MCP_STATE_DIR": str(tmp_path / "state")}
    closed_stdin = subprocess.run([AGENT_MCP], input=INITIALIZE, capture_output=True, timeout=60, env=env)
    assert closed_stdin.returncode == 0 and b"Traceback" not in closed_stdin.stderr

    server = subprocess.Popen(
        [AGENT_MCP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert server.stdin and server.stdout and server.stderr
    server.stdin.write(INITIALIZE)
    server.stdin.flush()
    server.stdout.readline()
    server.stdout.close()  # the client is going: the next reply cannot be written
    server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    server.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n')
    server.stdin.flush()
    time.sleep(0.5)
    server.stdin.close()  # and gone
    assert server.wait(30) == 0
    stderr = server.stderr.read()
    server.stderr.close()
    assert b"Traceback" not in stderr, stderr.decode()[-2000:]
