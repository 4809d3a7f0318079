"""Reads by reference, and numbers as a client writes them on the wire (issue 27, points 8 and 9).

The attacks: one 32 MiB reply read by reference raised the server from 79 to 208 MiB, four readers at
once to 324 MiB; and a request's numbers may be JSON no Python client writes (NaN, Infinity, 1e400,
5,000 digits). The server is the installed command, measured as a process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import AGENT_MCP, MIB, connect, ok, server_pid
from mcp import MCPError

pytestmark = [pytest.mark.anyio, pytest.mark.attack]

REPLY_CHARS = 32 * MIB
PAGE_CHARS = 256 * 1024
READERS = 4


def memory_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


async def test_four_readers_of_a_32_mib_reply_raise_the_server_by_at_most_32_mib(tmp_path, claude_env, no_leaks):
    """Each reader reads the whole reply by reference, page after page with get_run, and asks for it
    whole as the resource (refused over --max-resource-chars, with the way to page it)."""
    async with connect(claude_env, "--max-reply-chars", str(PAGE_CHARS)) as client:
        await ok(client, "create_agent", name="big", role="r", cwd=str(tmp_path))
        pid = server_pid(claude_env)
        run = await ok(client, "start_message", agent="big", message=f"MOCK_BIGLINE={REPLY_CHARS}")
        done = await ok(client, "get_run", run_id=run["run_id"], wait_s=120)
        assert done["response"]["text_chars"] == REPLY_CHARS
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak from here on
        before = memory_mib(pid, "VmRSS")
        read: list[int] = []

        async def reader() -> None:
            with pytest.raises(MCPError, match=r"\[policy\] the reply of run .* over the 1000000 this resource"):
                await client.read_resource(f"agent-mcp://runs/{run['run_id']}/reply")
            offset = 0
            while offset < REPLY_CHARS:
                page = await ok(client, "get_run", run_id=run["run_id"], text_offset=offset)
                text = page["response"]["text"]
                assert text == "x" * min(PAGE_CHARS, REPLY_CHARS - offset)
                offset += len(text)
            read.append(offset)

        with anyio.fail_after(300):
            async with anyio.create_task_group() as readers:
                for _ in range(READERS):
                    readers.start_soon(reader)
        rise = memory_mib(pid, "VmHWM") - before
    assert read == [REPLY_CHARS] * READERS
    print(f"{READERS} readers of a {REPLY_CHARS // MIB} MiB reply: the server rose {rise:.1f} MiB from {before:.0f}")
    assert rise <= REPLY_CHARS / MIB, f"the server rose {rise:.0f} MiB (from {before:.0f} MiB)"


class Wire:
    """The installed server over stdio, written to line by line as any JSON-RPC client could."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [AGENT_MCP], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.ids = iter(range(1, 10**6))
        self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}})
        self.send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')

    def send(self, line: str) -> None:
        assert self.process.stdin
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.process.stdout
        return dict(json.loads(self.process.stdout.readline()))

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.send(json.dumps({"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}))
        return self.answer()

    def call_raw(self, tool: str, arguments: str) -> dict[str, Any]:
        """arguments: the JSON text of the arguments object, written as given."""
        self.send(f'{{"jsonrpc": "2.0", "id": {next(self.ids)}, "method": "tools/call", "params": '
                  f'{{"name": "{tool}", "arguments": {arguments}}}}}')  # fmt: skip
        return self.answer()

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait(timeout=30)


INTEGERS_OUT_OF_RANGE = ["1" + "0" * 19, "9" * 4000, "-" + "9" * 4000]
"""10**19 overflows SQLite's integers; a JSON number of 4,000 digits is read whole (the SDK's parser
drops a request with a longer one unanswered, before any tool sees it)."""
NOT_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
"""Not JSON, but the SDK's parser takes them as floats."""


def test_numbers_no_python_client_writes_are_refused_on_the_wire(tmp_path, claude_env, no_leaks):
    """Each argument that takes a number gets each: every answer is a refusal that names the
    problem, never [internal] (a float argument takes 10**19 as seconds or dollars, so it gets only
    the numbers that are not finite, and 1.5 or 10**19 for an integer)."""
    wire = Wire(claude_env)
    try:
        created = wire.call_raw("create_agent", json.dumps({"name": "dev", "role": "r", "cwd": str(tmp_path)}))
        assert not created["result"].get("isError"), created
        sent = wire.call_raw("send_message", '{"agent": "dev", "message": "MOCK_BIGLINE=30000"}')
        run = json.dumps(sent["result"]["structuredContent"]["run_id"])
        cwd = json.dumps(str(tmp_path))
        integers = [
            ("get_transcript", f'"run_id": {run}, "after"'),
            ("get_transcript", f'"run_id": {run}, "limit"'),
            ("get_run", f'"run_id": {run}, "text_offset"'),
            ("get_run", f'"run_id": {run}, "message_limit"'),
            ("get_history", '"agent": "dev", "limit"'),
            ("list_agents", '"limit"'),
            ("create_agent", f'"name": "other", "role": "r", "cwd": {cwd}, "max_turns"'),
        ]
        floats = [
            ("get_run", f'"run_id": {run}, "wait_s"'),
            ("wait_runs", f'"run_ids": [{run}], "wait_s"'),
            ("send_message", '"agent": "dev", "message": "hi", "timeout_s"'),
            ("create_agent", f'"name": "other", "role": "r", "cwd": {cwd}, "max_budget_usd"'),
        ]
        attacks = [(tool, before, number) for tool, before in integers for number in INTEGERS_OUT_OF_RANGE + NOT_FINITE]
        attacks += [(tool, before, number) for tool, before in integers for number in ("1.5", "1e19", "true")]
        attacks += [(tool, before, number) for tool, before in floats for number in [*NOT_FINITE, "-1", "true"]]
        for tool, before, number in attacks:
            result = wire.call_raw(tool, f"{{{before}: {number}}}")["result"]
            text = result["content"][0]["text"] if result["content"] else ""
            assert result.get("isError") and text.startswith("[invalid_input] "), (tool, number[:20], text[:300])
        listed = wire.request("tools/call", {"name": "list_agents", "arguments": {}})
        assert [a["name"] for a in listed["result"]["structuredContent"]["agents"]] == ["dev"]
    finally:
        wire.close()
