"""The tools' public shape: what `tools/list` says stays what clients were built against.

tests/fixtures/tools_list.json was taken from the server before the house was re-laid; any change
to a schema, a hint or a title must be made on purpose (regenerate the file and say why). Tool
descriptions come from docstrings, so they are compared with their whitespace collapsed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mcp import Client

from agent_mcp.core.config import Settings
from agent_mcp.server.tools import build_server

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parents[1] / "fixtures" / "tools_list.json"


def _normalised(tools: list[dict]) -> list[dict]:
    return [{**tool, "description": re.sub(r"\s+", " ", tool.get("description", "")).strip()} for tool in tools]


async def test_tools_list_matches_the_snapshot(tmp_path):
    server = build_server(Settings(state_dir=tmp_path / "state"))
    async with Client(server, mode="legacy") as client:
        listed = await client.list_tools()
    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
    expected = json.loads(SNAPSHOT.read_text())
    assert [t["name"] for t in tools] == [t["name"] for t in expected]
    for got, want in zip(_normalised(tools), _normalised(expected), strict=True):
        assert got == want, got["name"]
