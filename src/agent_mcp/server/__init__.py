"""The MCP face: the tools (validate, translate, call the pool), refusals as `[kind]` tool errors,
elicitation of a person, progress notifications, the HTTP transport's sessions.

May import: the pool, web, and what lies below them. Nothing imports it but cli.
"""
