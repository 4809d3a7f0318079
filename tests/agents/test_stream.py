"""The parser on the real CLI's captured output (tests/fixtures/, copied from shared/claude-cli/observed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_mcp.agents.claude._stream import StreamState, describe_event
from agent_mcp.agents.output import decode_event
from agent_mcp.core.entries import clean_text
from agent_mcp.core.long_strings import LONG_LINE_BYTES
from agent_mcp.core.models import AgentResponse
from agent_mcp.core.rows import LimitReport

FIXTURES = Path(__file__).parents[1] / "fixtures"


SID = b"0f0e0d0c-0b0a-4909-8807-060504030201"


def parse(name: str, resumed: str | None = None) -> tuple[StreamState, AgentResponse]:
    state = StreamState(resumed=resumed)
    for line in (FIXTURES / name).read_bytes().split(b"\n"):
        state.feed(line)
    return state, state.response("a")


def result_event(name: str) -> dict:
    lines = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.startswith("{")]
    return next(e for e in lines if e["type"] == "result")


def test_text_reply_takes_everything_from_the_events():
    _, r = parse("10_apikey_text.stdout")
    assert r.text == "Mock reply #107. Last user text tail: hello MOCK_TEXT"
    assert r.session_id == "1f8909ba-3d96-4c57-ad9f-ae5bca409236"
    assert r.model == "claude-opus-4-8[1m]"
    assert r.api_key_source == "ANTHROPIC_API_KEY"
    assert (r.input_tokens, r.output_tokens) == (120, 42)
    assert (r.cache_creation_input_tokens, r.cache_read_input_tokens) == (2000, 15000)
    assert r.cost_usd == pytest.approx(0.025980000000000003)
    assert (r.duration_ms, r.num_turns, r.subtype) == (536, 1, "success")
    assert r.is_error is False and r.error is None
    assert r.rate_limit_type is None


def test_tool_round_trip_returns_the_final_answer_and_main_loop_usage():
    _, r = parse("11_apikey_tool_bash.stdout")
    expected = result_event("11_apikey_tool_bash.stdout")
    assert r.text == expected["result"]
    assert r.num_turns == 2
    assert r.input_tokens == expected["usage"]["input_tokens"] == 240
    assert r.cost_usd == pytest.approx(expected["total_cost_usd"])


@pytest.mark.parametrize(
    "name",
    ["02_noauth_pty.pty.bin", "01_noauth_pipe.stdout"],
)
def test_not_logged_in_is_an_error_even_with_subtype_success(name):
    state, r = parse(name)
    assert r.subtype == "success"
    assert r.is_error is True
    assert r.error == "Not logged in · Please run /login"
    assert r.api_key_source == "none"
    assert state.assistant_error == "authentication_failed"
    init_line = (FIXTURES / name).read_bytes().split(b"\n", 1)[0]
    assert r.session_id == json.loads(init_line)["session_id"]


def test_pty_capture_with_crlf_and_reset_trailer_parses_like_the_pipe():
    raw = (FIXTURES / "02_noauth_pty.pty.bin").read_bytes()
    assert b"\r\n" in raw and raw.endswith(b"\x1b[?25h")
    state, r = parse("02_noauth_pty.pty.bin")
    assert state.done
    assert r.model == "claude-opus-4-8[1m]"
    # The trailer is the last "line" and holds only escapes: it decodes to nothing.
    assert decode_event(raw.rsplit(b"\n", 1)[1]) is None
    assert clean_text(raw.rsplit(b"\n", 1)[1]) == ""


def test_pty_capture_with_partial_messages():
    state, r = parse("25_apikey_pty_tool_partial.pty.bin")
    assert state.done and r.is_error is False
    assert r.text.startswith("Mock reply")
    assert r.num_turns == 2


@pytest.mark.parametrize(
    ("name", "subtype", "error"),
    [
        ("14_apikey_max_turns.stdout", "error_max_turns", "Reached maximum number of turns (2)"),
        ("15_apikey_max_budget.stdout", "error_max_budget_usd", "Reached maximum budget ($0.05)"),
        ("28_apikey_sigint.stdout", "error_during_execution", "[ede_diagnostic]"),
    ],
)
def test_error_subtypes_have_no_result_text_but_carry_errors(name, subtype, error):
    _, r = parse(name)
    assert r.subtype == subtype
    assert r.is_error is True
    assert r.error is not None and r.error.startswith(error)
    assert r.cost_usd == pytest.approx(result_event(name)["total_cost_usd"])


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("16_apikey_model_404.stdout", 404),
        ("17_apikey_401_retries.stdout", 401),
        ("18_apikey_500.stdout", 500),
        ("19_apikey_529.stdout", 529),
        ("20_apikey_429.stdout", 429),
        ("21_apikey_prompt_too_long.stdout", 400),
        ("27_connection_refused.stdout", None),
    ],
)
def test_api_errors(name, status):
    _, r = parse(name)
    assert r.is_error is True
    assert r.api_error_status == status
    assert r.error == result_event(name)["result"]


def test_resume_of_unknown_session_has_no_init_but_a_session_id():
    _, r = parse("04_resume_unknown.stdout", resumed="11111111-2222-3333-4444-555555555555")
    assert r.is_error and r.subtype == "error_during_execution"
    assert r.session_id == "11111111-2222-3333-4444-555555555555"
    assert r.model is None
    assert r.error == "No conversation found with session ID: 11111111-2222-3333-4444-555555555555"


def test_rate_limit_fields_only_when_they_say_something():
    """An allowed window says nothing to the reader of a reply (the account's state is pool_status's);
    the parser still reports it as the account's window."""
    state, allowed = parse("22_oauth_rate_limit_allowed.stdout")
    assert (allowed.rate_limit_status, allowed.rate_limit_type, allowed.rate_limit_resets_at) == (None, None, None)
    assert "rate_limit" not in allowed.model_dump_json()
    assert state.limit == LimitReport("five_hour", "allowed", 1795649429, None)
    assert state.worked
    state, warning = parse("23_oauth_rate_limit_warning.stdout")
    assert warning.rate_limit_status == "allowed_warning"
    assert warning.rate_limit_resets_at == 1795642830
    assert state.limit == LimitReport("five_hour", "allowed_warning", 1795642830, 0.93)
    state, rejected = parse("24_oauth_rate_limit_rejected_429.stdout")
    assert rejected.rate_limit_status == "rejected"
    assert rejected.is_error and rejected.api_error_status == 429 and rejected.error_kind == "rate_limited"
    assert rejected.model == "claude-sonnet-5"
    assert state.limit == LimitReport("five_hour", "rejected", 1795645831, None)
    assert not state.worked, "the synthetic error message is not the model's work"


