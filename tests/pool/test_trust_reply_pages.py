"""Reads by reference never hold the whole text (issue 27, point 9), and a cut message says so
(point 11). The server's resident memory under four readers of a 32 MiB reply is measured in
tests/e2e/test_trust_reads.py; here, what a page read allocates, and that pages are exact."""

from __future__ import annotations

import random
import sqlite3
import tracemalloc

import pytest
from conftest import DOUBLE
from fake_claude import big_text
from mcp import Client, MCPError

from agent_mcp.core import long_strings
from agent_mcp.core.config import Settings
from agent_mcp.core.long_strings import StoredText
from agent_mcp.core.models import AgentOptions
from agent_mcp.core.rows import MESSAGE_PREVIEW
from agent_mcp.server.tools import build_server

pytestmark = pytest.mark.anyio

LIMIT = 1000
MIB = 1024 * 1024


def stored(text: str) -> StoredText:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (b BLOB)")
    db.execute("INSERT INTO t VALUES (?)", (text.encode("utf-8", "surrogatepass"),))
    return StoredText(db.blobopen("t", "b", 1, readonly=True))


@pytest.mark.parametrize("mark_bytes", [1, 2, 3, 5, 7, 64, 1 << 20])
def test_pages_are_exact_wherever_a_block_cuts_a_character(mark_bytes, monkeypatch):
    """Characters of one to four bytes, a lone surrogate (kept as the JSON gave it), and blocks of
    every small size, so that a block starts inside each kind of character."""
    monkeypatch.setattr(long_strings, "MARK_BYTES", mark_bytes)
    alphabet = ["a", "é", "€", "😀", "\ud800", "\n", '"']
    rng = random.Random(mark_bytes)
    text = "".join(rng.choice(alphabet) for _ in range(3000))
    reader = stored(text)
    assert reader.chars == len(text)
    for _ in range(300):
        offset, limit = rng.randrange(len(text) + 1), rng.randrange(1, 200)
        assert reader.page(offset, limit) == text[offset : offset + limit]
    assert "".join(reader.page(o, 100) for o in range(0, len(text), 100)) == text
    assert reader.page(len(text), 10) == "" and reader.page(len(text) + 5, 10) == ""


@pytest.mark.attack
@pytest.mark.parametrize("words", ["", "MOCK_MIXED"])
async def test_a_page_of_a_16_mib_reply_reads_a_block_not_the_reply(words, make_pool, tmp_path, claude_env, no_leaks):
    """The attack read a 32 MiB reply by reference and the server took in the whole (130 MiB per
    reader). A page now reads the block its start is in: what Python allocates for it stays within a
    few MiB, once the reply's index is made (one pass, a block at a time)."""
    size = 16 * MIB
    pool = await make_pool(claude_env, max_reply_chars=LIMIT)
    await pool.create("dev", "r", str(tmp_path), AgentOptions())
    reply = await pool.send("dev", f"MOCK_BIGLINE={size} {words}")
    assert reply.run_id and reply.text_chars == size
    expected = big_text(size, words)
    tracemalloc.start()
    try:
        for offset in (0, size // 2, size - 10, size):
            part, chars = pool.store.replies.page(reply.run_id, offset, LIMIT) or ("", 0)
            assert part == expected[offset : offset + LIMIT] and chars == size
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB, f"a page read allocated {peak / MIB:.1f} MiB"


async def test_a_reply_read_page_by_page_through_get_run_is_the_reply(tmp_path, claude_env, no_leaks):
    size = 300_000
    expected = big_text(size, "MOCK_MIXED")
    settings = Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state", max_reply_chars=50_000)
    async with Client(build_server(settings, claude_env), mode="legacy") as client:
        await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(tmp_path)})
        sent = await client.call_tool("send_message", {"agent": "dev", "message": f"MOCK_BIGLINE={size} MOCK_MIXED"})
        run_id = sent.structured_content["run_id"]
        pages = []
        for offset in range(0, size, 50_000):
            result = await client.call_tool("get_run", {"run_id": run_id, "text_offset": offset})
            response = result.structured_content["response"]
            assert response["text_chars"] == size and response["text_truncated"] is True  # each a part
            pages.append(response["text"])
        assert "".join(pages) == expected


