"""Bytes from a terminal into lines: pure, so its edge cases are tested without a process.

A PTY hands over whatever it holds, so a line can arrive in many pieces and a read can end inside
one. A child that never writes a newline must not make the server hold its output without bound: a
line longer than the cap is an error, raised as soon as the buffered part passes it rather than once
the whole line has arrived.

A line the reader does not want (`droppable`, asked once a line's unfinished part passes
`long_line` bytes: a tool's megabytes of output, which the CLI writes twice) is dropped as it
arrives rather than gathered, copied and thrown away at its end; it still counts against the cap.
A long line the reader wants goes through a `cutter` (long_strings.py) as it arrives, when one is
given: the line handed on is a CutLine, its long strings replaced by placeholders.
"""

from __future__ import annotations

from collections.abc import Callable

from agent_mcp.core.errors import ProcessError
from agent_mcp.core.long_strings import LONG_LINE_BYTES, Spill, StringCutter


class LineTooLong(ProcessError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"an output line longer than {limit} bytes")


def keep_all(head: bytes) -> bool:
    return False


class CutLine(bytes):
    """A line whose long strings were cut out: `spills[i]` is the string of placeholder i."""

    spills: list[Spill]


class LineFramer:
    def __init__(self, max_line_bytes: int, long_line: int = LONG_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.long_line = long_line
        self.droppable: Callable[[bytes], bool] = keep_all
        """Asked with the first `long_line` bytes of a longer line: True drops the line."""
        self.cutter: Callable[[], StringCutter] | None = None
        """Makes the cutter of a long line that is kept, when long strings are to be cut out."""
        self._buffer = bytearray()
        self._dropping: int | None = None
        """Bytes of the line being dropped (or cut) so far, while one is."""
        self._cutting: StringCutter | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """The lines that `data` completes, without their `\\n` or `\\r\\n`, in order."""
        start, lines = 0, list[bytes]()
        if self._dropping is not None:
            start = data.find(b"\n")
            dropped = self._dropping + (len(data) if start < 0 else start)
            if dropped > self.max_line_bytes + 1:  # + 1: the line's \r
                raise self._overflow()
            cutter = self._cutting
            if cutter is not None:
                cutter.feed(data if start < 0 else data[:start])
            if start < 0:
                self._dropping = dropped
                return []
            self._dropping, self._cutting, start = None, None, start + 1
            if cutter is not None:
                lines.append(_cut_line(cutter))
        lines += self._split(data, start)
        if len(self._buffer) > self.long_line:
            head = bytes(self._buffer[: self.long_line])
            if self.droppable(head):
                self._dropping, self._buffer = len(self._buffer), bytearray()
            elif self.cutter is not None:
                self._cutting = self.cutter()
                self._cutting.feed(bytes(self._buffer))
                self._dropping, self._buffer = len(self._buffer), bytearray()
        return lines

    def _split(self, data: bytes, start: int) -> list[bytes]:
        held = len(self._buffer)
        with memoryview(data) as new:
            self._buffer += new[start:]
        lines = []
        begin = 0
        newline = self._buffer.find(b"\n", held)
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
        self._stop_cutting()
        self._buffer, self._dropping = bytearray(), None
        return LineTooLong(self.max_line_bytes)

    def _stop_cutting(self) -> None:
        if self._cutting is not None:
            self._cutting.close()
            self._cutting = None

    def flush(self) -> bytes | None:
        """The unterminated tail once the output has ended (a child that died mid-line), if any; a
        line cut short while its strings were cut out is given up (it cannot be whole JSON)."""
        self._stop_cutting()
        self._dropping = None
        if not self._buffer:
            return None
        tail, self._buffer = bytes(self._buffer), bytearray()
        return tail[:-1] if tail.endswith(b"\r") else tail


def _cut_line(cutter: StringCutter) -> CutLine:
    line = CutLine(cutter.line)
    line.spills = cutter.spills
    return line
