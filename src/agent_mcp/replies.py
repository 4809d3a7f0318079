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


def ends(limit: int) -> tuple[int, int]:
    """How many characters of a reply over `limit` its head and its tail keep."""
    head = limit * 3 // 4
    return head, limit - head


def clip(response: AgentResponse, limit: int) -> AgentResponse:
    """The head and tail of a reply over `limit` characters, a note between that says how to read the rest.
    A reply the turn cut already (one too long to hold, long_strings.py) stays as it is."""
    text = response.text
    if len(text) <= limit or response.text_truncated:
        return response
    head, tail = ends(limit)
    return cut(response, text[:head], text[len(text) - tail :], len(text))


def cut(response: AgentResponse, head: str, tail: str, chars: int) -> AgentResponse:
    note = (
        f"\n\n[... {chars - len(head) - len(tail)} of {chars} characters left out here. The whole reply: the "
        f"resource {reply_uri(response.run_id or '?')}, or get_run with text_offset and text_limit ...]\n\n"
    )
    return response.model_copy(update={"text": head + note + tail, "text_truncated": True, "text_chars": chars})


def page(response: AgentResponse, whole: str, offset: int, limit: int) -> AgentResponse:
    """whole[offset:offset + limit] (whole: the reply's whole text); text_truncated unless that is all of it."""
    part = whole[offset : offset + limit]
    return response.model_copy(
        update={"text": part, "text_truncated": len(part) < len(whole), "text_chars": len(whole)}
    )


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
