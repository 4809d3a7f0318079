"""The gemini reader attacked by output no real gemini writes: garbage, another event version, huge lines,
a forged session id, a result before any init, output after the result, values out of range.

Whatever the lines say, the reader believes only what gemini 0.61.0 writes (tests/fixtures/gemini/): a
broken protocol is a violation (nothing of the turn believed), a value out of range is dropped and noted.
"""

from __future__ import annotations

import json

import pytest

from agent_mcp.agents.gemini.kind import GeminiKind, GeminiReader
from agent_mcp.core.long_strings import LONG_LINE_BYTES

pytestmark = pytest.mark.attack

SID = "0f0e0d0c-0b0a-4909-8807-060504030201"
INIT = json.dumps({"type": "init", "timestamp": "t", "session_id": SID, "model": "auto"})
DELTA = json.dumps({"type": "message", "timestamp": "t", "role": "assistant", "content": "ok", "delta": True})
RESULT = json.dumps({"type": "result", "timestamp": "t", "status": "success",
                     "stats": {"input": 5, "output_tokens": 2, "cached": 0, "duration_ms": 3}})  # fmt: skip


def fed(*lines: str | bytes, resumed: str | None = None) -> GeminiReader:
    reader = GeminiKind().reader(resumed=resumed, awaiting_init=False)
    for line in lines:
        reader.feed(line.encode() if isinstance(line, str) else line)
    return reader


def test_garbage_and_terminal_noise_are_no_events() -> None:
    reader = fed(b"\x1b[31mnot json\x1b[0m", b"\xff\xfe\x00", "[1,2]", '{"no":"type"}', "{", "NaN", INIT,
                 '{"type":"message","role":"assistant","content":"x","n":NaN}', DELTA, RESULT)  # fmt: skip
    assert reader.violation is None and reader.response("g").text == "ok"


def test_a_result_before_any_init_breaks_the_protocol() -> None:
    reader = fed(RESULT)
    assert reader.violation is not None and "before the turn's init" in reader.violation
    assert reader.done and not reader.answered


def test_a_delta_before_init_breaks_the_protocol() -> None:
    assert fed(DELTA, INIT, RESULT).violation is not None


def test_a_second_init_and_a_forged_session_break_the_protocol() -> None:
    other = INIT.replace(SID, "11111111-2222-4333-8444-555555555555")
    assert "second init" in str(fed(INIT, other, RESULT).violation)
    assert "resumed session" in str(fed(other, RESULT, resumed=SID).violation)
    for forged in ("../../etc/passwd", SID.upper(), SID + "0", 7, None, {"id": SID}):
        line = json.dumps({"type": "init", "session_id": forged, "model": "auto"})
        reader = fed(line, RESULT)
        assert reader.violation is not None and reader.session_id is None, forged


def test_another_event_version_is_not_believed() -> None:
    """A future gemini whose init carries its session elsewhere, or whose events are unknown: the turn's
    init is missing, so its result is not believed; unknown event types alone are passed over."""
    v2 = json.dumps({"type": "init", "version": 2, "session": {"id": SID}})
    assert fed(v2, DELTA, RESULT).violation is not None
    reader = fed(INIT, '{"type":"thought","content":"x"}', '{"type":"usage","tokens":1}', DELTA, RESULT)
    assert reader.violation is None and reader.response("g").text == "ok"


def test_output_after_the_result_is_not_read() -> None:
    after = json.dumps({"type": "message", "role": "assistant", "content": " and more", "delta": True})
    reader = fed(INIT, DELTA, RESULT, after, INIT.replace(SID, "11111111-2222-4333-8444-555555555555"))
    assert reader.violation is None and reader.response("g").text == "ok" and reader.session_id == SID


def test_values_out_of_range_are_dropped_and_noted() -> None:
    stats = {"input": -5, "output_tokens": 10**15, "cached": 1.5, "duration_ms": True,
             "models": {"a model with spaces": {"total_tokens": 9}}}  # fmt: skip
    result = json.dumps({"type": "result", "status": "maybe", "stats": stats})
    response = fed(INIT, DELTA, result).response("g")
    assert (response.input_tokens, response.output_tokens, response.cache_read_input_tokens) == (0, 0, 0)
    assert response.duration_ms is None and response.model == "auto"
    assert response.is_error  # a status gemini never writes is no success
    reader = fed(INIT, DELTA, result)
    reader.response("g")
    dropped = " ".join(reader.dropped)
    for name in ("input=", "output_tokens=", "cached=", "duration_ms=", "status=", "model="):
        assert name in dropped


def test_a_huge_tool_result_line_can_go_unread_but_not_while_a_file_edit_awaits_it() -> None:
    tool_result = {"type": "tool_result", "tool_id": "t", "status": "success", "output": "x" * LONG_LINE_BYTES}
    huge = json.dumps(tool_result, separators=(",", ":"))  # as gemini writes it
    reader = fed(INIT)
    assert reader.droppable(huge.encode()[:100])
    assert reader.feed(huge.encode()) is None
    edit = json.dumps(
        {"type": "tool_use", "tool_name": "write_file", "tool_id": "w", "parameters": {"file_path": "/a"}}
    )
    reader.feed(edit.encode())
    assert not reader.droppable(huge.encode()[:100])
    assert not reader.droppable(DELTA.encode())


def test_a_forged_error_type_cannot_make_a_success() -> None:
    forged = json.dumps({"type": "result", "status": "error", "error": {"type": "FatalCancellationError",
                         "message": 7}, "stats": {}})  # fmt: skip
    response = fed(INIT, forged).response("g")
    assert response.is_error and response.error_kind == "cancelled" and response.error
