"""The benchmark still works: its quick mode runs every figure (times are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "bench" / "run.py"


def test_quick_benchmark_runs_every_figure():
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine: ") and "quick mode" in lines[0]
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| benchmark")]
    names = " ".join(rows)
    for figure in ("round trip", "claude-code-mcp", "1-second job", "time to the result", "peak server memory",
                   "cold start", "list_agents latency", "server memory", "warm agent", "the real CLI",
                   "tools printing", "remote agent round trip", "agents over two hosts",
                   "read whole by reference", "the pool's share", "sandboxed agent round trip"):  # fmt: skip
        assert figure in names, figure
    assert len(rows) == 20
