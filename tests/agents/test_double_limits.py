"""The double's usage limits held to the real CLI's (2.1.332 against the mock API's Account, captures
42 to 48): the same events in the same order, the same rate_limit_info fields, the synthetic message's
error and the result's, and the exit code, for each state of the account (fake_account.json)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DOUBLE

FIXTURES = Path(__file__).parents[1] / "fixtures"
CASES = {case["name"]: case for case in json.loads((FIXTURES / "INDEX.json").read_text())}


def shape(lines: list[dict]) -> list[tuple]:
    """What must agree: each event's type, a rate_limit_event's fields and status, the synthetic
    message's error, the result's error fields (the allowed report of a turn's first call, which the
    double writes at the end of a reply rather than after that call, left out)."""
    out: list[tuple] = []
    for event in lines:
        kind = event["type"]
        if kind == "rate_limit_event":
            info = event["rate_limit_info"]
            if info["status"] == "allowed":
                continue
            fields = sorted(k for k in info if k not in ("unifiedWindows",))
            out.append((kind, info["status"], info.get("rateLimitType"), tuple(fields)))
        elif kind == "assistant":
            out.append((kind, event["message"]["model"] == "<synthetic>", event.get("error")))
        elif kind == "result":
            out.append((kind, event["is_error"], event.get("api_error_status")))
        else:
            out.append((kind, event.get("subtype")))
    return out


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("name", "state", "prompt"),
    [
        ("42_oauth_limit_rejected", {"rejected_until": 60}, "hello"),
        ("43_oauth_limit_rejected_second_call", {"rejected_until": 60, "requests_left": 1}, "MOCK_TOOL"),
        ("46_oauth_limit_rejected_reset_in_past", {"rejected_until": 60, "resets_at": -60}, "hello"),
        ("47_oauth_limit_rejected_no_reset", {"rejected_until": None}, "hello"),
        ("48_oauth_limit_seven_day_rejected", {"rejected_until": 3 * 86400, "window": "seven_day"}, "hello"),
    ],
)
def test_the_double_s_usage_limit_is_the_cli_s(name, state, prompt, tmp_path):
    case = CASES[name]
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    state = {k: time.time() + v if k in ("rejected_until", "resets_at") and v is not None else v
             for k, v in state.items()}  # fmt: skip
    (home / ".claude" / "fake_account.json").write_text(json.dumps(state))
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-dummy"}
    done = subprocess.run(
        [sys.executable, str(DOUBLE), "-p", "--output-format", "stream-json", "--verbose", "--", prompt],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30,
    )  # fmt: skip
    captured = events((FIXTURES / f"{name}.stdout").read_text())
    assert done.returncode == case["exit_code"]
    assert shape(events(done.stdout)) == shape(captured)
