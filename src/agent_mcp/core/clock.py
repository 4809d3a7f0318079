"""Timestamps as every record of agent-mcp writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    """ISO 8601, UTC, to the millisecond: sorts as text, and reads the same in the store and results."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso_of(epoch_s: float) -> str:
    """An epoch time (a CLI's resetsAt) as every record writes times."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")


def ago(seconds: float) -> str:
    """The time that many seconds before now, as records write it (a rolling window's start)."""
    return iso_of(datetime.now(UTC).timestamp() - seconds)
