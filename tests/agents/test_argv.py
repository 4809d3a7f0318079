"""The argv handed to the CLI, and that the CLI's own option rules (in the double) read it as meant."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import DOUBLE

from agent_mcp.agents.claude._argv import build_argv
from agent_mcp.agents.commands import role_text
from agent_mcp.core.models import AgentOptions

spec = importlib.util.spec_from_file_location("fake_claude", DOUBLE)
assert spec and spec.loader
fake_claude = importlib.util.module_from_spec(spec)
sys.modules["fake_claude"] = fake_claude
spec.loader.exec_module(fake_claude)


def test_minimal_argv():
    assert build_argv("claude", "dev", "tests", AgentOptions(), None) == [
        "claude",
        "-p",
        "--input-format=stream-json",
        "--output-format=stream-json",
        "--verbose",
        "--append-system-prompt=You are agent 'dev' with role: tests. Work autonomously on the task given.",
    ]


def test_every_option_is_one_entry_in_the_equals_form():
    options = AgentOptions(
        model="sonnet",
        permission_mode="acceptEdits",
        allowed_tools=["Read", "Bash(git *)"],
        disallowed_tools=["WebFetch"],
        max_turns=3,
        max_budget_usd=0.5,
        add_dirs=["/a", "/b c"],
    )
    argv = build_argv("/bin/claude", "dev", "-r", options, "11111111-2222-3333-4444-555555555555")
    assert argv == [
        "/bin/claude",
        "-p",
        "--input-format=stream-json",
        "--output-format=stream-json",
        "--verbose",
        "--resume=11111111-2222-3333-4444-555555555555",
        "--append-system-prompt=" + role_text("dev", "-r"),
        "--model=sonnet",
        "--permission-mode=acceptEdits",
        "--allowedTools=Read,Bash(git *)",
        "--disallowedTools=WebFetch",
        "--max-turns=3",
        "--max-budget-usd=0.5",
        "--add-dir=/a",
        "--add-dir=/b c",
    ]


def test_the_cli_rules_read_the_argv_as_meant_and_leave_no_prompt_in_it():
    options = AgentOptions(allowed_tools=["Read"], add_dirs=["/a", "/b"], model="-weird")
    argv = build_argv("claude", "dev", "--help me", options, "sid")
    opts, positionals = fake_claude.parse_args(argv[1:])
    assert positionals == []  # the prompt goes on stdin
    assert opts["--resume"] == "sid"
    assert opts["--append-system-prompt"] == role_text("dev", "--help me")
    assert opts["--allowedTools"] == ["Read"]
    assert opts["--add-dir"] == ["/a", "/b"]
    assert opts["--model"] == "-weird"


def test_the_double_applies_the_variadic_trap_like_the_cli():
    """docs/claude-cli.md#argv: a space-separated variadic option swallows what follows; `=` does not."""
    opts, positionals = fake_claude.parse_args(["-p", "--add-dir", "/tmp", "hello"])
    assert opts["--add-dir"] == ["/tmp", "hello"] and positionals == []
    opts, positionals = fake_claude.parse_args(["-p", "--add-dir=/tmp", "hello"])
    assert opts["--add-dir"] == ["/tmp"] and positionals == ["hello"]
    with pytest.raises(fake_claude.Exit):
        fake_claude.parse_args(["-p", "-x foo"])


def test_the_role_s_entry_fits_the_room_core_leaves_every_kind():
    """core's largest_role leaves ROLE_ROOM bytes for what a kind adds to the role; claude's flag and its
    sentence naming the agent (the longest name) fit in it, so the largest role still goes in one entry."""
    from agent_mcp.agents.claude._argv import role_overhead
    from agent_mcp.core.environment import MAX_ARG_BYTES, ROLE_ROOM, largest_role

    assert role_overhead() <= ROLE_ROOM
    argv = build_argv("claude", "n" * 64, "r" * largest_role(), AgentOptions(), None)
    assert max(len(entry.encode()) for entry in argv) <= MAX_ARG_BYTES
