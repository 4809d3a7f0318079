"""Every refusal in one shape: a tool error whose text starts with "[<kind>] ".

Our errors carry a message meant for the caller (often a model deciding its next call); the SDK
would put "Error executing tool …" before it, hide any other exception's text, and drop an unknown
argument without a word. So tools are wrapped (translating_errors), and the server checks arguments
before the SDK validates them (CheckingServer).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import ValidationError

from agent_mcp.core.errors import AgentMCPError, RunFailed
from agent_mcp.pool.pool import AgentPool

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def translating_errors(
    tool: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R | CallToolResult]]:
    """Our errors carry a message meant for the caller; the SDK would hide any other exception's.
    A run that failed without a result is a tool error whose text starts with "[<error_kind>] " for
    programs to branch on, which a ToolError cannot give (the SDK puts "Error executing tool …"
    before its message)."""

    @functools.wraps(tool)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> R | CallToolResult:
        try:
            return await tool(*args, **kwargs)
        except RunFailed as failure:
            return _refusal(str(failure))
        except AgentMCPError as exc:
            return _refusal(f"[{exc.kind}] {exc}")
        except Exception as exc:  # a bug of ours: say so in the one shape, keep serving
            log.exception("%s failed", tool.__name__)
            return _refusal(
                f"[internal] {tool.__name__} failed: {type(exc).__name__}: {exc}. This is a bug in agent-mcp "
                "(the server's log on stderr has the traceback); the server keeps serving, so try again or "
                "report it"
            )

    return translated


def _refusal(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


class CheckingServer(MCPServer[AgentPool]):
    """The SDK's server, with arguments checked before its own validation: an unknown argument (a
    misspelt option would otherwise be dropped without a word) and a value of the wrong type are
    refused as `[invalid_input]`, naming the argument, like every other refusal.

    The tools come built to the constructor (the SDK's public way to register a Tool it did not
    build), and it closes their input schemas (additionalProperties false), so tools/list tells a
    client beforehand what the check refuses; the SDK offers no public look-up of a registered tool,
    so the server keeps each tool's argument names itself."""

    def __init__(self, name: str, *, tools: Sequence[Tool], **options: Any) -> None:
        closed = [
            tool.model_copy(update={"parameters": {**tool.parameters, "additionalProperties": False}}) for tool in tools
        ]
        self._arguments_of = {tool.name: list(tool.parameters.get("properties", {})) for tool in closed}
        super().__init__(name, tools=closed, **options)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AgentPool, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        accepted = self._arguments_of.get(name)
        if accepted is not None:
            unknown = [argument for argument in arguments if argument not in accepted]
            if unknown:
                return _refusal(
                    f"[invalid_input] {name} has no argument {', '.join(map(repr, unknown))}; it takes "
                    f"{', '.join(accepted)}"
                )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.__cause__.errors()
            )
            return _refusal(f"[invalid_input] bad arguments for {name}: {problems}")
