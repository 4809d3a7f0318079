"""Lock files that several agent-mcp servers on one state directory share.

flock, because the kernel drops the lock when its holder dies: a killed server never leaves a
name or an agent locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

POLL_S = 0.1


@asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """Polled rather than blocking, so a waiter stays cancellable and holds no thread."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await anyio.sleep(POLL_S)
        yield
    finally:
        os.close(fd)
