#!/usr/bin/env python3
"""A test double of the `codex` CLI (codex-cli 0.171.0): `codex exec --json`, `--version`, `login status`
and `login --with-api-key`.

Built from the captures in tests/fixtures/codex/ (tests/capture_codex.py made them, against
tests/mock_openai.py), and held to them by tests/agents/test_codex_double_fidelity.py: the same
options with clap's rules (`--opt value` and `--opt=value`; an unknown option, or one of exec's own
after `resume`, fails with exit 2 and clap's words), the prompt read from stdin with `-` (verbatim;
empty: "No prompt provided via stdin."), the refusal outside a git repository without
--skip-git-repo-check, the same JSONL events, stderr texts and exit codes, and threads kept as rollout
files under $CODEX_HOME/sessions/ (so `resume` of an unknown id fails as in 09_resume_unknown, and
turn.completed's usage is the thread's running total). The thread keeps its first turn's
developer_instructions (-c), as codex does.

Credentials as codex reads them: CODEX_API_KEY, or $CODEX_HOME/auth.json; none: the 401 flow.
Behaviour is chosen by words in the prompt, as with the mock API:
  MOCK_TEXT (default)  one reply: "Mock reply. Last user text tail: <last 60 characters>"
  MOCK_TOOL            a command_execution (`sleep 1; echo slept`, run for real), then the reply
  MOCK_PATCH           a file_change adding mock_patched.txt in the cwd, when the sandbox lets it
                       (workspace-write, or no sandbox); refused in read-only, as codex does
  MOCK_401 MOCK_USAGE MOCK_500 MOCK_FAILED   the API's failures, as codex reports them
  MOCK_RECONNECT       five non-fatal Reconnecting errors and an error item before the reply
  MOCK_SLEEP=<s>       wait s seconds before answering
  MOCK_ECHO_ARGV       adds the argv it was started with to the reply, as JSON
  MOCK_ECHO_ENV=<name> adds the variable's value (or <unset>) to the reply (each one named)
  MOCK_ECHO_ROLE       adds the thread's developer_instructions to the reply
  MOCK_ECHO_PROMPT     the reply is the whole prompt, as read (the sha256 and length of it, too)
  MOCK_BIGLINE=<n>     the reply is n x's
Faults a real process can have:
  MOCK_CRASH           dies mid-turn (stderr message, exit 3, no turn.completed)
  MOCK_GRANDCHILD      leaves a child that ignores SIGTERM and writes its pid to grandchild.pid in the cwd
  MOCK_GARBAGE         non-JSON lines and escape sequences between events
  MOCK_V2              events of another version of the protocol (thread.begin, turn.end)
  MOCK_FORGE=<id>      thread.started names that thread instead of its own
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

VERSION = "codex-cli 0.171.0"
FLAGS = {"--json", "--skip-git-repo-check", "--ephemeral", "--oss", "--strict-config", "--ignore-user-config",
         "--ignore-rules", "--dangerously-bypass-approvals-and-sandbox", "--approve-for-me", "--last", "--all",
         "--trust", "--worktree", "--dangerously-bypass-hook-trust"}  # fmt: skip
VALUES = {"-c": "--config", "-m": "--model", "-s": "--sandbox", "-C": "--cd", "-p": "--profile", "-i": "--image",
          "-o": "--output-last-message"}  # fmt: skip
LONG_VALUES = {*VALUES.values(), "--add-dir", "--color", "--output-schema", "--enable", "--disable", "--remote",
               "--local-provider", "--thread-source", "--remote-auth-token-env", "--cyber-access-program"}  # fmt: skip
EXEC_ONLY = {"--sandbox", "--cd", "--add-dir", "--profile", "--color", "--oss", "--local-provider",
             "--approve-for-me"}  # fmt: skip
"""Options of exec that are not global: refused after `resume` (15_resume_sandbox_after)."""
SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
USAGE = {"input_tokens": 1234, "cached_input_tokens": 1000, "cache_write_input_tokens": 0, "output_tokens": 56,
         "reasoning_output_tokens": 10}  # fmt: skip
TOOL_USAGE = {"input_tokens": 100, "cached_input_tokens": 0, "cache_write_input_tokens": 0, "output_tokens": 5,
              "reasoning_output_tokens": 10}  # fmt: skip
URL = "http://127.0.0.1:{port}/v1/responses"
EXEC_USAGE = "Usage: codex exec [OPTIONS] [PROMPT]\n       codex exec [OPTIONS] <COMMAND> [ARGS]\n"
RESUME_USAGE = "Usage: codex exec resume [OPTIONS] [SESSION_ID] [PROMPT]\n"
USAGE_LIMIT = (
    "You\u2019ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
    "https://chatgpt.com/settings/usage to purchase more credits or try again at 7:56 AM."
)
HIGH_DEMAND = "We\u2019re currently experiencing high demand, which may cause temporary errors."


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def fail(text: str, code: int) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()
    sys.exit(code)


def clap_error(argument: str, usage: str) -> None:
    fail(f"error: unexpected argument '{argument}' found\n\n  tip: to pass '{argument}' as a value, use "
         f"'-- {argument}'\n\n{usage}\nFor more information, try '--help'.\n", 2)  # fmt: skip


def parse(args: list[str]) -> tuple[dict[str, list[str]], list[str], bool]:
    """exec's options (name -> values), its positionals, and whether `resume` came."""
    options: dict[str, list[str]] = {}
    positionals: list[str] = []
    resumed = False
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "resume" and not resumed and not positionals:
            resumed = True
            continue
        if arg == "-" or not arg.startswith("-"):
            positionals.append(arg)
            continue
        name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg[:2], bool(arg[2:]), arg[2:])
        name = VALUES.get(name, name)
        if name in FLAGS and not has_value:
            options.setdefault(name, []).append("")
        elif name in LONG_VALUES:
            if not has_value:
                if index >= len(args):
                    fail(f"error: a value is required for '{name} <VALUE>' but none was supplied\n", 2)
                value = args[index]
                index += 1
            options.setdefault(name, []).append(value)
        else:
            clap_error(arg, RESUME_USAGE if resumed else EXEC_USAGE)
        if resumed and name in EXEC_ONLY:
            clap_error(arg, RESUME_USAGE)
    return options, positionals, resumed


