"""agent-mcp: an MCP server that runs a pool of Claude Code agents as tools."""

__version__ = "0.1.0"
