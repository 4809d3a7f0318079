"""The line framer on its own: bytes as a terminal hands them over, lines out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_mcp.errors import ProcessError
from agent_mcp.framing import LineFramer, LineTooLong


def test_lines_split_across_reads_come_out_whole_and_in_order():
    framer = LineFramer(100)
    assert framer.feed(b'{"a":') == []
    assert framer.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert framer.feed(b":2}\n\n") == [b'{"b":2}', b""]
    assert framer.flush() is None


def test_crlf_from_the_terminal_is_one_line_end_and_a_lone_cr_stays():
    framer = LineFramer(100)
    assert framer.feed(b"one\r\ntwo\r") == [b"one"]
    assert framer.feed(b"\nthree\rstill three\r\n") == [b"two", b"three\rstill three"]


def test_the_unterminated_tail_is_given_once_at_the_end():
    framer = LineFramer(100)
    assert framer.feed(b'done\n{"type":"assi') == [b"done"]
    assert framer.flush() == b'{"type":"assi'
    assert framer.flush() is None


def test_a_line_at_the_cap_passes_and_one_byte_more_is_refused():
    assert LineFramer(5).feed(b"12345\r\n") == [b"12345"]
    with pytest.raises(LineTooLong, match="longer than 5 bytes"):
        LineFramer(5).feed(b"123456\n")


def test_an_endless_line_is_refused_before_it_ends():
    """A child that never writes a newline must not be buffered without bound."""
    framer = LineFramer(1000)
    framer.feed(b"x" * 600)
    with pytest.raises(LineTooLong) as refused:
        framer.feed(b"x" * 600)
    assert isinstance(refused.value, ProcessError) and refused.value.limit == 1000
    assert framer.flush() is None  # what was buffered is dropped, not handed on


@given(st.lists(st.binary(max_size=40), max_size=20), st.data())
def test_any_cut_of_the_bytes_gives_the_same_lines(lines, data):
    raw = b"".join(line.replace(b"\n", b"") + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    framer = LineFramer(1 << 20)
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        out.extend(framer.feed(raw[start:end]))
    expected = [line.replace(b"\n", b"") for line in lines]
    assert out == [line[:-1] if line.endswith(b"\r") else line for line in expected]
    assert framer.flush() is None