def config_value(text: str) -> object:
    """A -c value as codex takes it: TOML, else the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def in_git_repo(path: Path) -> bool:
    return any((parent / ".git").exists() for parent in [path, *path.parents])


def rollout_of(home: Path, thread: str) -> Path | None:
    found = list((home / "sessions").glob(f"*/*/*/rollout-*-{thread}.jsonl"))
    return found[0] if found else None


def new_rollout(home: Path, thread: str) -> Path:
    now = time.gmtime()
    folder = home / "sessions" / time.strftime("%Y/%m/%d", now)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"rollout-{time.strftime('%Y-%m-%dT%H-%M-%S', now)}-{thread}.jsonl"


def read_rollout(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().split("\n") if line]


def uuid7() -> str:
    """Thread ids are UUIDv7: time first."""
    value = (int(time.time() * 1000) << 80) | (7 << 76) | (uuid.uuid4().int & ((1 << 76) - 1))
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)
    return str(uuid.UUID(int=value))


def failed_turn(message: str, retries: list[str]) -> None:
    for retry in retries:
        emit({"type": "error", "message": retry})
    emit({"type": "error", "message": message})
    emit({"type": "turn.failed", "error": {"message": message}})
    sys.exit(1)


def reply_text(prompt: str, argv: list[str], instructions: str) -> str:
    if size := re.search(r"MOCK_BIGLINE=(\d+)", prompt):
        return "x" * int(size.group(1))
    if "MOCK_ECHO_PROMPT" in prompt:
        digest = hashlib.sha256(prompt.encode()).hexdigest()
        return f"sha256={digest} chars={len(prompt)}\n{prompt}"
    text = "Mock reply. Last user text tail: " + prompt.strip().replace("\n", " ")[-60:]
    if "MOCK_ECHO_ARGV" in prompt:
        text += "\nargv=" + json.dumps(argv)
    for variable in re.findall(r"MOCK_ECHO_ENV=(\w+)", prompt):
        text += f"\n{variable}={os.environ.get(variable, '<unset>')}"
    if "MOCK_ECHO_ROLE" in prompt:
        text += "\nrole=" + instructions
    return text


def run_tool(item_id: str) -> None:
    command = "/bin/bash -lc 'sleep 1; echo slept'"
    item = {"id": item_id, "type": "command_execution", "command": command, "aggregated_output": "",
            "exit_code": None, "status": "in_progress"}  # fmt: skip
    emit({"type": "item.started", "item": item})
    output = subprocess.run(["/bin/bash", "-c", "sleep 1; echo slept"], capture_output=True, text=True)
    done = {**item, "aggregated_output": output.stdout, "exit_code": output.returncode, "status": "completed"}
    emit({"type": "item.completed", "item": done})


def patch(item_id: str, sandbox: str | None, bypass: bool) -> None:
    if sandbox in (None, "read-only") and not bypass:
        return  # refused by the sandbox: the model is told, no item is written
    path = str(Path.cwd() / "mock_patched.txt")
    item = {"id": item_id, "type": "file_change", "changes": [{"path": path, "kind": "add"}], "status": "in_progress"}
    emit({"type": "item.started", "item": item})
    Path(path).write_text("patched\n")
    emit({"type": "item.completed", "item": {**item, "status": "completed"}})


def leave_grandchild() -> None:
    code = ("import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "open('grandchild.pid', 'w').write(str(os.getpid()))\ntime.sleep(600)\n")  # fmt: skip
    subprocess.Popen([sys.executable, "-c", code], start_new_session=False)
    deadline = time.monotonic() + 5
    while not Path("grandchild.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def turn(prompt: str, options: dict[str, list[str]], thread: str, rollout: Path, argv: list[str]) -> None:
    history = read_rollout(rollout) if rollout.exists() else []
    configs = dict(c.partition("=")[::2] for c in options.get("--config", []))
    instructions = next((e["instructions"] for e in history if e["type"] == "meta"), None)
    if instructions is None:
        given = config_value(configs["developer_instructions"]) if "developer_instructions" in configs else ""
        instructions = given if isinstance(given, str) else ""
        history.append({"type": "meta", "instructions": instructions})
    history.append({"type": "user", "text": prompt})
    emit({"type": "thread.started", "thread_id": re.search(r"MOCK_FORGE=(\S+)", prompt).group(1)}
         if "MOCK_FORGE=" in prompt else {"type": "thread.started", "thread_id": thread})  # fmt: skip
    rollout.write_text("".join(json.dumps(entry) + "\n" for entry in history))
    emit({"type": "turn.started"})
    port = "1"
    if not (os.environ.get("CODEX_API_KEY") or (Path(os.environ["CODEX_HOME"]) / "auth.json").exists()) or (
        "MOCK_401" in prompt
    ):
        message = (f"unexpected status 401 Unauthorized: Missing bearer or basic authentication in header, url: "
                   f"{URL.format(port=port)}")  # fmt: skip
        failed_turn(message, [f"Reconnecting... {n}/5 ({message})" for n in range(1, 6)])
    if "MOCK_USAGE" in prompt:
        failed_turn(USAGE_LIMIT, [])
    if "MOCK_500" in prompt:
        failed_turn(HIGH_DEMAND, [f"Reconnecting... {n}/5 ({HIGH_DEMAND})" for n in range(1, 6)])
    if "MOCK_FAILED" in prompt:
        message = "stream disconnected before completion: Something went wrong on our side."
        failed_turn(message, [f"Reconnecting... {n}/5 ({message})" for n in range(1, 6)])
    if "MOCK_RECONNECT" in prompt:
        ws = "unexpected status 404 Not Found: use HTTPS, url: ws://127.0.0.1:1/v1/responses"
        for n in range(2, 6):
            emit({"type": "error", "message": f"Reconnecting... {n}/5 ({ws})"})
        fallback = f"Falling back from WebSockets to HTTPS transport. {ws}"
        emit({"type": "item.completed", "item": {"id": "item_0", "type": "error", "message": fallback}})
    if "MOCK_GRANDCHILD" in prompt:
        leave_grandchild()
    if sleep := re.search(r"MOCK_SLEEP=([\d.]+)", prompt):
        time.sleep(float(sleep.group(1)))
    if "MOCK_CRASH" in prompt:
        fail("thread 'main' panicked: the double was asked to crash\n", 3)
    items = iter(range(100))
    usage = dict(USAGE)
    if "MOCK_TOOL" in prompt:
        run_tool(f"item_{next(items)}")
        usage = {k: usage[k] + TOOL_USAGE[k] for k in usage}
    if "MOCK_PATCH" in prompt:
        sandbox = (options.get("--sandbox") or [None])[-1]
        patch(f"item_{next(items)}", sandbox, "--dangerously-bypass-approvals-and-sandbox" in options)
        usage = {k: usage[k] + TOOL_USAGE[k] for k in usage}
    if "MOCK_GARBAGE" in prompt:
        sys.stdout.write("not json at all\n\x1b[31mred\x1b[0m {half\n[1,2]\n")
    emit({"type": "item.completed", "item": {"id": f"item_{next(items)}", "type": "reasoning", "text": "**Thinking**"}})
    emit({"type": "item.completed", "item": {"id": f"item_{next(items)}", "type": "agent_message",
                                              "text": reply_text(prompt, argv, instructions)}})  # fmt: skip
    before = [e["usage"] for e in history if e["type"] == "usage"]
    total = {k: usage[k] + sum(b[k] for b in before) for k in usage}
    history.append({"type": "usage", "usage": usage})
    rollout.write_text("".join(json.dumps(entry) + "\n" for entry in history))
    emit({"type": "turn.completed", "usage": total})


def exec_command(args: list[str]) -> None:
    options, positionals, resumed = parse(args)
    for sandbox in options.get("--sandbox", []):
        if sandbox not in SANDBOXES:
            fail(f"error: invalid value '{sandbox}' for '--sandbox <SANDBOX_MODE>'\n  [possible values: "
                 f"{', '.join(SANDBOXES)}]\n\nFor more information, try '--help'.\n", 2)  # fmt: skip
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    os.environ["CODEX_HOME"] = str(home)
    if "--skip-git-repo-check" not in options and not in_git_repo(Path.cwd()):
        fail("Not inside a trusted directory and --skip-git-repo-check was not specified.\n", 1)
    thread = positionals.pop(0) if resumed and positionals else None
    prompt_arg = positionals[0] if positionals else "-"
    if len(positionals) > 1:
        clap_error(positionals[1], RESUME_USAGE if resumed else EXEC_USAGE)
    prompt = sys.stdin.buffer.read().decode("utf-8", "replace") if prompt_arg == "-" else prompt_arg
    if not prompt:
        fail("No prompt provided via stdin.\n", 1)
    if thread is not None:
        rollout = rollout_of(home, thread)
        if rollout is None:
            fail(f"Error: thread/resume: thread/resume failed: no rollout found for thread id {thread} "
                 "(code -32600)\n", 1)  # fmt: skip
    else:
        thread = uuid7()
        rollout = new_rollout(home, thread)
    turn(prompt, options, thread, rollout, sys.argv)


def login_status() -> None:
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    auth = home / "auth.json"
    if not auth.exists():
        fail("Not logged in\n", 1)
    key = json.loads(auth.read_text()).get("OPENAI_API_KEY") or ""
    sys.stderr.write(f"API key configured - {key[:8]}***{key[-5:]}\n")  # on stderr, as codex writes it
    sys.stderr.write("Authentication is checked when you send a request.\n")


def login_with_api_key() -> None:
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    sys.stderr.write("Reading API key from stdin...\n")
    key = sys.stdin.read().strip()
    (home / "auth.json").write_text(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": key}, indent=2))
    sys.stderr.write("API key saved. Authentication is checked when you send a request.\n")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    signal.signal(signal.SIGHUP, lambda *_: os._exit(129))
    signal.signal(signal.SIGINT, lambda *_: os._exit(1))
    home = os.environ.get("CODEX_HOME") or str(Path.home() / ".codex")
    temporary = (os.environ.get("TMPDIR") or "/tmp").rstrip("/")
    if home.startswith(temporary + "/"):  # codex puts no helper there: it cannot sandbox a command then
        sys.stderr.write('WARNING: proceeding, even though we could not create PATH aliases: Refusing to create '
                         f'helper binaries under temporary dir "{temporary}" (codex_home: '
                         f'AbsolutePathBuf("{home}"))\n')  # fmt: skip
    args = sys.argv[1:]
    if args[:1] in (["--version"], ["-V"]):
        print(VERSION)
    elif args[:2] == ["login", "status"]:
        login_status()
    elif args[:2] == ["login", "--with-api-key"]:
        login_with_api_key()
    elif args[:1] == ["exec"]:
        exec_command(args[1:])
    else:
        fail("the double plays `codex exec`, `--version`, `login status` and `login --with-api-key` only\n", 2)


if __name__ == "__main__":
    main()
