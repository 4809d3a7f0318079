"""What of a CLI's output is believed: a line as an event, and what a value in it must be. Every kind's
parser reads its lines through these.

A line is an event only when it is a JSON object with a type (JSON's NaN and Infinity, which no CLI
writes, make it none). The output is data, whoever wrote it: a count is taken only when it is an integer no real turn
exceeds and that SQLite can hold, a cost only when finite and sane, a name only when it looks like
one, a status only from the CLI's own list, a session id only in the CLI's UUID form. What fails is
left out and noted, so the caller and the log learn the output was not believed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from agent_mcp.core.entries import clean_text
from agent_mcp.core.long_strings import LONG_LINE_BYTES, put_back

_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_session_id(value: Any) -> bool:
    """The CLI names sessions by UUID (and takes nothing else for --resume=)."""
    return isinstance(value, str) and _SESSION_ID.fullmatch(value) is not None


MAX_COUNT = 10**12
"""Tokens and turns of one run: far beyond any real turn, far inside SQLite's 64-bit integers."""
MAX_COST_USD = 1_000_000.0
MAX_DURATION_MS = 10**11
MAX_EPOCH_S = 10**11
_WORD = re.compile(r"[A-Za-z0-9_.:\[\]/@<>-]{1,200}")
"""A name the CLI reports (a model, a key source, a subtype): no spaces, no control characters."""
RATE_LIMIT_STATUSES = ("allowed", "allowed_warning", "rejected")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_event(raw: bytes) -> dict[str, Any] | None:
    """One output line as an event, or None for anything that is not a JSON object with a type."""
    try:
        # An event line is JSON as it stands (it cannot hold a raw control byte): parsed without a
        # cleaned copy first, which for a reply of many megabytes is one copy fewer.
        event = json.loads(raw, parse_constant=_no_constant) if raw.startswith(b"{") else None
    except ValueError:  # UnicodeDecodeError included
        event = None
    if event is None:
        text = clean_text(raw).strip()
        if not text.startswith("{"):
            return None
        try:
            event = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return event


def read_event(raw: bytes, droppable: Callable[[bytes], bool]) -> dict[str, Any] | None:
    """A line as an event, its long strings (cut out as it arrived: a CutLine's spills) put back as
    SpilledText; None for a long line `droppable` says nothing in counts (parsing megabytes of it would)."""
    if len(raw) > LONG_LINE_BYTES and droppable(raw):
        return None
    event = decode_event(raw)
    spills = getattr(raw, "spills", None)
    if spills and event is not None:
        event = put_back(event, spills)
    return event


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Checked:
    """Values of one result taken only when they are what the CLI writes; each other is dropped and
    noted, so the caller (and the log) learn that the output was not believed."""

    def __init__(self, dropped: list[str]) -> None:
        self.dropped = dropped

    def _drop(self, name: str, value: Any) -> None:
        shown = repr(value)
        self.dropped.append(f"{name}={shown[:60]}{'…' if len(shown) > 60 else ''}")

    def count(self, name: str, value: Any, most: int = MAX_COUNT) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most:
            return value
        self._drop(name, value)
        return None

    def cost(self, name: str, value: Any) -> float | None:
        """None: no cost the pool can count (a spending cap counts it as unknown, never as zero)."""
        if value is None:
            return None
        if _number(value) and 0 <= value <= MAX_COST_USD and math.isfinite(value):  # (an int may overflow isfinite)
            return float(value)
        self._drop(name, value)
        return None

    def fraction(self, name: str, value: Any) -> float | None:
        if value is None:
            return None
        if _number(value) and 0 <= value <= 10 and math.isfinite(value):  # past 1 while overage is in use
            return float(value)
        self._drop(name, value)
        return None

    def choice(self, name: str, value: Any, choices: tuple[str, ...]) -> str | None:
        if value is None or value in choices:
            return value  # type: ignore[no-any-return]
        self._drop(name, value)
        return None

    def word(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and _WORD.fullmatch(value):
            return value
        self._drop(name, value)
        return None
