"""Long strings cut out of a JSON line in pieces: whatever the cuts and the text, putting the spilled
strings back gives the line's value, and no piece is decoded cut inside an escape or a character."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_mcp.core.long_strings import PLACEHOLDER, Spill, StringCutter, safe_end

TEXT = st.text(alphabet=st.sampled_from(['a', '"', "\\", "\n", "é", "😀", "\u2028", "\x01", "/", "u", "x"]),
               max_size=300)  # fmt: skip


def put_back(value, spills: list[Spill]):
    if isinstance(value, str) and value.startswith(PLACEHOLDER):
        return "".join(spills[int(value[len(PLACEHOLDER) :])].pieces(block=7))
    if isinstance(value, dict):
        return {key: put_back(item, spills) for key, item in value.items()}
    if isinstance(value, list):
        return [put_back(item, spills) for item in value]
    return value


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["type", "result", "text", "k"]), st.one_of(TEXT, st.lists(TEXT, max_size=3)),
                       max_size=4), st.booleans(), st.data())  # fmt: skip
def test_any_cut_of_any_line_puts_back_to_the_same_value(value, ascii_only, data):
    raw = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":")).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))
    cutter = StringCutter(None, spill_bytes=8)
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        cutter.feed(raw[start:end])
    line = json.loads(bytes(cutter.line))
    assert put_back(line, cutter.spills) == value
    assert all(spill.size > 8 for spill in cutter.spills)
    cutter.close()


@given(TEXT, st.booleans())
def test_a_safe_end_always_decodes(text, ascii_only):
    raw = json.dumps(text, ensure_ascii=ascii_only).encode()[1:-1]
    for cut in range(len(raw) + 1):
        end = safe_end(raw[:cut])
        assert 0 <= end <= cut and cut - end <= 12
        decoded = json.loads(b'"' + raw[:end] + b'"')
        assert text.startswith(decoded)  # a prefix of the text: no half character, no half surrogate pair


def test_short_strings_stay_in_the_line():
    cutter = StringCutter(None, spill_bytes=100)
    cutter.feed(b'{"type":"result","result":"short"}')
    assert bytes(cutter.line) == b'{"type":"result","result":"short"}' and cutter.spills == []