@pytest.mark.attack
@pytest.mark.parametrize(
    ("info", "expected", "dropped"),
    [
        ({"status": "rejected", "isUsingOverage": False}, None, []),  # a server throttle's (50_*)
        ({"status": "rejected", "resetsAt": "soon", "rateLimitType": "five_hour"},
         LimitReport("five_hour", "rejected", None, None), ["resetsAt='soon'"]),
        ({"status": "rejected", "resetsAt": 10**15, "rateLimitType": "five_hour"},
         LimitReport("five_hour", "rejected", None, None), ["resetsAt=1000000000000000"]),
        ({"status": "allowed_warning", "utilization": 11, "rateLimitType": "a b"}, None, ["rateLimitType='a b'"]),
        ({"status": "paused", "rateLimitType": "five_hour"}, None, ["status='paused'"]),
        ({"status": "allowed", "utilization": "0.5", "rateLimitType": "seven_day"},
         LimitReport("seven_day", "allowed", None, None), ["utilization='0.5'"]),
    ],
)  # fmt: skip
def test_a_misbehaving_rate_limit_event_gives_only_what_is_believed(info, expected, dropped):
    state = StreamState()
    state.feed(json.dumps({"type": "rate_limit_event", "rate_limit_info": info}).encode())
    assert state.limit == expected
    assert state.dropped == dropped


@pytest.mark.attack
def test_a_cost_reported_as_a_string_is_unknown_not_zero():
    state = StreamState()
    for line in (FIXTURES / "10_apikey_text.stdout").read_bytes().split(b"\n"):
        if line.startswith(b'{"type":"result"'):
            event = json.loads(line)
            event["total_cost_usd"] = "0.5"
            line = json.dumps(event).encode()
        state.feed(line)
    response = state.response("a")
    assert response.cost_usd is None
    assert any(d.startswith("total_cost_usd=") for d in state.dropped)


