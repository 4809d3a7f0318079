"""Long JSON strings cut out of an output line as it arrives, so a long reply is never one object.

The CLI writes a reply twice (in the assistant event and in the result), each time inside one JSON
line. Held whole, a 50 MB reply cost the line's bytes, the decoded line, the parsed text and the
store's copy at once (over 5x the reply). Instead, once a line passes the framer's long-line mark and
the turn wants it, its bytes go through a StringCutter: the line's structure and its short strings
stay, and each string longer than SPILL_BYTES goes, still escaped, to a temporary file (a Spill); the
line keeps a placeholder in its place. The parser puts back a SpilledText, and the reply is decoded
from its file a piece at a time into the store.

Read back, the same holds: a StoredText reads a page of the stored UTF-8 by character offsets, a block
at a time, never the whole (a 32 MiB reply read whole cost the server 130 MiB per reader).
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LONG_LINE_BYTES = 64 * 1024
"""A line longer than this may go unread when nothing in it counts (a tool's output the CLI echoes),
and has its long strings spilled to a file while it is read (framing.py)."""

SPILL_BYTES = 64 * 1024
"""A string longer than this (escaped, in the line) is spilled."""
DECODE_BYTES = 1 << 20
PLACEHOLDER = "\x00spill:"
"""What a spilled string reads as in the line: PLACEHOLDER and its index. No string the CLI writes
starts with a NUL."""
_BACKSLASH = 0x5C


class Spill:
    """One long string, as its JSON text between the quotes, in a file deleted when it is closed."""

    def __init__(self, directory: Path | None) -> None:
        self.file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (it lives as long as the spill)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.file.write(data)
        self.size += len(data)

    def pieces(self, block: int = DECODE_BYTES) -> Iterator[str]:
        """The string's text, a piece at a time (never a piece cut inside an escape or a character)."""
        self.file.seek(0)
        carry = b""
        while chunk := self.file.read(block):
            data = carry + chunk
            end = safe_end(data)
            carry = data[end:]
            if end:
                yield json.loads(b'"' + data[:end] + b'"')
        if carry:
            yield json.loads(b'"' + carry + b'"')

    def close(self) -> None:
        self.file.close()


def safe_end(data: bytes) -> int:
    """How much of `data` (JSON string text) decodes on its own: it must not end inside a UTF-8
    character, inside an escape, or after the first half of an escaped surrogate pair."""
    end = len(data)
    while True:
        start = end
        while start > 0 and end - start < 4 and data[start - 1] & 0xC0 == 0x80:
            start -= 1  # continuation bytes: back to the character's first byte
        if start > 0 and data[start - 1] >= 0xC0:
            lead = data[start - 1]
            if end - start + 1 < (2 if lead < 0xE0 else 3 if lead < 0xF0 else 4):
                end = start - 1
                continue
        last = data.rfind(b"\\", max(0, end - 12), end)
        if last < 0:
            return end
        first = last
        while first > 0 and data[first - 1] == _BACKSLASH:
            first -= 1
        if (last - first) % 2 == 1:  # an even run: escaped backslashes, complete
            return end
        unicode = last + 1 < end and data[last + 1] == ord("u")
        if last + (6 if unicode else 2) > end or (unicode and data[last + 2 : last + 4].lower() in _HIGH):
            end = last
            continue
        return end


_HIGH = {b"d8", b"d9", b"da", b"db"}
_STRING_TEXT = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
"""A JSON string's text up to its closing quote (or up to a last, incomplete escape)."""

PREVIEW_CHARS = 1000


class SpilledText(str):
    """A spilled string as the parser sees it: its first PREVIEW_CHARS characters; `spill` has it whole."""

    spill: Spill

    def __new__(cls, spill: Spill) -> SpilledText:
        first = next(spill.pieces(block=4 * PREVIEW_CHARS), "")
        text = super().__new__(cls, first[:PREVIEW_CHARS])
        text.spill = spill
        return text


def put_back(value: Any, spills: list[Spill]) -> Any:
    """A parsed line with each placeholder replaced by its SpilledText."""
    if isinstance(value, str):
        if value.startswith(PLACEHOLDER) and value[len(PLACEHOLDER) :].isdigit():
            index = int(value[len(PLACEHOLDER) :])
            return SpilledText(spills[index]) if index < len(spills) else value
        return value
    if isinstance(value, dict):
        return {key: put_back(item, spills) for key, item in value.items()}
    if isinstance(value, list):
        return [put_back(item, spills) for item in value]
    return value


@dataclass
class WholeText:
    """A spilled string decoded: its length and ends, and the whole as UTF-8 in a temporary file."""

    file: IO[bytes]
    size: int
    chars: int
    head: str
    tail: str

    def read(self) -> str:
        self.file.seek(0)
        return self.file.read().decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self.file.close()


def whole_of(text: str, head_chars: int, tail_chars: int, directory: Path | None) -> WholeText:
    """A text that was held (it came whole in one read) kept the same way as a spilled one."""
    out = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (handed on in the WholeText)
    out.write(text.encode("utf-8", "surrogatepass"))
    return WholeText(out, out.tell(), len(text), text[:head_chars], text[len(text) - tail_chars :])


def decode_whole(spill: Spill, head_chars: int, tail_chars: int, directory: Path | None) -> WholeText:
    """One pass over the spill, a piece at a time: never the whole text in memory."""
    out = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (handed on in the WholeText)
    chars, head, tail = 0, "", ""
    for piece in spill.pieces():
        if len(head) < head_chars:
            head += piece[: head_chars - len(head)]
        tail = (tail + piece)[-tail_chars:] if tail_chars else ""
        chars += len(piece)
        out.write(piece.encode("utf-8", "surrogatepass"))  # JSON may hold a lone surrogate; kept as it is
    return WholeText(out, out.tell(), chars, head, tail)


class StringCutter:
    """One JSON line, fed in pieces: its structure and short strings kept (`line`), each long string
    spilled to a file (`spills`) with a placeholder in the line."""

    def __init__(self, directory: Path | None, spill_bytes: int = SPILL_BYTES) -> None:
        self.directory = directory
        self.spill_bytes = spill_bytes
        self.line = bytearray()
        self.spills: list[Spill] = []
        self._in_string = False
        self._escaping = False
        """The string's text so far ends with the backslash of an escape whose next byte is to come."""
        self._short = bytearray()
        self._spill: Spill | None = None

    def feed(self, data: bytes) -> None:
        pos, size = 0, len(data)
        view = memoryview(data)
        if self._in_string and self._escaping and size:  # the piece before ended inside an escape
            self._add(view[:1])
            self._escaping, pos = False, 1
        while pos < size:
            if not self._in_string:
                quote = data.find(b'"', pos)
                if quote < 0:
                    self.line += view[pos:]
                    return
                self.line += view[pos : quote + 1]
                self._in_string, pos = True, quote + 1
                continue
            # The string's text runs to its first unescaped quote: matched by the regex engine, not
            # quote by quote (text full of escaped quotes would otherwise cost a loop turn each).
            end = _STRING_TEXT.match(data, pos).end()  # type: ignore[union-attr]
            self._add(view[pos:end])
            if end == size:
                return
            if data[end] == _BACKSLASH:  # the piece ends inside an escape: its other half comes next
                self._add(view[end:])
                self._escaping = True
                return
            self._close_string()
            pos = end + 1

    def _add(self, text: memoryview) -> None:
        if self._spill is None and len(self._short) + len(text) <= self.spill_bytes:
            self._short += text
            return
        if self._spill is None:
            self._spill = Spill(self.directory)
            self._spill.write(self._short)
            self._short = bytearray()
        self._spill.write(text)

    def _close_string(self) -> None:
        if self._spill is not None:
            self.line += f"\\u0000spill:{len(self.spills)}".encode()
            self.spills.append(self._spill)
            self._spill = None
        else:
            self.line += self._short
            self._short = bytearray()
        self.line += b'"'
        self._in_string = False

    def close(self) -> None:
        """Spills not handed on (a line given up) are deleted now."""
        if self._spill is not None:
            self._spill.close()
        for spill in self.spills:
            spill.close()


MARK_BYTES = 1 << 20
"""A stored text's index has a mark every this many bytes: a page read scans one block at most."""
_CONTINUATION = bytes(range(0x80, 0xC0))
"""UTF-8's continuation bytes. Every other byte starts a character, a lone surrogate (kept with
surrogatepass, three bytes) included, so the count of the others is Python's len()."""
_STARTS = bytes(0 if 0x80 <= byte < 0xC0 else 1 for byte in range(256))
"""A translation table: 1 where a character starts, 0 elsewhere."""


class StoredText:
    """A text kept as UTF-8 in a blob, read by character offsets a page at a time.

    Character offsets are what callers count in (text_chars, text_offset) and UTF-8 cannot be
    indexed by them, so the text has an index: `marks[k]` is how many characters start before byte
    k * MARK_BYTES, and the last mark the length. It costs one pass a block at a time and a few
    integers per MiB, so it is made on first read rather than stored (the store's schema stays); a
    page then reads the one block its start lies in, and nothing else. Storing UTF-32 instead would
    index itself, at four times the store's bytes for every reply."""

    def __init__(self, blob: sqlite3.Blob, marks: list[int] | None = None) -> None:
        self.blob = blob
        self.marks = self.index(blob) if marks is None else marks

    @staticmethod
    def index(blob: sqlite3.Blob) -> list[int]:
        marks = [0]
        blob.seek(0)
        while block := blob.read(MARK_BYTES):
            marks.append(marks[-1] + len(block.translate(None, _CONTINUATION)))
        return marks

    @property
    def chars(self) -> int:
        return self.marks[-1]

    def page(self, offset: int, limit: int) -> str:
        """Characters offset .. offset + limit (fewer at the end; none past it)."""
        start = self._byte_of(offset)
        end = self._byte_of(offset + limit)
        self.blob.seek(start)
        return self.blob.read(end - start).decode("utf-8", "surrogatepass")

    def _byte_of(self, char: int) -> int:
        """Where character `char` starts; the end of the text for one at or past its length."""
        if char >= self.chars:
            return len(self.blob)
        block_no = bisect_right(self.marks, char) - 1
        first = self.marks[block_no]
        self.blob.seek(block_no * MARK_BYTES)
        block = self.blob.read(MARK_BYTES)
        if self.marks[block_no + 1] - first == len(block):  # one byte per character in this block
            return block_no * MARK_BYTES + char - first
        starts = block.translate(_STARTS)
        # The first byte before which char - first + 1 characters start: that character's start.
        at = bisect_left(range(len(block)), char - first + 1, key=lambda end: starts.count(1, 0, end + 1))
        return block_no * MARK_BYTES + at
