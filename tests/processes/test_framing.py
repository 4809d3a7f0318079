"""The line framer on its own: bytes as a terminal hands them over, lines out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_mcp.core.errors import ProcessError
from agent_mcp.processes.framing import LineFramer, LineTooLong


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


def dropping(long_line: int) -> tuple[LineFramer, list[bytes]]:
    """A framer that drops long lines starting with D, and the heads it was asked about."""
    framer, asked = LineFramer(1000, long_line=long_line), []

    def droppable(head: bytes) -> bool:
        asked.append(head)
        return head.startswith(b"D")

    framer.droppable = droppable
    return framer, asked


def test_a_long_unwanted_line_is_dropped_as_it_arrives_and_the_next_line_passes():
    framer, asked = dropping(8)
    assert framer.feed(b"short\nD" + b"x" * 20) == [b"short"]
    assert asked == [b"Dxxxxxxx"]  # its first long_line bytes, once
    assert framer.feed(b"y" * 50) == []  # not gathered
    assert framer.feed(b"yy\r\nafter\nD") == [b"after"]
    assert framer.flush() == b"D"
    assert asked == [b"Dxxxxxxx"]


def test_a_long_line_the_reader_wants_is_kept_whole():
    framer, asked = dropping(8)
    assert framer.feed(b"K" + b"x" * 20) == []
    assert framer.feed(b"z\n") == [b"K" + b"x" * 20 + b"z"]
    assert asked == [b"Kxxxxxxx"]


def test_a_dropped_line_still_counts_against_the_cap():
    framer, _ = dropping(8)
    framer.feed(b"D" + b"x" * 600)
    with pytest.raises(LineTooLong):
        framer.feed(b"x" * 600)
    assert framer.feed(b"fresh\n") == [b"fresh"]  # after the refusal, nothing of it is held


@given(st.lists(st.sampled_from([b"D", b"K", b""]).flatmap(lambda p: st.binary(max_size=30).map(lambda b: p + b)),
                max_size=15), st.data())  # fmt: skip
def test_any_cut_keeps_every_wanted_line_in_order(lines, data):
    """Only long lines starting with D may go missing, whatever the cuts; a short one never does."""
    lines = [line.replace(b"\n", b"").replace(b"\r", b"") for line in lines]
    raw = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    framer, _ = dropping(8)
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        out.extend(framer.feed(raw[start:end]))
    assert framer.flush() is None

    def wanted(line: bytes) -> bool:
        return not (line.startswith(b"D") and len(line) > 8)

    assert [line for line in out if wanted(line)] == [line for line in lines if wanted(line)]
    assert all(line in lines for line in out)
