"""Long replies by reference: cut to head and tail in every result, whole in the store, readable as
a resource and page by page through get_run."""

from __future__ import annotations

import pytest
from conftest import DOUBLE
from fake_claude import big_text
from mcp import Client, MCPError

from agent_mcp.core.config import Settings
from agent_mcp.core.models import AgentOptions, AgentResponse, RunInfo
from agent_mcp.pool.replies import clip, read_reply
from agent_mcp.server.tools import build_server

pytestmark = pytest.mark.anyio

LIMIT = 1000


def response(text: str) -> AgentResponse:
    return AgentResponse(
        agent="a", run_id="r1", text=text, session_id=None, model=None, api_key_source=None, cost_usd=0,
        input_tokens=0, output_tokens=0, cache_creation_input_tokens=0, cache_read_input_tokens=0,
        duration_ms=None, num_turns=None, is_error=False, error=None, subtype="success",
    )  # fmt: skip


def test_a_reply_within_the_limit_is_left_whole():
    short = response("a" * LIMIT)
    assert clip(short, LIMIT) is short


def test_a_long_reply_keeps_its_head_and_tail_and_says_how_to_read_the_rest():
    text = "".join(f"{i:05d}" for i in range(4000))  # 20,000 characters, each position recognisable
    cut = clip(response(text), LIMIT)
    assert cut.text_truncated and cut.text_chars == len(text)
    head, note, tail = cut.text[:750], cut.text[750:-250], cut.text[-250:]
    assert head == text[:750] and tail == text[-250:]
    assert "19000 of 20000 characters left out" in note and "agent-mcp://runs/r1/reply" in note
    assert "text_offset" in note


class NoReplies:
    """A store without a replies row: the reply is held whole in its response."""

    def reply_page(self, run_id: str, offset: int, limit: int) -> None:
        return None


def test_pages_cover_a_reply_held_whole_exactly():
    """A reply kept whole in the store is paged from there (tests/test_trust_reply_pages.py)."""
    text = "".join(chr(0x41 + i % 26) for i in range(2500)) + "é😀"

    def paged(whole: str, offset: int) -> AgentResponse:
        info = RunInfo(
            run_id="r1", agent="a", status="done", position=0, message="m", queued_at="t", started_at=None,
            finished_at=None, response=response(whole), error=None, error_kind=None,
        )  # fmt: skip
        paged = read_reply(NoReplies(), info, offset, LIMIT).response  # type: ignore[arg-type]
        assert paged is not None
        return paged

    pages = [paged(text, offset) for offset in range(0, len(text), LIMIT)]
    assert "".join(p.text for p in pages) == text
    assert all(p.text_truncated and p.text_chars == len(text) for p in pages)
    assert paged("short", 0).text_truncated is False


@pytest.mark.parametrize(
    ("size", "words"),
    [(50_000, ""), (300_000, ""), (300_000, "MOCK_MIXED")],  # the longer ones are never held whole (long_strings.py)
)
async def test_a_long_reply_through_the_tools(size, words, tmp_path, claude_env, no_leaks):
    expected = big_text(size, words)
    server = build_server(
        Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state", max_reply_chars=LIMIT), claude_env
    )
    async with Client(server, mode="legacy") as client:
        await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(tmp_path)})
        sent = await client.call_tool("send_message", {"agent": "dev", "message": f"MOCK_BIGLINE={size} {words}"})
        reply = sent.structured_content
        assert reply["text_truncated"] is True and reply["text_chars"] == size
        assert len(reply["text"]) < LIMIT + 300
        [link] = [c for c in sent.content if c.type == "resource_link"]
        assert str(link.uri) == f"agent-mcp://runs/{reply['run_id']}/reply" and link.size == size

        whole = await client.read_resource(str(link.uri))
        assert whole.contents[0].text == expected

        run = await client.call_tool("get_run", {"run_id": reply["run_id"]})
        assert run.structured_content["response"]["text"] == reply["text"]
        window = await client.call_tool("get_run", {"run_id": reply["run_id"], "text_offset": size - 500})
        assert window.structured_content["response"]["text"] == expected[-500:]
        assert reply["text"].startswith(expected[:100]) and reply["text"].endswith(expected[-100:])
        history = await client.call_tool("get_history", {"agent": "dev"})
        assert history.structured_content["runs"][0]["response"]["text_truncated"] is True

        refused = await client.call_tool("get_run", {"run_id": reply["run_id"], "text_offset": 0, "text_limit": 5000})
        assert refused.is_error and "AGENT_MCP_MAX_REPLY_CHARS / --max-reply-chars" in refused.content[0].text
        with pytest.raises(MCPError, match=r"\[unknown_run\] no run with id 'nope'"):
            await client.read_resource("agent-mcp://runs/nope/reply")


@pytest.mark.parametrize("size", [30_000, 300_000])  # held whole in one read, or too long to hold
async def test_a_long_answer_is_always_kept_whole_in_the_store_and_cut_in_the_response(
    size, make_pool, tmp_path, claude_env, no_leaks
):
    """The same answer is never cut one time and whole the next (it depends on how the bytes arrive)."""
    pool = await make_pool(claude_env)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    reply = await pool.send("dev", f"MOCK_BIGLINE={size}")
    assert reply.text_truncated and reply.text_chars == size and len(reply.text) < 21_000
    assert reply.run_id and pool.store.replies.whole(reply.run_id) == "x" * size
    short = await pool.send("dev", "short")
    assert not short.text_truncated and short.run_id and pool.store.replies.whole(short.run_id) is None
