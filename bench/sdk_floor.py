"""The MCP SDK's own cost of a list_agents result: a stdio server whose only work is to return a
prebuilt result (read from the file named by its argument) with list_agents' output schema.
bench/run.py measures it next to agent-mcp, on the same agents."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent

from agent_mcp.core.models import AgentList

text = Path(sys.argv[1]).read_text()
result = CallToolResult(content=[TextContent(type="text", text=text)], structured_content=json.loads(text))
server = MCPServer("sdk-floor")


@server.tool()
async def list_agents() -> AgentList:
    return result  # type: ignore[return-value]


server.run()
