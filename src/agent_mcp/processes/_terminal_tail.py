"""The CLI's terminal (its stderr, and the /dev/tty of everything it runs): drained, never parsed.

Anything an agent runs can open /dev/tty and write into the terminal, so what arrives there is no
evidence of anything: only its last bytes are kept, to show the caller when a process ends without a
result (the CLI's own error messages are on stderr). It is read all the time, by a thread of its own,
so a process that fills the terminal never blocks on it, also between turns, when nobody listens.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time

log = logging.getLogger(__name__)

TAIL_BYTES = 4096
_READ_CHUNK = 1 << 16
PAUSE_S = 0.002
"""Between reads: a tool that floods the terminal (`yes > /dev/tty`) would otherwise cost the server
half a core for as long as its process lives; paced, it costs little, and the flood waits (the tail
is for showing an error, which a few KiB a read keep up with)."""


class TerminalTail:
    def __init__(self, fd: int) -> None:
        """`fd` (the PTY master) must be non-blocking; it stays open until after `close`."""
        self.fd = fd
        self._tail = b""
        self._lock = threading.Lock()
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"terminal-{fd}", daemon=True)
        self._thread.start()

    @property
    def tail(self) -> bytes:
        with self._lock:
            return self._tail

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        poller.register(self._stop_read, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._stop_read in ready or self._read() is False:
                return
            time.sleep(PAUSE_S)

    def _read(self) -> bool | None:
        """One read into the tail: True when it gave bytes, None when none wait, False at the end."""
        try:
            data = os.read(self.fd, _READ_CHUNK)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: every holder of the terminal has closed it
                log.warning("reading terminal %d failed, taken as its end: %s", self.fd, exc)
            return False
        if not data:
            return False
        with self._lock:
            self._tail = (self._tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]
        return True

    def close(self) -> None:
        """Stop the thread before the descriptor is closed: it must not read a number that may be reused."""
        os.write(self._stop_write, b"x")
        self._thread.join()
        for _ in range(64):  # the last words the thread had no time for (a CLI's error, as it exited)
            if not self._read():
                break
        os.close(self._stop_read)
        os.close(self._stop_write)