@pytest.mark.attack
async def test_the_resource_gives_a_reply_whole_only_up_to_its_limit(tmp_path, claude_env, no_leaks):
    """Read whole, a reply costs the server several times its size per reader (the SDK holds the text,
    its JSON and the bytes written), so a longer one is refused with the way to read it in pages, and
    results carry no link to it."""
    settings = Settings(
        claude_bin=str(DOUBLE), state_dir=tmp_path / "state", max_reply_chars=LIMIT, max_resource_chars=5000
    )
    async with Client(build_server(settings, claude_env), mode="legacy") as client:
        await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(tmp_path)})
        within = await client.call_tool("send_message", {"agent": "dev", "message": "MOCK_BIGLINE=5000"})
        over = await client.call_tool("send_message", {"agent": "dev", "message": "MOCK_BIGLINE=5001"})
        [link] = [c for c in within.content if c.type == "resource_link"]
        assert (await client.read_resource(str(link.uri))).contents[0].text == "x" * 5000
        assert not [c for c in over.content if c.type == "resource_link"]
        uri = f"agent-mcp://runs/{over.structured_content['run_id']}/reply"
        with pytest.raises(MCPError, match=r"\[policy\] the reply of run .* is 5001 characters, over the 5000") as err:
            await client.read_resource(uri)
        assert "AGENT_MCP_MAX_RESOURCE_CHARS / --max-resource-chars" in str(err.value)
        assert "get_run(run_id, text_offset, text_limit)" in str(err.value)


@pytest.mark.attack
async def test_a_full_history_says_when_a_message_is_cut_and_get_run_reads_the_rest(tmp_path, claude_env, no_leaks):
    """get_history(full=true) gave the first 2,000 characters of a message as if they were all of it."""
    message = "".join(f"{i:05d} " for i in range(1000)) + "é😀 the end"
    settings = Settings(claude_bin=str(DOUBLE), state_dir=tmp_path / "state")
    async with Client(build_server(settings, claude_env), mode="legacy") as client:
        await client.call_tool("create_agent", {"name": "dev", "role": "r", "cwd": str(tmp_path)})
        await client.call_tool("send_message", {"agent": "dev", "message": message})
        await client.call_tool("send_message", {"agent": "dev", "message": "x" * MESSAGE_PREVIEW})  # whole
        history = (await client.call_tool("get_history", {"agent": "dev", "full": True})).structured_content
        whole, cut = history["runs"]
        assert len(whole["message"]) == MESSAGE_PREVIEW and "message_truncated" not in whole
        assert cut["message"] == message[:MESSAGE_PREVIEW]
        assert cut["message_truncated"] is True and cut["message_chars"] == len(message)
        run = (await client.call_tool("get_run", {"run_id": cut["run_id"]})).structured_content
        assert run["message_truncated"] is True and run["message_chars"] == len(message)
        [waited] = (await client.call_tool("wait_runs", {"run_ids": [cut["run_id"]]})).structured_content["runs"]
        assert waited["message_truncated"] is True and waited["message_chars"] == len(message)
        started = (await client.call_tool("start_message", {"agent": "dev", "message": message})).structured_content
        assert started["message_truncated"] is True and started["message_chars"] == len(message)
        await client.call_tool("wait_runs", {"run_ids": [started["run_id"]]})

        rest = []
        offset = MESSAGE_PREVIEW
        while offset < len(message):
            page = await client.call_tool(
                "get_run", {"run_id": cut["run_id"], "message_offset": offset, "message_limit": 1500}
            )
            info = page.structured_content
            assert info["message_chars"] == len(message) and len(info["message"]) <= 1500
            rest.append(info["message"])
            offset += len(info["message"])
        assert cut["message"] + "".join(rest) == message
