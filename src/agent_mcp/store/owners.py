"""Who owns a run: a server process, told apart from a later process that got the same pid.

Every run in the store records its owner, so a server can tell a run of a live server (another
window on the same store) from one a server left behind when it died.
"""

from __future__ import annotations

import uuid
from pathlib import Path

__all__ = ["owner_alive", "owner_of", "process_start_time"]


def process_start_time(pid: int) -> str | None:
    """The start time (clock ticks since boot) of a live process, or None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def owner_of(pid: int) -> str:
    """pid, its start time, and a token that tells apart two pools in one process."""
    return f"{pid}:{process_start_time(pid)}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    pid, _, rest = owner.partition(":")
    return pid.isdigit() and process_start_time(int(pid)) == rest.partition(":")[0]
