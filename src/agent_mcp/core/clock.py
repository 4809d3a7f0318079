"""Timestamps as every record of agent-mcp writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    """ISO 8601, UTC, to the millisecond: sorts as text, and reads the same in the store and results."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
