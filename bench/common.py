"""What every benchmark module shares: the paths, the row each figure makes, the server's environment,
the raw stdio client, the PTY floor and the interleaved timing. It imports no benchmark, so the
benchmarks import it and never each other."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptyprocess import PtyProcess

ROOT = Path(__file__).resolve().parents[1]
DOUBLE = ROOT / "tests" / "fake_claude.py"
AGENT_MCP = str(Path(sys.executable).parent / "agent-mcp")
MB = 1024 * 1024


@dataclass
class Row:
    name: str
    ours: float
    baseline: float
    unit: str
    goal: str
    met: bool | None
    """None when the goal is not judged (quick mode) or the baseline could not run."""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")


def environment(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_MCP_", "ANTHROPIC_", "CLAUDE"))}
    return {
        **keep,
        "HOME": str(home),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), keep.get("PATH", "")]),
        "ANTHROPIC_API_KEY": "sk-ant-api03-dummy",
        "AGENT_MCP_CLAUDE_BIN": str(DOUBLE),
        "AGENT_MCP_STATE_DIR": str(tmp / "state"),
        "AGENT_MCP_LOG_LEVEL": "WARNING",
    }


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


def feed_and_drain(stdin_fd: int, stdin: bytes, terminal: int) -> int:
    """Write the prompt and close the child's stdin, then read the terminal to its end: the bytes read."""
    os.write(stdin_fd, stdin)
    os.close(stdin_fd)
    total = 0
    while True:
        try:
            chunk = os.read(terminal, 1 << 16)
        except OSError:  # EIO: the terminal's last holder closed it
            break
        if not chunk:
            break
        total += len(chunk)
    return total


def run_under_pty(argv: list[str], cwd: str, env: dict[str, str], stdin: bytes) -> int:
    """The floor: one process under a PTY with its prompt on a pipe, read to the end, reaped."""
    read_end, write_end = os.pipe()

    def child() -> None:
        os.dup2(read_end, 0)

    process = PtyProcess.spawn(argv, cwd=cwd, env=env, preexec_fn=child, pass_fds=(read_end,))
    os.close(read_end)
    total = feed_and_drain(write_end, stdin, process.fd)
    if process.wait() != 0:  # a baseline that failed would time its error, not the work
        raise RuntimeError(f"{argv[0]} exited with {process.exitstatus} under the PTY")
    process.delayafterclose = 0  # ptyprocess sleeps 0.1 s in close() by default, which is no work
    process.close()
    return total


def interleaved_medians(contenders: dict[str, Callable[[str], object]], rounds: int) -> dict[str, float]:
    """Each contender once per round, in turn, so drift hits all alike; the median ms of each. A
    contender gets the round's message, different in every round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(rounds):
        for name, action in contenders.items():
            start = time.perf_counter()
            action(f"m{i}")
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(taken) * 1000 for name, taken in times.items()}


def round_trip_medians(client: RawClient, agents: tuple[str, ...], rounds: int) -> dict[str, float]:
    """Each agent's send_message round trip through one server, the agents in turn (interleaved_medians)."""
    return interleaved_medians(
        {name: (lambda message, name=name: client.call("send_message", agent=name, message=message))
         for name in agents},
        rounds,
    )  # fmt: skip


class RawClient:
    """A minimal JSON-RPC client over the server's stdio (writing a line, reading a line), so that a
    figure is the server's own: the SDK's Python client adds its work on top, chiefly validating
    structuredContent against the outputSchema with jsonschema (about 1 ms per listed agent)."""

    def __init__(self, env: dict[str, str], command: tuple[str, ...] = (AGENT_MCP,)) -> None:
        self.process = subprocess.Popen(list(command), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        self._ids = iter(range(1, 10**9))
        self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                    "clientInfo": {"name": "bench", "version": "1"}})  # fmt: skip
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _send(self, payload: dict[str, Any]) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(payload).encode() + b"\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> bytes:
        assert self.process.stdout
        self._send({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        return self.process.stdout.readline()

    def call(self, tool: str, **arguments: Any) -> bytes:
        line = self.request("tools/call", {"name": tool, "arguments": arguments})
        if b'"isError":true' in line:
            raise RuntimeError(f"{tool} failed: {line[:500]!r}")
        return line

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait()
