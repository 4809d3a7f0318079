#!/usr/bin/env python3
"""A test double of the `gemini` CLI (0.61.0) in headless stream-json mode, built from the captures.

tests/fixtures/gemini/ holds what the real CLI wrote against tests/mock_gemini.py, and
tests/agents/test_gemini_fidelity.py replays every capture against this double: the same flags (yargs:
`--flag=value` binds one value, `-p`'s value is appended to stdin), the same events with the same keys,
the same exit codes and fatal stderr texts, sessions kept per project directory under
~/.gemini/tmp/<project>/chats (so --resume works only from the directory a session was made in).

Like the real CLI it relaunches itself: the process started runs the double again as its child (same
process group, GEMINI_CLI_NO_RELAUNCH=true in its environment) and ignores SIGINT, SIGTERM and SIGHUP
while the child runs, then exits with the child's code. The child ends on SIGTERM/SIGINT/SIGHUP with
exit 0 and no result, as gemini's gracefulShutdown does.

The outcome is chosen as the mock's is, by the last path segment of GOOGLE_GEMINI_BASE_URL (ok, tool,
quota, quotaplain, badkey, 500), or by words in the prompt:
  MOCK_TOOL MOCK_QUOTA MOCK_QUOTAPLAIN MOCK_BADKEY MOCK_500   as the modes
  MOCK_SLEEP=<s>    waits s seconds before answering       MOCK_CRASH   exits 1 mid-turn, no result
  MOCK_ECHO_ARGV    the reply is the argv it got, as JSON  MOCK_ECHO_PROMPT  the reply is the prompt
  MOCK_BIGLINE=<n>  the reply is one delta of n x's        MOCK_ECHO_PID     the reply names the child's pid
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

RELAUNCHED = "GEMINI_CLI_NO_RELAUNCH"
STARTUP_NOISE = (
    "Warning: 256-color support not detected. Using a terminal with at least 256-color support is recommended "
    "for a better visual experience.\nRipgrep is not available. Falling back to GrepTool.\n"
    "[STARTUP] Phase 'cleanup_ops' was started but never ended. Skipping metrics.\n"
    "[STARTUP] Cannot measure phase 'cleanup_ops': start mark 'startup:cleanup_ops:start' not found (likely cleared "
    "by reset).\n"
)
UNTRUSTED = (
    "\x1b[31mGemini CLI is not running in a trusted directory. To proceed, either use `--skip-trust`, set the "
    "`GEMINI_CLI_TRUST_WORKSPACE=true` environment variable, or trust this directory in interactive mode. For more "
    "details, see https://geminicli.com/docs/cli/trusted-folders/#headless-and-automated-environments\x1b[0m\n"
)
QUOTA_DAY = (
    "[API Error: You have exhausted your daily quota on this model.]\nPlease wait and try again later. To increase "
    "your limits, request a quota increase through AI Studio, or switch to another /auth method"
)
QUOTA_PLAIN = (
    "[API Error: Resource has been exhausted (e.g. check quota).]\nPlease wait and try again later. To increase your "
    "limits, request a quota increase through AI Studio, or switch to another /auth method"
)
SERVER = {"error": {"code": 500, "message": "An internal error has occurred. Please retry or report in "
                    "https://developers.generativeai.google/guide/troubleshooting", "status": "INTERNAL"}}  # fmt: skip
BAD_KEY = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                     "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                     "metadata": {"service": "generativelanguage.googleapis.com"}}]}}  # fmt: skip
FAILURES = {
    "quota": (173, QUOTA_DAY),
    "quotaplain": (173, QUOTA_PLAIN),
    "500": (244, f"[API Error: {json.dumps(SERVER, separators=(',', ':'))}]"),
    "badkey": (144, f"[API Error: {json.dumps(BAD_KEY, separators=(',', ':'))}]"),
}
FLAGS = {"-p": "prompt", "--prompt": "prompt", "-m": "model", "--model": "model", "-r": "resume", "--resume": "resume",
         "-o": "output_format", "--output-format": "output_format", "--approval-mode": "approval_mode",
         "--allowed-tools": "allowed_tools", "--include-directories": "include_directories"}  # fmt: skip
SWITCHES = {"--skip-trust": "skip_trust", "-y": "yolo", "--yolo": "yolo"}
LISTS = ("allowed_tools", "include_directories")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(
        json.dumps({"type": event.pop("type"), "timestamp": now(), **event}, ensure_ascii=False, separators=(",", ":"))
        + "\n"
    )
    sys.stdout.flush()


def fail(message: str, code: int) -> None:
    sys.stderr.write(message)
    sys.stderr.flush()
    sys.exit(code)


def parse(argv: list[str]) -> dict[str, Any]:
    """yargs as gemini configures it: `--flag=value` or `--flag value`; a string flag without a value
    (or followed by another flag) is an error; an unknown flag is refused."""
    options: dict[str, Any] = {name: [] for name in LISTS}
    index = 0
    while index < len(argv):
        arg = argv[index]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in SWITCHES:
            options[SWITCHES[name]] = True
        elif name in FLAGS:
            if not eq:
                if index + 1 >= len(argv) or (argv[index + 1].startswith("-") and argv[index + 1] != ""):
                    fail(f"Not enough arguments following: {name.lstrip('-')}\n", 1)
                index += 1
                value = argv[index]
            key = FLAGS[name]
            if key in LISTS:
                options[key] += value.split(",")
            elif key in options:  # given twice: yargs makes an array, and a string of it joins with ","
                options[key] = f"{options[key]},{value}"
            else:
                options[key] = value
        else:
            fail(f"Unknown argument: {arg.lstrip('-')}\n", 1)
        index += 1
    return options


def gemini_home() -> Path:
    return Path(os.environ.get("GEMINI_CLI_HOME") or Path.home()) / ".gemini"


def check_auth() -> None:
    try:
        settings = json.loads((gemini_home() / "settings.json").read_text())
    except (OSError, ValueError):
        settings = {}
    selected = settings.get("security", {}).get("auth", {}).get("selectedType")
    key = os.environ.get("GEMINI_API_KEY")
    if selected == "gemini-api-key" and not key:
        fail("When using Gemini API, you must specify the GEMINI_API_KEY environment variable.\nUpdate your "
             "environment and try again (no reload needed if using .env)!\n", 41)  # fmt: skip
    if not selected and not key:
        fail("Invalid auth method selected.\n", 41)


def project_dir() -> Path:
    """~/.gemini/tmp/<short name of the cwd>, recorded in ~/.gemini/projects.json as the CLI does."""
    cwd = os.getcwd()
    registry = gemini_home() / "projects.json"
    try:
        projects = json.loads(registry.read_text()).get("projects", {})
    except (OSError, ValueError):
        projects = {}
    if cwd not in projects:
        base = Path(cwd).name or "root"
        taken = set(projects.values())
        short = base if base not in taken else f"{base}-{hashlib.sha256(cwd.encode()).hexdigest()[:6]}"
        projects[cwd] = short
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text(json.dumps({"projects": projects}))
    return gemini_home() / "tmp" / projects[cwd]


def session_file(session_id: str) -> Path | None:
    chats = project_dir() / "chats"
    found = sorted(chats.glob(f"session-*-{session_id[:8]}.jsonl")) if chats.is_dir() else []
    for path in found:
        if json.loads(path.read_text().splitlines()[0]).get("sessionId") == session_id:
            return path
    if not (chats.is_dir() and any(chats.iterdir())):
        fail("Error resuming session: No previous sessions found for this project.\n", 42)
    fail(f'Error resuming session: Invalid session identifier "{session_id}".\n  Searched for sessions in {chats}.\n'
         "  Use --list-sessions to see available sessions, then use --resume {number}, --resume {uuid}, or --resume "
         "latest.\n", 42)  # fmt: skip
    return None


def stats(tokens: int, tool_calls: int, duration_ms: int) -> dict[str, Any]:
    per_model = {"total_tokens": tokens + 35 if tokens else 0, "input_tokens": tokens, "output_tokens": 17 if tokens
                 else 0, "cached": 100 if tokens else 0, "input": tokens - 100 if tokens else 0}  # fmt: skip
    return {**per_model, "duration_ms": duration_ms, "tool_calls": tool_calls, "models": {"gemini-2.5-pro": per_model}}


def reply_text(prompt: str, options: dict[str, Any]) -> list[str]:
    if "MOCK_ECHO_ARGV" in prompt:
        return [json.dumps(sys.argv[1:])]
    if "MOCK_ECHO_PROMPT" in prompt:
        return [prompt]
    if "MOCK_ECHO_PID" in prompt:
        return [f"pid {os.getpid()} parent {os.getppid()}"]
    if match := re.search(r"MOCK_BIGLINE=(\d+)", prompt):
        return ["x" * int(match.group(1))]
    return ["Hello from ", "the gemini mock."]


def turn(options: dict[str, Any], prompt: str, path: Path | None) -> None:
    started = time.monotonic()
    resume = options.get("resume")
    session_id = resume or str(uuid.uuid4())
    mode = os.environ.get("GOOGLE_GEMINI_BASE_URL", "").rstrip("/").rsplit("/", 1)[-1]
    for word in ("TOOL", "QUOTAPLAIN", "QUOTA", "BADKEY", "500"):
        if f"MOCK_{word}" in prompt:
            mode = word.lower()
            break
    emit({"type": "init", "session_id": session_id, "model": options.get("model", "auto")})
    emit({"type": "message", "role": "user", "content": prompt})
    record(path, session_id, prompt)  # at once, as gemini does: a turn cut short leaves its session behind
    if match := re.search(r"MOCK_SLEEP=([\d.]+)", prompt):
        time.sleep(float(match.group(1)))
    if "MOCK_CRASH" in prompt:
        fail("Error: the double crashed\n", 1)
    if mode in FAILURES:
        code, message = FAILURES[mode]
        emit({"type": "result", "status": "error", "error": {"type": "unknown", "message": message},
              "stats": stats(0, 0, 0)})  # fmt: skip
        sys.exit(code)
    tools = 0
    if mode == "tool":
        tools = 1
        tool_id = f"run_shell_command__run_shell_command_{int(time.time() * 1000)}_0"
        emit({"type": "tool_use", "tool_name": "run_shell_command", "tool_id": tool_id,
              "parameters": {"command": "echo slept", "description": "echo"}})  # fmt: skip
        allowed = options.get("yolo") or options.get("approval_mode") == "yolo"
        if allowed or "run_shell_command" in options["allowed_tools"]:
            emit({"type": "tool_result", "tool_id": tool_id, "status": "success", "output": "slept"})
        else:
            message = 'Tool "run_shell_command" not found. Did you mean one of: "update_topic", "grep_search"?'
            emit({"type": "tool_result", "tool_id": tool_id, "status": "error", "output": message,
                  "error": {"type": "tool_not_registered", "message": message}})  # fmt: skip
    for piece in reply_text(prompt, options):
        emit({"type": "message", "role": "assistant", "content": piece, "delta": True})
    duration = int((time.monotonic() - started) * 1000)
    emit({"type": "result", "status": "success", "stats": stats(905 + 900 * tools, tools, duration)})


def record(path: Path | None, session_id: str, prompt: str) -> None:
    if path is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H-%M")
        path = project_dir() / "chats" / f"session-{stamp}-{session_id[:8]}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"sessionId": session_id}) + "\n")
    with path.open("a") as chat:
        chat.write(json.dumps({"type": "user", "content": prompt}) + "\n")


def relaunch() -> None:
    """The parent: deaf to the signals a terminal sends, it waits for its child and exits as it did."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    env = {**os.environ, RELAUNCHED: "true"}
    child = subprocess.Popen([sys.executable, __file__, *sys.argv[1:]], env=env, preexec_fn=_default_signals)
    sys.exit(child.wait())


def _default_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _graceful(_signum: int, _frame: object) -> None:
    sys.stdout.flush()
    os._exit(0)


def main() -> None:
    if not os.environ.get(RELAUNCHED) and not os.environ.get("SANDBOX"):
        relaunch()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _graceful)
    options = parse(sys.argv[1:])
    if not options.get("skip_trust") and os.environ.get("GEMINI_CLI_TRUST_WORKSPACE") != "true":
        fail(UNTRUSTED, 55)
    check_auth()
    path = session_file(options["resume"]) if options.get("resume") else None
    stdin = "" if sys.stdin.isatty() else sys.stdin.buffer.read(8 << 20).decode("utf-8", "replace")
    given = options.get("prompt") or ""
    prompt = f"{stdin}\n\n{given}" if stdin and given else stdin or given
    sys.stderr.write(STARTUP_NOISE)
    if not prompt:
        fail("No input provided via stdin. Input can be provided by piping data into gemini or using the --prompt "
             "option.\n", 42)  # fmt: skip
    turn(options, prompt, path)


if __name__ == "__main__":
    main()
