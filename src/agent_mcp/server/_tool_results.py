"""What a tool result carries beside its structured content: compact JSON as its text (the SDK's own
is indented, a third larger for a model to read), and a resource link to each cut reply's whole text."""

import json
from typing import Any

from mcp.types import CallToolResult, ResourceLink, TextContent
from pydantic import BaseModel

from agent_mcp.core.models import AgentResponse, ReplyHead
from agent_mcp.pool import replies


def compact(data: dict[str, Any], text: str) -> CallToolResult:
    """A result whose text copy is the given compact JSON (the SDK's own is indented: a third larger
    for a model to read); the SDK still checks the structured content against the tool's output model."""
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def with_replies(
    model: BaseModel, cut: list[tuple[str | None, AgentResponse | ReplyHead | None]], most: int
) -> CallToolResult:
    """A result carrying replies (each with its run's id): each cut one also as a resource_link to its
    whole text, if the resource gives it whole (up to `most` characters; get_run's pages read any)."""
    data = model.model_dump(mode="json")
    result = compact(data, json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    for run_id, response in cut:
        if response is not None and response.text_truncated and run_id is not None and chars_of(response) <= most:
            result.content.append(
                ResourceLink(
                    type="resource_link",
                    uri=replies.reply_uri(run_id),
                    name=f"reply of run {run_id}",
                    mime_type="text/plain",
                    size=response.text_chars,
                )
            )
    return result


def chars_of(response: AgentResponse | ReplyHead) -> int:
    return response.text_chars or len(response.text)
