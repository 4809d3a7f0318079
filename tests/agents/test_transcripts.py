"""Run transcripts: each step of a run kept as it happens, paged for a model, bounded, and kept across
a restart; what an agent wrote is kept as data."""

from __future__ import annotations

import anyio
import pytest

from agent_mcp.agents.claude._transcript import entries_of
from agent_mcp.core.entries import CONTENT_CHARS
from agent_mcp.core.errors import InvalidInput, UnknownRun
from agent_mcp.core.models import AgentOptions

pytestmark = pytest.mark.anyio


async def test_a_tool_run_reads_step_by_step_and_pages(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    response = await pool.send("dev", "MOCK_THINK MOCK_TOOL <script>alert(1)</script>")
    page = pool.transcript(response.run_id, 0, 50)
    assert page.status == "done" and [e.seq for e in page.events] == list(range(1, len(page.events) + 1))
    kinds = [(e.kind, e.summary) for e in page.events]
    assert ("tool_use", "Bash: echo hi-from-tool") in kinds and ("tool_result", "hi-from-tool") in kinds
    assert kinds[-1][0] == "text" and "<script>alert(1)</script>" in page.events[-1].content  # kept as data
    first = pool.transcript(response.run_id, 0, 1)
    assert [e.seq for e in first.events] == [1] and first.next == 1
    rest = pool.transcript(response.run_id, first.next, 50)
    assert [e.seq for e in rest.events] == list(range(2, len(page.events) + 1))
    assert pool.transcript(response.run_id, page.next, 50).events == [] and page.next == len(page.events)


async def test_a_running_run_grows_its_transcript_live(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    run = await pool.start("dev", "MOCK_SLOW MOCK_TOOL")  # one event a second
    seen, after = [], 0
    with anyio.fail_after(30):
        while True:
            page = pool.transcript(run.run_id, after, 50)
            seen += [(page.status, e.kind) for e in page.events]
            after = page.next
            if page.status == "done":
                break
            await anyio.sleep(0.2)
    assert any(status == "running" for status, _ in seen)  # some came while it ran
    assert [kind for _, kind in seen][-1] == "text"


async def test_transcripts_are_bounded_and_outlive_the_server(make_pool, tmp_path, claude_env, no_leaks):
    state = tmp_path / "state"
    pool = await make_pool(claude_env, max_transcript_events=3, keep_runs=2, state_dir=state)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    first = await pool.send("dev", "MOCK_LOOP")  # five tool uses and results, then a reply
    events = pool.transcript(first.run_id, 0, 50).events
    assert [e.kind for e in events] == ["text", "tool_use", "cut"] and events[-1].chars >= 8
    assert events[-1].summary == f"{events[-1].chars} more events not kept"
    second = await pool.send("dev", "two")
    third = await pool.send("dev", "three")
    assert pool.transcript(first.run_id, 0, 50).events == []  # only the newest two runs keep theirs
    assert pool.get_run(first.run_id).status == "done"  # the run itself stays
    again = await make_pool(claude_env, state_dir=state)  # another server on the same store
    assert [e.kind for e in again.transcript(third.run_id, 0, 50).events] == ["text"]
    assert again.transcript(second.run_id, 0, 50).events != []


async def test_a_tools_output_nobody_awaited_is_noted_by_size(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    response = await pool.send("dev", f"MOCK_PRINT={3 << 20}")
    results = [e for e in pool.transcript(response.run_id, 0, 1000).events if e.kind == "tool_result"]
    assert len(results) == 3 and all("not kept: nothing awaited it" in e.summary for e in results)


async def test_bad_transcript_requests_are_refused(make_pool, tmp_path, claude_env, no_leaks):
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    response = await pool.send("dev", "hi")
    with pytest.raises(UnknownRun):
        pool.transcript("zzzzzzzzzzzz", 0, 50)
    with pytest.raises(InvalidInput, match="after must be 0"):
        pool.transcript(response.run_id, -1, 50)
    with pytest.raises(InvalidInput):
        pool.transcript(response.run_id, 0, 0)


def test_long_contents_are_cut_and_say_how_long_they_were():
    text = "y" * (CONTENT_CHARS + 5)
    event = {"type": "user", "message": {"content": [{"type": "tool_result", "content": text, "is_error": True}]}}
    [entry] = entries_of(event)
    assert (entry.kind, entry.chars, len(entry.content)) == ("tool_result", CONTENT_CHARS + 5, CONTENT_CHARS)
    assert entry.summary.startswith("error: yyy") and len(entry.summary) == 200


async def test_a_page_holds_about_16000_characters(make_pool, tmp_path, claude_env, no_leaks):
    from agent_mcp.core.rows import Entry

    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    run_id = (await pool.send("dev", "hi")).run_id
    await pool.store.events.add(run_id, "t", [Entry("text", "s", "z" * 7000, 0)] * 5, 2000)
    page = pool.transcript(run_id, 1, 50)  # after the reply's own event
    assert [e.seq for e in page.events] == [2, 3] and page.next == 3
    assert [e.seq for e in pool.transcript(run_id, page.next, 50).events] == [4, 5]
