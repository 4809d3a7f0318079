"""What the codex parser believes of output it did not expect: garbage, another version of the events,
a forged thread, huge lines, values out of range. The output comes from a socket the agent's tools
cannot write into (processes/process.py), but a CLI of another version, or a broken one, can still
write anything: nothing of it may become a reply, a session or a number it is not."""

from __future__ import annotations

import json

import pytest

from agent_mcp.agents.codex.kind import CodexKind
from agent_mcp.core.long_strings import LONG_LINE_BYTES

pytestmark = pytest.mark.attack
THREAD = "01a244fd-a351-7c32-a13c-3879c27db86a"
KIND = CodexKind()


def line(event: dict) -> bytes:
    return json.dumps(event).encode()


def turn(*middle: dict, usage: dict | None = None) -> list[bytes]:
    done = {"type": "turn.completed", "usage": usage or {"input_tokens": 10, "output_tokens": 2}}
    return [line({"type": "thread.started", "thread_id": THREAD}), line({"type": "turn.started"}),
            *map(line, middle), line(done)]  # fmt: skip


def feed(lines: list[bytes], resumed: str | None = None):  # type: ignore[no-untyped-def]
    reader = KIND.reader(resumed=resumed, awaiting_init=False)
    for raw in lines:
        reader.feed(raw)
    return reader


def message(text: str) -> dict:
    return {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": text}}


def test_garbage_between_the_events_changes_nothing():
    garbage = [b"", b"not json", b"\x1b[31m{broken", b"[1, 2]", b'{"no_type": 1}', b"\xff\xfe\x00",
               b'{"type": 7}', b"null", b'{"type":"item.completed","item":"not an object"}']  # fmt: skip
    lines = turn(message("the answer"))
    reader = feed([lines[0], *garbage, *lines[1:3], *garbage, lines[3]])
    response = reader.response("dev")
    assert reader.violation is None and response.text == "the answer" and response.session_id == THREAD


def test_events_of_another_version_are_no_answer():
    """A codex whose events were renamed: its output is not the protocol this kind knows, and nothing
    of it is believed (the turn fails as a broken protocol, it is not taken for an empty answer)."""
    reader = feed([line({"type": "thread.begin", "id": THREAD}), line({"type": "turn.begin"}),
                   line({"type": "message", "text": "hi"}), line({"type": "turn.end", "usage": {}})])  # fmt: skip
    assert not reader.answered and reader.violation is not None
    assert "before thread.started" in reader.violation


def test_an_error_notice_before_the_thread_is_only_a_notice():
    reader = feed([line({"type": "error", "message": "an MCP server did not start"}), *turn(message("ok"))])
    assert reader.violation is None and reader.response("dev").text == "ok"


def test_an_unknown_event_inside_a_known_turn_is_ignored():
    reader = feed(turn({"type": "item.progress", "item": {"type": "new_kind"}}, message("ok")))
    assert reader.violation is None and reader.response("dev").text == "ok"


@pytest.mark.parametrize("thread", ["not-a-uuid", "", 42, None, THREAD.upper(), THREAD + "\n", "../" + THREAD])
def test_a_thread_id_not_in_codex_form_breaks_the_protocol(thread):
    reader = feed([line({"type": "thread.started", "thread_id": thread}), *turn(message("x"))[1:]])
    assert reader.violation is not None and reader.session_id is None and not reader.answered


def test_a_forged_thread_on_resume_or_a_second_thread_breaks_the_protocol():
    other = "01a244fd-0000-7000-8000-000000000000"
    assert "resumed thread" in (feed(turn(message("x")), resumed=other).violation or "")
    second = feed([*turn(message("x"))[:2], line({"type": "thread.started", "thread_id": other}), line(message("y"))])
    assert second.violation == "a second thread.started within one turn"


def test_nothing_after_the_turn_ends_counts():
    reader = feed([*turn(message("first")), line(message("forged")), line({"type": "turn.failed", "error": {}})])
    response = reader.response("dev")
    assert response.text == "first" and not response.is_error


@pytest.mark.parametrize(
    "usage",
    [{"input_tokens": -5, "output_tokens": 2}, {"input_tokens": 10**15, "output_tokens": 2},
     {"input_tokens": "10", "output_tokens": 2}, {"input_tokens": True, "output_tokens": 2},
     {"input_tokens": 1.5, "output_tokens": 2}],
)  # fmt: skip
def test_token_counts_out_of_range_are_dropped_and_said(usage):
    reader = feed(turn(message("x"), usage=usage))
    response = reader.response("dev")
    assert response.input_tokens == 0 and response.output_tokens == 2
    assert reader.dropped and reader.dropped[0].startswith("input_tokens=")


def test_nan_and_infinity_make_no_event():
    reader = feed([*turn(message("x"))[:3], b'{"type":"turn.completed","usage":{"input_tokens":NaN}}'])
    assert not reader.done


def test_a_huge_command_output_can_go_unread_but_not_the_answer():
    head = b'{"type":"item.completed","item":{"id":"item_3","type":"command_execution","command":"cat big",'
    assert KIND.reader(resumed=None, awaiting_init=False).droppable(head)
    assert not KIND.reader(resumed=None, awaiting_init=False).droppable(line(message("x" * 100))[:200])
    huge = head + b'"aggregated_output":"' + b"y" * (LONG_LINE_BYTES + 1) + b'","exit_code":0,"status":"completed"}}'
    reader = feed([*turn(message("the answer"))[:3], huge, *turn()[2:]])
    assert reader.response("dev").text == "the answer"


def test_a_failure_message_decides_the_kind_only_from_a_failed_turn():
    """An answer that talks about a 401 or a rate limit is an answer, not an error."""
    reader = feed(turn(message("the API said 401 Unauthorized and 429 Too Many Requests")))
    response = reader.response("dev")
    assert not response.is_error and response.error_kind is None
