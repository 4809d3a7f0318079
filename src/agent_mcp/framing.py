"""Bytes from a terminal into lines: pure, so its edge cases are tested without a process.

A PTY turns each `\\n` into `\\r\\n` and hands over whatever it holds, so a line can arrive in many
pieces and a read can end inside one. A child that never writes a newline must not make the server
hold its output without bound: a line longer than the cap is an error, raised as soon as the
buffered part passes it rather than once the whole line has arrived.
"""

from __future__ import annotations

from .errors import ProcessError


class LineTooLong(ProcessError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"an output line longer than {limit} bytes")


class LineFramer:
    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The lines that `data` completes, without their `\\n` or `\\r\\n`, in order."""
        start = len(self._buffer)
        self._buffer += data
        lines = []
        begin = 0
        newline = self._buffer.find(b"\n", start)
        with memoryview(self._buffer) as view:  # one copy per line: a long reply is held no more than twice
            while newline >= 0:
                end = newline - 1 if newline > begin and self._buffer[newline - 1] == 0x0D else newline
                if end - begin > self.max_line_bytes:
                    break
                lines.append(bytes(view[begin:end]))
                begin = newline + 1
                newline = self._buffer.find(b"\n", begin)
        if newline >= 0:
            raise self._overflow()
        del self._buffer[:begin]
        if len(self._buffer) > self.max_line_bytes + 1:  # + 1: a trailing \r may be half of a \r\n
            raise self._overflow()
        return lines

    def _overflow(self) -> LineTooLong:
        """The output is given up: what was buffered goes now, not when the framer does."""
        self._buffer = bytearray()
        return LineTooLong(self.max_line_bytes)

    def flush(self) -> bytes | None:
        """The unterminated tail once the output has ended (a child that died mid-line), if any."""
        if not self._buffer:
            return None
        tail, self._buffer = bytes(self._buffer), bytearray()
        return tail[:-1] if tail.endswith(b"\r") else tail
