"""get_transcript through the SDK's client: a run's steps, and the same after the server restarts."""

from __future__ import annotations

import pytest
from helpers import connect, ok, refused

pytestmark = pytest.mark.anyio


async def test_a_finished_runs_transcript_after_a_restart(tmp_path, claude_env, no_leaks):
    async with connect(claude_env) as client:
        await ok(client, "create_agent", name="dev", role="r", cwd=str(tmp_path))
        reply = await ok(client, "send_message", agent="dev", message="MOCK_TOOL")
        before = await ok(client, "get_transcript", run_id=reply["run_id"])
    async with connect(claude_env) as client:
        after = await ok(client, "get_transcript", run_id=reply["run_id"])
        text = await refused(client, "get_transcript", run_id=reply["run_id"], after=-1)
    assert after == before and after["status"] == "done"
    assert [e["kind"] for e in after["events"]] == ["text", "tool_use", "tool_result", "text"]
    assert after["events"][1]["summary"] == "Bash: echo hi-from-tool" and after["next"] == 4
    assert "content" not in after["events"][1] or after["events"][1]["content"]  # lean: no empty content
    assert text.startswith("[invalid_input] after must be 0")
