"""The gemini kind's reader on what the real CLI wrote (tests/fixtures/gemini/), its argv and its exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_mcp.agents import KINDS, kind_for, stripped_env
from agent_mcp.agents.commands import role_text
from agent_mcp.agents.gemini._argv import PROMPT_FLAG
from agent_mcp.agents.gemini.kind import GeminiKind, GeminiReader
from agent_mcp.agents.kind import unhonoured
from agent_mcp.core.environment import MAX_ARG_BYTES, ROLE_ROOM
from agent_mcp.core.errors import InvalidInput
from agent_mcp.core.models import AgentOptions, AgentResponse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gemini"
KIND = GeminiKind()


def read(name: str, resumed: str | None = None) -> tuple[GeminiReader, list]:
    reader = KIND.reader(resumed=resumed, awaiting_init=False)
    steps = [reader.feed(line) for line in (FIXTURES / f"{name}.stdout").read_bytes().splitlines()]
    return reader, steps


def answer(name: str, resumed: str | None = None) -> AgentResponse:
    reader, _ = read(name, resumed)
    assert reader.done and reader.answered and reader.violation is None
    return reader.response("g")


def test_a_plain_turn_is_its_deltas_joined_its_session_and_its_tokens() -> None:
    first = json.loads((FIXTURES / "01_text.stdout").read_bytes().splitlines()[0])
    response = answer("01_text")
    assert response.text == "Hello from the gemini mock."
    assert response.session_id == first["session_id"]
    assert (response.input_tokens, response.output_tokens, response.cache_read_input_tokens) == (805, 17, 100)
    assert response.cache_creation_input_tokens == 0
    assert response.cost_usd is None  # gemini reports no cost: unknown, not free
    assert response.model == "gemini-2.5-pro"  # init said "auto": the stats name the model that answered
    assert response.duration_ms is not None and not response.is_error and response.error_kind is None


def test_a_resumed_turn_names_the_session_it_resumed() -> None:
    session = json.loads((FIXTURES / "01_text.stdout").read_bytes().splitlines()[0])["session_id"]
    assert answer("02_resume", resumed=session).session_id == session
    reader, _ = read("02_resume", resumed="0badc0de-0000-4000-8000-000000000000")
    assert reader.violation is not None and "resumed session" in reader.violation


def test_a_chosen_model_is_the_one_init_names_when_the_stats_name_none() -> None:
    reader = KIND.reader(resumed=None, awaiting_init=False)
    init = (FIXTURES / "13_model.stdout").read_bytes().splitlines()[0]
    reader.feed(init)
    reader.feed(b'{"type":"result","timestamp":"t","status":"success","stats":{}}')
    assert reader.response("g").model == "gemini-2.5-flash"


def test_tool_steps_are_named_in_the_transcript_and_in_progress() -> None:
    _, steps = read("03_tool_yolo")
    entries = [entry for step in steps if step is not None for entry in step.entries]
    kinds = [(entry.kind, entry.summary) for entry in entries]
    assert ("tool_use", "run_shell_command: echo slept") in kinds
    assert ("tool_result", "slept") in kinds
    assert ("text", "Hello from the gemini mock.") in kinds
    assert "run_shell_command: echo slept" in [step.progress for step in steps if step is not None]
    assert [step for step in steps if step is not None][-1].progress == "finished"


def test_a_tool_gemini_would_not_run_headless_is_an_error_result_in_the_transcript() -> None:
    _, steps = read("04_tool_default")
    results = [entry for step in steps if step is not None for entry in step.entries if entry.kind == "tool_result"]
    assert results[0].summary.startswith('error: Tool "run_shell_command" not found')


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [("06_quota_day", "rate_limited", None), ("14_quota_plain", "rate_limited", None),
     ("07_server_500", "api_error", 500), ("08_badkey", "not_logged_in", 400)],
)  # fmt: skip
def test_a_failed_result_is_typed_from_its_real_shape(name: str, kind: str, status: int | None) -> None:
    response = answer(name)
    assert response.is_error and response.subtype == "error"
    assert response.error_kind == kind and response.api_error_status == status
    assert response.error and response.text == response.error  # no answer: the CLI's error is the text
    assert response.input_tokens == 0


def test_a_file_counts_as_changed_once_its_tool_succeeded() -> None:
    reader = KIND.reader(resumed=None, awaiting_init=False)
    for line in (
        '{"type":"init","session_id":"a94cf1d4-068f-4975-9b86-328ef65e182b","model":"auto"}',
        '{"type":"tool_use","tool_name":"write_file","tool_id":"w1","parameters":{"file_path":"/w/a.txt"}}',
        '{"type":"tool_use","tool_name":"replace","tool_id":"w2","parameters":{"file_path":"/w/b.txt"}}',
        '{"type":"tool_result","tool_id":"w1","status":"success","output":"ok"}',
        '{"type":"tool_result","tool_id":"w2","status":"error","output":"no"}',
        '{"type":"result","status":"success","stats":{}}',
    ):
        reader.feed(line.encode())
    assert reader.response("g").files_changed == ["/w/a.txt"]


@pytest.mark.parametrize(
    ("code", "tail", "kind"),
    [(41, "Invalid auth method selected.", "not_logged_in"),
     (42, 'Error resuming session: Invalid session identifier "x".', "resume_failed"),
     (42, "Error resuming session: No previous sessions found for this project.", "resume_failed"),
     (42, "No input provided via stdin.", "crashed"), (52, "", "crashed"), (53, "", "max_turns"),
     (55, "not running in a trusted directory", "crashed"), (130, "", "cancelled"), (173, "", "rate_limited"),
     (144, "", "api_error"), (244, "", "api_error"), (0, "", "crashed"), (1, "", "crashed")],
)  # fmt: skip
def test_an_exit_without_a_result_is_typed_by_its_code(code: int, tail: str, kind: str) -> None:
    got, said = KIND.ended_without_result(code, None, tail)
    assert got == kind and f"exit code {code}" in said and said.startswith("the gemini CLI")


def test_a_signal_is_a_crash() -> None:
    assert KIND.ended_without_result(None, 9, "")[0] == "crashed"


def test_the_captured_fatal_exits_are_typed_from_their_stderr() -> None:
    cases = {case["name"]: case for case in json.loads((FIXTURES / "INDEX.json").read_text())}
    expected = {"05_noauth": "not_logged_in", "05c_key_missing": "not_logged_in",
                "09_resume_unknown": "resume_failed", "16_resume_unknown_in_project": "resume_failed"}  # fmt: skip
    for name, kind in expected.items():
        tail = (FIXTURES / f"{name}.stderr").read_text()
        assert KIND.ended_without_result(cases[name]["exit_code"], None, tail)[0] == kind, name


def test_argv_new_session_resumed_session_and_options() -> None:
    options = AgentOptions(model="-m", permission_mode="acceptEdits", allowed_tools=["run_shell_command"],
                           add_dirs=["/w/x"])  # fmt: skip
    new = KIND.argv("gemini", "a", "--yolo reviewer", options, None)
    assert new == ["gemini", "--output-format=stream-json", "--skip-trust",
                   "--prompt=You are agent 'a' with role: --yolo reviewer. Work autonomously on the task given.",
                   "--model=-m", "--approval-mode=auto_edit", "--allowed-tools=run_shell_command",
                   "--include-directories=/w/x"]  # fmt: skip
    resumed = KIND.argv("gemini", "a", "r", AgentOptions(), "a94cf1d4-068f-4975-9b86-328ef65e182b")
    assert resumed == ["gemini", "--output-format=stream-json", "--skip-trust", "--prompt=",
                       "--resume=a94cf1d4-068f-4975-9b86-328ef65e182b"]  # fmt: skip
    assert all(arg.startswith("--") and "=" in arg for arg in new[1:] if arg != "--skip-trust")


@pytest.mark.parametrize(
    ("options", "named"),
    [(AgentOptions(max_turns=3), "max_turns"), (AgentOptions(max_budget_usd=1.0), "max_budget_usd"),
     (AgentOptions(effort="high"), "effort"), (AgentOptions(disallowed_tools=["x"]), "disallowed_tools"),
     (AgentOptions(mcp_config={"mcpServers": {}}), "mcp_config"), (AgentOptions(permission_mode="ask"), "'ask'"),
     (AgentOptions(permission_mode="auto"), "'auto'"), (AgentOptions(add_dirs=["/a,b"]), "comma")],
)  # fmt: skip
def test_an_option_gemini_has_no_flag_for_is_refused_naming_it(options: AgentOptions, named: str) -> None:
    """An option with no flag at all is refused by what the kind says it takes (create_agent asks
    unhonoured()); a value gemini cannot take by its argv."""
    why = unhonoured(KIND, options)
    if why is None:
        with pytest.raises(InvalidInput) as refused:
            KIND.argv("gemini", "a", "r", options, None)
        why = str(refused.value)
    assert named in why and "gemini" in why


def test_the_message_is_its_own_bytes_and_never_argv() -> None:
    message = "-p --yolo\n\u2028é" + "x" * (4 << 20)
    assert KIND.message_frame(message) == message.encode("utf-8")
    argv = KIND.argv("gemini", "a", "r", AgentOptions(), None)
    assert not any(message[:20] in arg for arg in argv)


def test_the_role_fits_core_s_room_and_a_too_long_argv_is_named() -> None:
    assert len((PROMPT_FLAG + role_text("n" * 64, "")).encode()) <= ROLE_ROOM  # the role's argv entry
    argv = KIND.argv("gemini", "a", "r" * MAX_ARG_BYTES, AgentOptions(), None)
    problem = KIND.exec_problem(argv, {})
    assert problem is not None and "--prompt" in problem and "gemini CLI" in problem


def test_the_kind_is_registered_and_says_what_it_cannot() -> None:
    assert isinstance(kind_for("gemini"), GeminiKind) and KINDS["gemini"].name == "gemini"
    capabilities = KIND.capabilities
    assert not (capabilities.warm_turns or capabilities.ask_mode or capabilities.budgets or capabilities.effort)
    assert KIND.bin_setting == "gemini_bin"
    assert "GEMINI_CLI_NO_RELAUNCH" in stripped_env() and "CLAUDECODE" in stripped_env()
    missing = KIND.not_found("/nope/gemini", None)
    assert missing.kind == "cli_not_found" and "AGENT_MCP_GEMINI_BIN" in str(missing)
