"""The codex kind's parser, argv and steps on the real CLI's captures (tests/fixtures/codex/)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from agent_mcp.agents import KINDS
from agent_mcp.agents.codex._argv import build_argv, toml_string
from agent_mcp.agents.codex.kind import CodexKind
from agent_mcp.agents.commands import role_text
from agent_mcp.agents.kind import unhonoured
from agent_mcp.core.environment import MAX_ARG_BYTES, ROLE_ROOM
from agent_mcp.core.models import AgentOptions

FIXTURES = Path(__file__).parents[1] / "fixtures" / "codex"
KIND = CodexKind()


def lines(name: str) -> list[bytes]:
    return (FIXTURES / f"{name}.stdout").read_bytes().split(b"\n")


def read(name: str, resumed: str | None = None):  # type: ignore[no-untyped-def]
    reader = KIND.reader(resumed=resumed, awaiting_init=False)
    steps = [step for line in lines(name) if (step := reader.feed(line)) is not None]
    return reader, steps


def thread_of(name: str) -> str:
    return str(json.loads(lines(name)[0])["thread_id"])


def test_a_plain_turn_is_the_last_agent_message_with_its_tokens_and_no_cost():
    reader, steps = read("01_text")
    assert reader.done and reader.answered and reader.violation is None
    response = reader.response("dev")
    assert response.text == "Mock reply #1. Last user text tail: hello MOCK_TEXT"
    assert response.session_id == thread_of("01_text")
    assert response.cost_usd is None and not response.is_error and response.error_kind is None
    # input 1234 of which 1000 cached: the uncached part and the cached part, as claude's are counted
    assert (response.input_tokens, response.cache_read_input_tokens, response.output_tokens) == (234, 1000, 56)
    assert [s.progress for s in steps if s.progress] == [
        "session started", "thinking", "Mock reply #1. Last user text tail: hello MOCK_TEXT", "finished"
    ]  # fmt: skip


def test_a_resumed_turn_must_name_the_thread_it_resumed():
    thread = thread_of("02_resume")
    reader, _ = read("02_resume", resumed=thread)
    assert reader.response("dev").session_id == thread and reader.violation is None
    other, _ = read("02_resume", resumed="01a244fd-0000-7000-8000-000000000000")
    assert other.violation is not None and "resumed thread" in other.violation and not other.answered


def test_the_running_total_of_a_resumed_thread_is_what_the_turn_reports():
    """The kind reports what codex said (the thread's total); the pool gives the difference."""
    assert [read(name)[0].response("dev").output_tokens for name in ("01_text", "02_resume", "03_resume_again")] == [
        56, 112, 168
    ]  # fmt: skip
    assert KIND.capabilities.cumulative_usage


def test_a_command_is_a_tool_step_named_by_its_command():
    reader, steps = read("04_tool")
    entries = [e for s in steps for e in s.entries]
    uses = [e for e in entries if e.kind == "tool_use"]
    results = [e for e in entries if e.kind == "tool_result"]
    assert [e.summary for e in uses] == ["command: /bin/bash -lc 'sleep 1; echo slept'"]
    assert [e.summary for e in results] == ["slept"]
    assert "command: /bin/bash -lc 'sleep 1; echo slept'" in [s.progress for s in steps]
    assert reader.response("dev").text.endswith("run it MOCK_TOOL")


def test_a_file_change_is_a_tool_step_and_a_changed_file():
    reader, steps = read("17_patch")
    uses = [e.summary for s in steps for e in s.entries if e.kind == "tool_use"]
    assert len(uses) == 1 and uses[0].startswith("file_change: add ") and uses[0].endswith("/mock_patched.txt")
    [changed] = reader.response("dev").files_changed
    assert changed.endswith("/work/mock_patched.txt")


@pytest.mark.parametrize(
    ("name", "kind"),
    [("05_401", "not_logged_in"), ("16_no_key", "not_logged_in"), ("06_usage_limit", "rate_limited"),
     ("07_500", "api_error"), ("08_failed", "api_error")],
)  # fmt: skip
def test_a_failed_turn_is_an_error_of_its_kind(name, kind):
    reader, steps = read(name)
    response = reader.response("dev")
    assert response.is_error and response.error_kind == kind and response.cost_usd is None
    assert response.error == json.loads(lines(name)[-2])["error"]["message"]
    assert response.rate_limit_status == ("rejected" if kind == "rate_limited" else None)
    assert [e.kind for s in steps for e in s.entries][-1] == "error"


def test_a_turn_refused_at_a_usage_limit_did_no_work_and_an_answered_one_did():
    """For a pool that runs a turn again after the account's reset: only one where nothing happened."""
    assert not read("06_usage_limit")[0].worked and not read("05_401")[0].worked
    assert read("01_text")[0].worked and read("04_tool")[0].worked


def test_codex_keeps_its_state_in_codex_home():
    assert KIND.state_paths("/home/me", {}) == ("/home/me/.codex",)
    assert KIND.state_paths("/home/me", {"CODEX_HOME": "/srv/codex"}) == ("/srv/codex",)


def test_reconnecting_errors_do_not_fail_the_turn():
    reader, steps = read("18_reconnecting")
    response = reader.response("dev")
    assert not response.is_error and response.text.startswith("Mock reply #1")
    assert sum(1 for s in steps for e in s.entries if e.kind == "error") == 5  # four reconnects, the fallback item


@pytest.mark.parametrize("name", ["09_resume_unknown", "11_no_git", "12_empty_stdin", "13_bogus_flag"])
def test_a_failure_before_any_turn_leaves_the_reader_unanswered(name):
    reader, steps = read(name)
    assert not reader.done and not steps


def test_an_unknown_thread_is_a_failed_resume_and_any_other_exit_a_crash():
    tail = (FIXTURES / "09_resume_unknown.stderr").read_text()
    assert KIND.ended_without_result(1, None, tail)[0] == "resume_failed"
    kind, said = KIND.ended_without_result(1, None, (FIXTURES / "13_bogus_flag.stderr").read_text())
    assert kind == "crashed" and "exited with code 1" in said
    assert KIND.ended_without_result(None, 9)[1] == "the codex CLI was killed by signal 9 without ending its turn"


def test_the_argv_puts_exec_options_before_resume_and_reads_the_message_from_stdin():
    options = AgentOptions(model="-m", permission_mode="acceptEdits", add_dirs=["/a", "--b"], effort="max")
    argv = build_argv("codex", "dev", "a role", options, "01a244fd-a351-7c32-a13c-3879c27db86a")
    assert argv[:4] == ["codex", "exec", "--json", "--skip-git-repo-check"]
    assert argv[-3:] == ["resume", "01a244fd-a351-7c32-a13c-3879c27db86a", "-"]
    assert "--model=-m" in argv and "--sandbox=workspace-write" in argv and "--add-dir=--b" in argv
    assert '--config=model_reasoning_effort="xhigh"' in argv
    assert build_argv("codex", "dev", "r", AgentOptions(), None)[-1] == "-"


@pytest.mark.attack
@pytest.mark.parametrize(
    "role",
    ['"]\nmodel = "evil', "\\", "tab\there\x01\x7f", "''' triple", "é ☃ 😀", "-c x=1", "a\u2028b", '""'],
)
def test_a_hostile_role_is_one_toml_string_holding_exactly_the_role(role):
    """A role is written into a TOML value for `-c`: quotes, backslashes and controls must not end
    the string early, add a key, or change what codex reads."""
    [entry] = [a for a in build_argv("codex", "dev", role, AgentOptions(), None) if "developer_instructions" in a]
    key, _, value = entry.removeprefix("--config=").partition("=")
    assert key == "developer_instructions"
    assert tomllib.loads(f"v = {value}") == {"v": role_text("dev", role)}
    assert tomllib.loads(f"v = {toml_string(role)}") == {"v": role}


def test_the_role_entry_fits_exec_with_the_largest_role():
    role = "é\n\t" * ((MAX_ARG_BYTES - ROLE_ROOM) // 4)  # lines and tabs cost no escapes
    entry = next(a for a in build_argv("codex", "n" * 64, role, AgentOptions(), None) if "developer_" in a)
    assert len(entry.encode()) <= MAX_ARG_BYTES
    assert KIND.exec_problem(build_argv("codex", "dev", "r" * (MAX_ARG_BYTES + 1), AgentOptions(), None), {})


@pytest.mark.parametrize(
    ("options", "named"),
    [(AgentOptions(permission_mode="ask"), "permission_mode 'ask'"),
     (AgentOptions(max_budget_usd=1.0), "max_budget_usd"), (AgentOptions(max_turns=3), "max_turns"),
     (AgentOptions(allowed_tools=["Bash"]), "allowed_tools"),
     (AgentOptions(disallowed_tools=["Bash"]), "disallowed_tools"), (AgentOptions(mcp_config="/x.json"), "mcp_config")],
)  # fmt: skip
def test_an_option_codex_has_no_flag_for_is_named(options, named):
    refused = unhonoured(KIND, options)
    assert refused is not None and refused.startswith(named) and "codex" in refused
    assert unhonoured(KINDS["claude"], options) is None


def test_codex_is_a_kind_the_pool_knows():
    assert KINDS["codex"].name == "codex" and not KINDS["codex"].capabilities.warm_turns
    assert unhonoured(KIND, AgentOptions(model="gpt-5", permission_mode="plan", effort="low")) is None