def test_sigterm_capture_has_no_result():
    state = StreamState()
    for line in (FIXTURES / "29_apikey_sigterm.stdout").read_bytes().split(b"\n"):
        state.feed(line)
    assert not state.done
    assert state.session_id is not None
    with pytest.raises(ValueError):
        state.response("a")


def test_text_falls_back_to_assistant_blocks_when_result_has_none():
    state = StreamState()
    lines = [
        {
            "type": "assistant",
            "session_id": "s1",
            "message": {"model": "m", "content": [{"type": "text", "text": "a"}]},
        },
        {"type": "assistant", "session_id": "s1", "message": {"model": "m", "content": [{"type": "tool_use"}]}},
        {
            "type": "assistant",
            "session_id": "s2",
            "message": {"model": "m", "content": [{"type": "text", "text": "b"}]},
        },
        {"type": "result", "subtype": "error_max_turns", "is_error": True, "errors": []},
    ]
    for event in lines:
        state.feed(json.dumps(event).encode())
    r = state.response("a")
    assert r.text == "a\nb"
    assert r.session_id is None  # a session is taken only from the turn's own init, never from other events
    assert r.model == "m"
    assert r.error == "a\nb"


def test_noise_and_broken_lines_are_skipped_and_nothing_after_result_counts():
    state = StreamState()
    feed = [
        b"\x1b[2K\x1b]0;title\x07spinner",
        b"",
        b"{not json",
        b"[1, 2]",
        b'{"no_type": 1}',
        b"\xff\xfe not UTF-8",
        b'{"type":"system","subtype":"init","session_id":"%s","model":"m"}\r' % SID,
        b'{"type":"result","subtype":"success","is_error":false,"result":"ok","session_id":"%s"}\r' % SID,
        b'{"type":"result","subtype":"success","is_error":true,"result":"late","session_id":"other"}',
    ]
    events = [state.feed(line) for line in feed]
    assert events[:6] == [None] * 6
    r = state.response("a")
    assert (r.text, r.session_id, r.is_error) == ("ok", SID.decode(), False)


def test_subagent_text_is_not_the_answer():
    state = StreamState()
    sub = {"type": "assistant", "parent_tool_use_id": "t1", "message": {"content": [{"type": "text", "text": "x"}]}}
    state.feed(json.dumps(sub).encode())
    state.feed(b'{"type":"result","subtype":"error_during_execution","is_error":true}')
    assert state.response("a").text == ""


def test_describe_event_gives_short_progress_lines():
    lines = [json.loads(x) for x in (FIXTURES / "11_apikey_tool_bash.stdout").read_text().splitlines()]
    described = [describe_event(e) for e in lines]
    assert described[0] == "session started (claude-opus-4-8[1m])"
    assert "I will run a command." in described
    assert "Bash: echo hi-from-tool" in described
    assert described[-1] == "finished"
    assert describe_event({"type": "user"}) is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("10_apikey_text.stdout", None),
        ("12_apikey_write_denied.stdout", None),
        ("01_noauth_pipe.stdout", "not_logged_in"),
        ("17_apikey_401_retries.stdout", "not_logged_in"),
        ("14_apikey_max_turns.stdout", "max_turns"),
        ("15_apikey_max_budget.stdout", "max_budget"),
        ("16_apikey_model_404.stdout", "api_error"),
        ("18_apikey_500.stdout", "api_error"),
        ("19_apikey_529.stdout", "api_error"),
        ("21_apikey_prompt_too_long.stdout", "api_error"),
        ("27_connection_refused.stdout", "api_error"),
        ("20_apikey_429.stdout", "rate_limited"),
        ("24_oauth_rate_limit_rejected_429.stdout", "rate_limited"),
        ("04_resume_unknown.stdout", "resume_failed"),
        ("05_resume_not_uuid.stdout", "resume_failed"),
        ("31_apikey_resume_other_cwd.stdout", "resume_failed"),
        ("28_apikey_sigint.stdout", "cancelled"),
    ],
)
def test_error_kind_of_every_capture(name, kind):
    _, r = parse(name)
    assert r.error_kind == kind
    assert r.is_error is (kind is not None)


