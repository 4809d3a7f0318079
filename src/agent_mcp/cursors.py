"""Page cursors: opaque to the caller (base64 of where the page ended), checked when they come back."""

from __future__ import annotations

import base64
import binascii

from .errors import InvalidInput


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix = kind + ":"
    if not text.startswith(prefix):
        raise _foreign(cursor)
    return text[len(prefix) :]


def _foreign(cursor: str) -> InvalidInput:
    return InvalidInput(f"cursor {cursor!r} is not one this tool gave; pass next_cursor from the page before")


def history(queued_at: str, place: int) -> str:
    return _encode(f"history:{queued_at}~{place}")


def read_history(cursor: str) -> tuple[str, int]:
    queued_at, _, place = _decode(cursor, "history").rpartition("~")
    if not place.isdigit():
        raise _foreign(cursor)
    return queued_at, int(place)


def agents(last_name: str) -> str:
    return _encode(f"agents:{last_name}")


def read_agents(cursor: str) -> str:
    return _decode(cursor, "agents")
