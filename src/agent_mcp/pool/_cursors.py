"""Page cursors: opaque to the caller (base64 of where the page ended), checked when they come back.

A cursor comes back from the caller, so it is read as untrusted text: short, the kind this tool
gives, and a place that is a plain decimal within SQLite's 64-bit integers (`isdigit` would take
'²', and `int` refuses 5,000 digits with a ValueError of its own).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re

from agent_mcp.core.errors import InvalidInput

LONGEST = 512
"""No cursor this server gives is longer (an agent's name is 64 characters, a history place about 50)."""
_PLACE = re.compile(r"[0-9]{1,19}")
LARGEST_PLACE = 2**63 - 1
"""A run's rowid: SQLite's largest integer."""


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> str:
    text = ""
    if len(cursor) <= LONGEST:
        with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    prefix = kind + ":"
    if not text.startswith(prefix):
        raise _foreign(cursor)
    return text[len(prefix) :]


def _foreign(cursor: str) -> InvalidInput:
    shown = repr(cursor) if len(cursor) <= 64 else f"{cursor[:64]!r}… ({len(cursor)} characters)"
    return InvalidInput(f"cursor {shown} is not one this tool gave; pass next_cursor from the page before")


def history(queued_at: str, place: int) -> str:
    return _encode(f"history:{queued_at}~{place}")


def read_history(cursor: str) -> tuple[str, int]:
    queued_at, _, place = _decode(cursor, "history").rpartition("~")
    if not _PLACE.fullmatch(place) or int(place) > LARGEST_PLACE:
        raise _foreign(cursor)
    return queued_at, int(place)


def agents(last_name: str) -> str:
    return _encode(f"agents:{last_name}")


def read_agents(cursor: str) -> str:
    return _decode(cursor, "agents")
