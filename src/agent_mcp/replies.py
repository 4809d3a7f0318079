"""Replies sized for the model that reads them.

A tool result lands whole in the caller's context (Claude Code does not pass on a result over its
limit at all), and a sub-agent's reply can be megabytes. So a reply longer than the limit comes
back as its head and tail with a note between, `text_truncated` and `text_chars`; the store keeps
the whole, readable as the resource agent-mcp://runs/{run_id}/reply or page by page through
get_run(text_offset, text_limit). Pure functions over the result models.
"""

from __future__ import annotations

from .models import AgentResponse, ReplyHead, RunEntry, RunInfo

REPLY_URI = "agent-mcp://runs/{run_id}/reply"


def reply_uri(run_id: str) -> str:
    return REPLY_URI.format(run_id=run_id)


def clip(response: AgentResponse, limit: int) -> AgentResponse:
    """The head and tail of a reply over `limit` characters, a note between that says how to read the rest."""
    text = response.text
    if len(text) <= limit:
        return response
    head = limit * 3 // 4
    tail = limit - head
    note = (
        f"\n\n[... {len(text) - limit} of {len(text)} characters left out here. The whole reply: the resource "
        f"{reply_uri(response.run_id or '?')}, or get_run with text_offset and text_limit ...]\n\n"
    )
    return response.model_copy(
        update={"text": text[:head] + note + text[len(text) - tail :], "text_truncated": True, "text_chars": len(text)}
    )


def page(response: AgentResponse, offset: int, limit: int) -> AgentResponse:
    """text[offset:offset + limit]; text_truncated unless that is the whole reply."""
    text = response.text
    part = text[offset : offset + limit]
    return response.model_copy(update={"text": part, "text_truncated": len(part) < len(text), "text_chars": len(text)})


def clip_run(info: RunInfo, limit: int) -> RunInfo:
    if info.response is None:
        return info
    return info.model_copy(update={"response": clip(info.response, limit)})


def entry_of_run(info: RunInfo, chars: int) -> RunEntry:
    """A run as a history page shows it: the first `chars` of its message and of its reply, and of
    the rest what a reader deciding whether to look closer needs (get_run gives the whole)."""
    response = info.response
    head = None
    if response is not None:
        whole = response.text_chars or len(response.text)
        head = ReplyHead(
            text=response.text[:chars],
            text_truncated=whole > chars,
            text_chars=whole if whole > chars else None,
            cost_usd=response.cost_usd,
            is_error=response.is_error,
            error=None if response.error is None else response.error[:chars],
            error_kind=response.error_kind,
            files_changed=response.files_changed,
            permission_denials=response.permission_denials,
        )
    return RunEntry(
        run_id=info.run_id,
        status=info.status,
        message=info.message[:chars],
        position=info.position,
        finished_at=info.finished_at,
        response=head,
        error=info.error,
        error_kind=info.error_kind,
        permission_requests=response.permission_requests if response is not None else info.permission_requests,
    )
