"""Memory stays bounded under the floods found in the attack: many large queued messages, large
replies, one run id named many times. Each limit that refuses a flood is tested in
tests/test_attacks.py; here the server is measured as a process (peak resident memory, VmHWM)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from helpers import MIB, connect, ok, refused, server_pid

pytestmark = [pytest.mark.anyio, pytest.mark.attack]

LIMIT_MIB = 300
REPLY_BYTES = 20 * MIB


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_full_queue_of_4_mib_messages_and_20_mib_replies_stay_under_300_mib(tmp_path, claude_env, no_leaks):
    big = "x" * (4 * MIB - 100)
    async with connect(claude_env, "--max-concurrent", "2") as client:
        await ok(client, "create_agent", name="flooded", role="r", cwd=str(tmp_path))
        await ok(client, "create_agent", name="talker", role="r", cwd=str(tmp_path))
        pid = server_pid(claude_env)
        blocker = await ok(client, "start_message", agent="flooded", message="MOCK_SLEEP=600")
        with anyio.fail_after(240):
            queued = [
                (await ok(client, "start_message", agent="flooded", message=f"{i} {big}"))["run_id"] for i in range(99)
            ]
            over = await refused(client, "start_message", agent="flooded", message=big)
            assert "AGENT_MCP_MAX_QUEUED / --max-queued" in over
            queued_peak = peak_rss_mib(pid)

            # Large replies, one after the other, each read back: cut in the result, whole in the store.
            for i in range(3):
                run = await ok(client, "start_message", agent="talker", message=f"{i} MOCK_BIGLINE={REPLY_BYTES} {big}")
                done = await ok(client, "get_run", run_id=run["run_id"], wait_s=120)
                assert done["status"] == "done" and done["response"]["text_chars"] == REPLY_BYTES
            # One run id named a thousand times is waited for and answered once.
            waited = await ok(client, "wait_runs", run_ids=[run["run_id"]] * 1000, wait_s=0)
            assert len(waited["runs"]) == 1
            peak = peak_rss_mib(pid)
            await ok(client, "delete_agent", name="flooded", force=True)
    assert blocker["status"] in ("queued", "running") and len(queued) == 99
    print(f"peak resident memory: {queued_peak:.0f} MiB with 99 queued 4 MiB messages, {peak:.0f} MiB overall")
    assert peak < LIMIT_MIB, f"the server peaked at {peak:.0f} MiB (queued flood alone: {queued_peak:.0f} MiB)"