def test_files_changed_are_the_successful_file_edits():
    state = StreamState()

    def tool(tool_id: str, name: str, **tool_input: str) -> bytes:
        content = [{"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}]
        return json.dumps({"type": "assistant", "message": {"content": content}}).encode()

    def result(tool_id: str, is_error: bool) -> bytes:
        block = {"type": "tool_result", "tool_use_id": tool_id, "content": "x", "is_error": is_error}
        return json.dumps({"type": "user", "message": {"role": "user", "content": [block]}}).encode()

    for line in [
        tool("1", "Write", file_path="/w/a.py", content="x"),
        tool("2", "Edit", file_path="/w/b.py", old_string="a", new_string="b"),
        tool("3", "Bash", command="touch /w/c.py"),
        tool("4", "NotebookEdit", notebook_path="/w/n.ipynb"),
        tool("5", "Write", file_path="/w/denied.py"),
        tool("6", "Edit", file_path="/w/a.py"),
        result("1", False),
        result("2", False),
        result("3", False),
        result("4", False),
        result("5", True),
        result("6", False),
        b'{"type":"result","subtype":"success","is_error":false,"result":"ok"}',
    ]:
        state.feed(line)
    assert state.response("a").files_changed == ["/w/a.py", "/w/b.py", "/w/n.ipynb"]


def test_denied_write_in_the_capture_changes_no_file():
    _, r = parse("12_apikey_write_denied.stdout")
    assert r.files_changed == []


def test_denied_tool_uses_are_named_with_what_they_were_for():
    _, r = parse("12_apikey_write_denied.stdout")
    assert [(d.tool_name, d.summary) for d in r.permission_denials] == [("Write", "/scratch/mock_written.txt")]
    assert r.model_dump(mode="json")["permission_denials"] == [
        {"tool_name": "Write", "summary": "/scratch/mock_written.txt"}
    ]


def test_a_result_leaves_out_the_fields_that_say_nothing_but_keeps_the_contracts():
    _, r = parse("10_apikey_text.stdout")
    data = r.model_dump(mode="json")
    for absent in ("permission_denials", "files_changed", "text_truncated", "text_chars", "error_kind",
                   "api_error_status", "rate_limit_type", "rate_limit_status", "rate_limit_resets_at"):  # fmt: skip
        assert absent not in data, absent
    for present in ("agent", "run_id", "text", "session_id", "model", "api_key_source", "cost_usd",
                    "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
                    "duration_ms", "num_turns", "is_error", "error", "subtype"):  # fmt: skip
        assert present in data, present
    assert type(r).model_validate(data) == r  # read back, the defaults fill in what was left out


def test_a_turn_on_a_warm_process_starts_at_its_own_init():
    """What the last turn left behind (a late result) is dropped until this turn's system/init."""
    state = StreamState(awaiting_init=True, resumed=SID.decode())
    stale = {"type": "result", "subtype": "success", "is_error": False, "result": "left behind", "session_id": "s"}
    assert state.feed(json.dumps(stale).encode()) is None and not state.done
    state.feed(json.dumps({"type": "system", "subtype": "init", "session_id": SID.decode(), "model": "m"}).encode())
    state.feed(json.dumps({**stale, "result": "this turn's", "session_id": SID.decode()}).encode())
    assert state.done and state.response("a").text == "this turn's"
    assert state.leftovers == 1  # counted: the process gets no further turn


def test_a_large_tool_output_counts_only_while_a_file_edit_awaits_its_result():
    """Megabytes of a tool's output are not parsed when nothing awaits them; a file edit's result is."""
    output = "y" * (LONG_LINE_BYTES + 1)

    def result_of(tool_use_id: str) -> bytes:
        block = {"tool_use_id": tool_use_id, "type": "tool_result", "content": output, "is_error": False}
        return json.dumps({"type": "user", "message": {"role": "user", "content": [block]}, "session_id": "s"},
                          separators=(",", ":")).encode()  # fmt: skip

    state = StreamState()
    assert state.feed(result_of("toolu_1")) is None  # skipped: nothing awaits it
    write = {"type": "tool_use", "id": "toolu_2", "name": "Write", "input": {"file_path": "/w/f.txt"}}
    state.feed(json.dumps({"type": "assistant", "message": {"content": [write]}, "session_id": "s"}).encode())
    assert state.feed(result_of("toolu_2")) is not None
    assert state.files_changed == ["/w/f.txt"]
