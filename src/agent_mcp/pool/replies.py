"""Replies sized for the model that reads them.

A tool result lands whole in the caller's context (Claude Code does not pass on a result over its
limit at all), and a sub-agent's reply can be megabytes. So a reply longer than the limit comes
back as its head and tail with a note between, `text_truncated` and `text_chars`; the store keeps
the whole, readable as the resource agent-mcp://runs/{run_id}/reply or page by page through
get_run(text_offset, text_limit). A run's message, held whole in the store, is shown by its first
MESSAGE_PREVIEW characters, `message_truncated` and `message_chars`, and paged the same way
(get_run(message_offset, message_limit)). Pages are read from the store, never the whole text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_mcp.core.errors import InvalidInput
from agent_mcp.core.models import AgentResponse, ReplyHead, RunEntry, RunInfo
from agent_mcp.core.rows import MESSAGE_PREVIEW

if TYPE_CHECKING:
    from agent_mcp.store.database import Store

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


def read_reply(store: Store, info: RunInfo, offset: int, limit: int) -> RunInfo:
    """A page of a finished run's reply: text_truncated unless it is all of it, text_chars its length.
    A reply kept whole in the store is read from there a block at a time; one held whole in the
    response (no longer than the reply limit when it ran) is its text."""
    response = info.response
    if response is None:
        return info
    stored = store.replies.page(info.run_id, offset, limit) if response.text_truncated else None
    part, chars = stored if stored is not None else (response.text[offset : offset + limit], len(response.text))
    _check_offset("text", offset, chars)
    update = {"text": part, "text_truncated": len(part) < chars, "text_chars": chars}
    return info.model_copy(update={"response": response.model_copy(update=update)})


def read_message(store: Store, info: RunInfo, offset: int, limit: int) -> RunInfo:
    """A page of a run's message, read from the store (where it is whole)."""
    stored = store.runs.message_part(info.run_id, offset, limit)
    if stored is None:  # deleted with its agent meanwhile
        return info
    part, chars = stored
    _check_offset("message", offset, chars)
    return info.model_copy(update={"message": part, "message_truncated": len(part) < chars, "message_chars": chars})


def mark_messages(store: Store, infos: list[RunInfo]) -> list[RunInfo]:
    """Each run whose message is longer than its preview says so (message_truncated, message_chars)."""
    previews = [info.run_id for info in infos if len(info.message) >= MESSAGE_PREVIEW]
    lengths = store.runs.message_lengths(previews) if previews else {}
    return [
        info.model_copy(update={"message_truncated": True, "message_chars": lengths[info.run_id]})
        if lengths.get(info.run_id, 0) > len(info.message)
        else info
        for info in infos
    ]


def _check_offset(part: str, offset: int, chars: int) -> None:
    if offset > chars:
        raise InvalidInput(
            f"{part}_offset {offset} is past the end: the {'reply' if part == 'text' else part} is {chars} "
            f"characters; give {part}_offset between 0 and {chars}"
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
