"""The CLI's stdout (a socket, see process.py), read by a thread of its own as it arrives and handed
over in batches.

Why a thread: a terminal hands over at most 4 KiB per read (a socket more, but its buffer is soon
full too), so a CLI writing fast (tools printing 50 MiB; the CLI writes each result twice) waits on every read that
comes late. Read from the event loop, each 4 KiB costs a trip through the loop and waits behind
whatever the loop is doing (1.5x the time a blocking reader takes, measured with the double; a
reader callback that drains in place, 1.25-1.4x). A thread that only reads, blocked in `poll`
between reads, keeps pace (about 1.05-1.1x), and the loop wakes once per finished line or full
batch rather than per read.

Bounded: once `high_water` bytes wait untaken, the thread stops reading (the CLI then blocks on its
writes) until the consumer takes them. Between turns nobody takes: the process is simply held up.
Reads happen under the lock, so `read_now` from the loop keeps the order of the bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import threading
import time

import anyio

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 16


class OutputReader:
    def __init__(self, fd: int, high_water: int) -> None:
        """`fd` must be non-blocking; it stays open until after `close`."""
        self.fd = fd
        self.high_water = high_water
        self._eof = False
        self.ended = False
        """The output has ended and all of it was taken: set by `take`, so a consumer that sees it
        has had every byte (the thread may find the end while the consumer handles a batch)."""
        self.last_data = time.monotonic()
        self._chunks: list[bytes] = []
        self._size = 0
        self._line_ended = False
        self._woken = False
        self._waiter: anyio.Event | None = None
        self._waiting = False
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"output-{fd}", daemon=True)
        self._thread.start()

    # --- the reading thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._read_until_end()
        except BaseException:  # the consumer must not wait for output that will never come
            log.exception("the reader of output %d failed; it is taken as ended", self.fd)
            with self._lock:
                self._eof = True
            self._notify_soon()

    def _read_until_end(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        poller.register(self._stop_read, select.POLLIN)
        while True:
            with self._lock:
                while self._size >= self.high_water and not self._closing:
                    self._room.wait()
                if self._closing:
                    return
                got = self._read_locked()
                notify = self._waiting and (self._line_ended or self._eof or self._size >= self.high_water)
                if notify:
                    self._waiting = False
            if notify:
                self._notify_soon()
            if self._eof:
                return
            if got is None:
                poller.poll()

    def _read_locked(self) -> int | None:
        """One read, the lock held: bytes read (0 at the end), or None when nothing waits."""
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: a terminal's end (this reader serves pipes in tests too)
                log.warning("reading output %d failed, taken as its end: %s", self.fd, exc)
            data = b""
        if not data:
            self._eof = True
            return 0
        self._chunks.append(data)
        self._size += len(data)
        self._line_ended = self._line_ended or b"\n" in data
        self.last_data = time.monotonic()
        return len(data)

    def _notify_soon(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._notify)

    # --- the event loop's side ---------------------------------------------------------------

    def _notify(self) -> None:
        if self._waiter is not None:
            self._waiter.set()

    def read_now(self) -> None:
        """Take in what the output holds right now, without waiting for the thread (up to the bound)."""
        with self._lock:
            while not self._eof and self._size < self.high_water and self._read_locked():
                pass

    def wake(self) -> None:
        """Make the current or next `wait` return, with or without data (a watcher has news)."""
        self._woken = True
        self._notify()

    async def wait(self) -> None:
        """Until a line has ended, a batch is full, the output has ended, or `wake` was called."""
        with self._lock:
            ready = self._line_ended or self._eof or self._woken or self._size >= self.high_water
            if not ready:
                self._waiting = True
                waiter = self._waiter = anyio.Event()
        if not ready:
            try:
                await waiter.wait()
            finally:
                self._waiter = None
                self._waiting = False
        self._woken = False

    def take(self) -> bytes:
        with self._lock:
            chunks, self._chunks, self._size, self._line_ended = self._chunks, [], 0, False
            self.ended = self._eof
            self._room.notify()
        return b"".join(chunks)

    def close(self) -> None:
        """Stop the thread before the descriptor is closed: it must not read a number that may be
        reused. It is in `poll`, waiting for room, or in a read that does not block: it ends at once."""
        with self._lock:
            self._closing = True
            self._room.notify()
        os.write(self._stop_write, b"x")
        self._thread.join()
        os.close(self._stop_read)
        os.close(self._stop_write)
        self._eof = self.ended = True
        self._chunks, self._size = [], 0
