#!/usr/bin/env python3
"""A test double of the `claude` CLI (2.1.197) in headless mode, built from docs/claude-cli.md.

It plays the CLI together with the loopback mock API used for the captures in tests/fixtures/, and
tests/test_double_fidelity.py replays every capture against it:
the same flags (commander rules: unknown options fail, variadic options swallow what follows,
`--opt=value` binds one value), the same stream-json events, exit codes and stderr texts, the
same session files under ~/.claude/projects/<sanitized cwd>/ (so --resume is scoped to the cwd and
an unknown id fails as in 04_resume_unknown), and the terminal-reset trailer when stdout is a TTY.

Behaviour is chosen by words in the prompt, as with the mock API:
  MOCK_TEXT (default)  one text reply           MOCK_TOOL    Bash tool use, then a reply
  MOCK_WRITE[=<path>]  Write tool use of mock_written.txt in the cwd (or of the path): denied unless
                       acceptEdits/bypassPermissions, or asked for with --permission-prompt-tool stdio
  MOCK_LOOP            tool loop until --max-turns or --max-budget-usd stops it
  MOCK_THINK           a thinking block before the reply
  MOCK_401 MOCK_404 MOCK_429 MOCK_500 MOCK_529 MOCK_400   API errors (retried like the CLI)
  MOCK_RLWARN          rate-limit warning (OAuth logins)
  MOCK_SLEEP=<s>       wait s seconds before answering
  MOCK_SLOW            one event a second
  MOCK_ECHO_ENV=<name> adds the variable's value (or <unset>) to the reply
  MOCK_ECHO_ARGV       adds the argv it was started with to the reply, as JSON
Faults a real process can have:
  MOCK_CRASH           dies mid-run (stderr message, exit 3, no result)
  MOCK_STDERR          writes a warning to stderr first
  MOCK_NOISE           non-JSON lines and escape sequences between events
  MOCK_GRANDCHILD      leaves a background child holding the terminal, then exits normally
  MOCK_ESCAPE          leaves a child that leaves the session (setsid), ignores SIGHUP and SIGTERM and
                       writes its pid to escaped.pid in the cwd
  MOCK_LINGER          keeps running (ignoring SIGTERM) after writing its result
  MOCK_TRUNCATED       dies in the middle of writing an event line
  MOCK_BADUTF8         writes bytes that are not UTF-8, on their own line and inside an event
  MOCK_BIGLINE=<n>     replies with n characters of text: single lines of n bytes and more (x's; with
                       MOCK_MIXED, quotes, backslashes, tabs, accents, emoji and line separators)
  MOCK_ECHO_PID        adds the pid of the process that answered to the reply
  MOCK_DEAF            does not read its input while the turn waits (an interrupt goes unanswered)
  MOCK_RUN=<path>      a Bash tool use that runs that program (pipes for its output, the terminal kept)
  MOCK_PRINT=<n>       Bash tool uses that print n bytes in all, 1 MiB each at most, every result
                       written twice (its content and tool_use_result.stdout, as the CLI does)
With --input-format=stream-json (docs/claude-cli.md, "Observed with 2.1.332") it reads NDJSON from
stdin: each user message is a turn (its own init, events and result) in one session, and the
process waits for the next until stdin ends (exit 0). A control_request interrupt during a turn is
answered, then the turn ends with "[Request interrupted by user]" and an error_during_execution
result; the process lives on. The end of stdin ends it: exit 1 when its last turn's result was an
error, else 0. FAKE_CLAUDE_STARTUP_S=<s> makes every start take that long (the real
CLI takes ~0.6 s).
With --permission-prompt-tool stdio (stream-json input only), a tool use that needs approval is
asked for as the CLI asks (observed with 2.1.332 against the mock API): a control_request
can_use_tool on stdout, then the process waits for the control_response with its request_id; allow
(with updatedInput) runs the tool, deny puts the answer's message in an error tool_result and the
use in permission_denials. An interrupt meanwhile sends control_cancel_request for it first and ends
the turn (aborted_tools); stdin closing meanwhile fails the request ("Tool permission stream closed
before response received") and the turn goes on.
  MOCK_AFTER           writes another result and noise 0.2 s after its result
  MOCK_IGNORE_TERM     ignores SIGTERM from the start
Credentials as the CLI reads them: ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN; none means "Not logged in".
The login's usage limits (OAuth logins), as 2.1.332 reports them against the mock API's Account
(tests/fixtures/40_* to 48_*), come from ~/.claude/fake_account.json, the account's state, read at
every API call (so a warm process's later turn sees it too): {"window": "five_hour", "rejected_until":
<epoch s, or null: no reset known>, "resets_at": <the reset the API reports, when not that>,
"requests_left": <API calls still allowed before the rejection>, "utilization": <a warning with it>}.
A rejected call: a rate_limit_event rejected (none when its reset is past, no resetsAt when unknown),
the synthetic "You've hit your … limit" message, an error result with api_error_status 429, exit 1;
what ran before it stays done (43: after a tool). tests/agents/test_double_limits.py holds it to them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

VERSION = "2.1.197"
TRAILER = (
    "\x1b[?1006l\x1b[?1003l\x1b[?1002l\x1b[?1000l\x1b(B\x0f\x1b[>4m\x1b[<u\x1b[?1004l\x1b[?2031l"
    "\x1b[?2004l\x1b[?25h\x1b7\x1b[r\x1b8\x1b]0;\x07\x1b[?25h"
)
TOOLS = [
    "Task",
    "Bash",
    "CronCreate",
    "CronDelete",
    "CronList",
    "DesignSync",
    "Edit",
    "EnterWorktree",
    "ExitWorktree",
    "NotebookEdit",
    "Read",
    "ReportFindings",
    "ScheduleWakeup",
    "SendMessage",
    "Skill",
    "TaskCreate",
    "TaskGet",
    "TaskList",
    "TaskOutput",
    "TaskStop",
    "TaskUpdate",
    "WebFetch",
    "WebSearch",
    "Workflow",
    "Write",
]
PRICES = {  # $ per million tokens: input, output, cache read, 5-minute cache write
    "claude-opus-4-8": (5, 25, 0.5, 6.25),
    "claude-sonnet-5": (3, 15, 0.3, 3.75),
    "claude-haiku-4-5-20251001": (1, 5, 0.1, 1.25),
}
ALIASES = {"opus": "claude-opus-4-8", "sonnet": "claude-sonnet-5", "haiku": "claude-haiku-4-5-20251001"}
CALL_USAGE = {
    "input_tokens": 120,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 15000,
    "output_tokens": 42,
}
PERMISSION_MODES = ["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"]

# name -> (kind, choices). kind: flag | value | optional | variadic
OPTIONS: dict[str, tuple[str, list[str] | None]] = {
    "-p": ("flag", None),
    "--print": ("flag", None),
    "--verbose": ("flag", None),
    "--output-format": ("value", ["text", "json", "stream-json"]),
    "--input-format": ("value", ["text", "stream-json"]),
    "--include-partial-messages": ("flag", None),
    "--include-hook-events": ("flag", None),
    "--replay-user-messages": ("flag", None),
    "-r": ("optional", None),
    "--resume": ("optional", None),
    "-c": ("flag", None),
    "--continue": ("flag", None),
    "--session-id": ("value", None),
    "--fork-session": ("flag", None),
    "--no-session-persistence": ("flag", None),
    "--model": ("value", None),
    "--fallback-model": ("value", None),
    "--max-turns": ("value", None),
    "--max-budget-usd": ("value", None),
    "--permission-mode": ("value", PERMISSION_MODES),
    "--dangerously-skip-permissions": ("flag", None),
    "--allow-dangerously-skip-permissions": ("flag", None),
    "--allowedTools": ("variadic", None),
    "--allowed-tools": ("variadic", None),
    "--disallowedTools": ("variadic", None),
    "--disallowed-tools": ("variadic", None),
    "--tools": ("variadic", None),
    "--mcp-config": ("variadic", None),
    "--strict-mcp-config": ("flag", None),
    "--add-dir": ("variadic", None),
    "--settings": ("value", None),
    "--setting-sources": ("value", None),
    "--system-prompt": ("value", None),
    "--append-system-prompt": ("value", None),
    "--system-prompt-file": ("value", None),
    "--append-system-prompt-file": ("value", None),
    "--permission-prompt-tool": ("value", None),
    "--json-schema": ("value", None),
    "--effort": ("value", ["low", "medium", "high", "xhigh", "max"]),
    "--betas": ("variadic", None),
    "--agents": ("value", None),
    "--agent": ("value", None),
    "--bare": ("flag", None),
    "--safe-mode": ("flag", None),
    "-d": ("optional", None),
    "--debug": ("optional", None),
    "--debug-file": ("value", None),
    "--plugin-dir": ("value", None),
    "-n": ("value", None),
    "--name": ("value", None),
    "--disable-slash-commands": ("flag", None),
    "--ide": ("flag", None),
    "--prompt-suggestions": ("optional", None),
    "-h": ("flag", None),
    "--help": ("flag", None),
    "-v": ("flag", None),
    "--version": ("flag", None),
}
CANONICAL = {
    "-p": "--print",
    "-r": "--resume",
    "-c": "--continue",
    "-d": "--debug",
    "-n": "--name",
    "-h": "--help",
    "-v": "--version",
    "--allowed-tools": "--allowedTools",
    "--disallowed-tools": "--disallowedTools",
}


ToolRunner = Callable[[dict[str, object]], None]
"""Runs a tool_use block's tool and writes its result."""


class LimitReached(Exception):
    """The account's usage limit rejected an API call (fake_account.json)."""


def account_file() -> Path:
    return Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude") / "fake_account.json"


def account() -> dict[str, object] | None:
    try:
        return json.loads(account_file().read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        return None


def account_rejects(state: dict[str, object]) -> bool:
    """Whether the account rejects a call now; spends one of requests_left when it does not."""
    left = state.get("requests_left")
    if isinstance(left, int) and left > 0:
        account_file().write_text(json.dumps({**state, "requests_left": left - 1}))
        return False
    until = state.get("rejected_until", 0)
    return until is None or time.time() < float(until)  # type: ignore[arg-type]


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def fail(message: str, code: int = 1) -> Exit:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    return Exit(code)


def parse_args(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """commander's rules (docs/claude-cli.md#argv)."""
    opts: dict[str, object] = {}
    positionals: list[str] = []
    variadic: str | None = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            positionals.extend(args)
            break
        if variadic and not arg.startswith("-"):
            opts[variadic].append(arg)  # type: ignore[attr-defined]
            continue
        variadic = None
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in OPTIONS or (has_value and OPTIONS[name][0] == "flag"):
            raise fail(f"error: unknown option '{arg}'")
        kind, choices = OPTIONS[name]
        key = CANONICAL.get(name, name)
        if kind == "flag":
            opts[key] = True
            continue
        if not has_value:
            if kind == "optional":
                value = args.pop(0) if args and not args[0].startswith("-") else True  # type: ignore[assignment]
            elif args and (kind == "value" or not args[0].startswith("-")):
                value = args.pop(0)
            else:
                raise fail(f"error: option '{name} <value>' argument missing")
        if choices and value not in choices:
            raise fail(
                f"error: option '{name} <value>' argument '{value}' is invalid. "
                f"Allowed choices are {', '.join(choices)}."
            )
        if kind == "variadic":
            opts.setdefault(key, []).append(value)  # type: ignore[attr-defined]
            variadic = key if not has_value else None
        else:
            opts[key] = value
    return opts, positionals


def read_stdin() -> str | None:
    """docs/claude-cli.md#stdin: a TTY is never read; a pipe silent for 3 s is given up with a warning."""
    if os.isatty(0):
        return None
    ready, _, _ = select.select([0], [], [], 3.0)
    if not ready:
        sys.stderr.write(
            "Warning: no stdin data received in 3s, proceeding without it. If piping from a slow "
            "command, redirect stdin explicitly: < /dev/null to skip, or wait longer.\n"
        )
        return None
    chunks = []
    while chunk := os.read(0, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def sanitize(path: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]", "-", path)[:200]


def _entry_type(line: str) -> str | None:
    """A transcript line's type; None for a line a killed run left half-written (the CLI skips those)."""
    try:
        return str(json.loads(line)["type"])
    except (ValueError, KeyError, TypeError):
        return None


class Session:
    def __init__(self, cwd: str, session_id: str, persist: bool) -> None:
        home = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".claude")
        self.file = Path(home) / "projects" / sanitize(os.path.realpath(cwd)) / f"{session_id}.jsonl"
        self.id = session_id
        self.cwd = cwd
        self.persist = persist

    def turns(self) -> int:
        if not self.file.exists():
            return 0
        return sum(1 for line in self.file.read_text().split("\n") if _entry_type(line) == "user")

    def append(self, kind: str, content: object) -> None:
        if not self.persist:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "type": kind,
            "message": {"role": kind, "content": content},
            "uuid": str(uuid.uuid4()),
            "sessionId": self.id,
            "cwd": self.cwd,
            "version": VERSION,
            "entrypoint": "sdk-cli",
        }
        with self.file.open("a") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


class Interrupted(Exception):
    """A control_request interrupt arrived during a turn."""

    def __init__(self, tool_use: dict[str, object] | None = None) -> None:
        super().__init__()
        self.tool_use = tool_use
        """The tool use whose permission request it cancelled, if any."""


class PermissionStreamClosed(Exception):
    """Stdin ended while a permission request waited for its answer."""


class StreamInput:
    """--input-format stream-json: NDJSON lines on stdin, read as they come, so a turn that waits can
    still see an interrupt."""

    def __init__(self) -> None:
        self.buffer = b""
        self.pending: list[dict[str, object]] = []
        self.eof = False

    def _read(self, timeout: float | None) -> None:
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            return
        chunk = os.read(0, 1 << 20)
        if not chunk:
            self.eof = True
            return
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                self.pending.append(json.loads(line))
            except ValueError:
                word = line.decode("utf-8", "replace").split()[0]
                raise fail(
                    "Error parsing streaming input line: not json: SyntaxError: JSON Parse error: Unexpected "
                    f'identifier "{word}"'
                ) from None

    def answer(self, request: dict[str, object], **response: object) -> None:
        body = {"subtype": "success", "request_id": request.get("request_id"), "response": response}
        sys.stdout.write(json.dumps({"type": "control_response", "response": body}, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def next_message(self) -> str | None:
        """The next user message's text; control requests between turns are answered on the way."""
        while True:
            while self.pending:
                line = self.pending.pop(0)
                if line.get("type") == "control_request":
                    answer = {"still_queued": []} if _subtype(line) == "interrupt" else {"pid": os.getpid()}
                    self.answer(line, **answer)
                elif line.get("type") == "user":
                    return _content_text(line)
            if self.eof:
                return None
            self._read(None)

    def ask_permission(self, tool_use: dict[str, object]) -> dict[str, object]:
        """A can_use_tool control request for the tool use, and the response it gets."""
        request_id = str(uuid.uuid4())
        tool_input = tool_use["input"]
        name = str(tool_use["name"])
        request = {
            "subtype": "can_use_tool",
            "tool_name": name,
            "display_name": name,
            "input": tool_input,
            "description": os.path.basename(str(tool_input.get("file_path", "")))
            if isinstance(tool_input, dict)
            else "",
            "permission_suggestions": [{"type": "setMode", "mode": "acceptEdits", "destination": "session"}],
            "tool_use_id": tool_use["id"],
        }
        line = {"type": "control_request", "request_id": request_id, "request": request}
        sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        while True:
            for line in list(self.pending):
                response = line.get("response")
                if (line.get("type") == "control_response" and isinstance(response, dict)
                        and response.get("request_id") == request_id):  # fmt: skip
                    self.pending.remove(line)
                    answer = response.get("response")
                    return answer if isinstance(answer, dict) else {}
                if line.get("type") == "control_request" and _subtype(line) == "interrupt":
                    self.pending.remove(line)
                    cancel = {"type": "control_cancel_request", "request_id": request_id}
                    sys.stdout.write(json.dumps(cancel, separators=(",", ":")) + "\n")
                    self.answer(line, still_queued=[])
                    raise Interrupted(tool_use)
            if self.eof:
                raise PermissionStreamClosed
            self._read(None)

    def pause(self, seconds: float) -> None:
        """Wait, unless an interrupt comes first; user messages that arrive meanwhile stay queued."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.eof:
            self._read(left)
            for line in list(self.pending):
                if line.get("type") == "control_request" and _subtype(line) == "interrupt":
                    self.pending.remove(line)
                    queued = [_content_text(m) for m in self.pending if m.get("type") == "user"]
                    self.answer(line, still_queued=queued)
                    raise Interrupted
        if self.eof:
            time.sleep(max(0.0, deadline - time.monotonic()))


def _subtype(line: dict[str, object]) -> object:
    request = line.get("request")
    return request.get("subtype") if isinstance(request, dict) else None


def _content_text(line: dict[str, object]) -> str:
    message = line.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content or () if isinstance(b, dict))


STREAM: StreamInput | None = None

MIXED = 'é "quoted" back\\slash\ttab 😀\u2028\n'


def big_text(size: int, prompt: str) -> str:
    """MOCK_BIGLINE's reply: x's, or with MOCK_MIXED text that JSON must escape and UTF-8 spread."""
    if "MOCK_MIXED" not in prompt:
        return "x" * size
    return (MIXED * (size // len(MIXED) + 1))[:size]


def pause(seconds: float) -> None:
    if STREAM is not None:
        STREAM.pause(seconds)
    else:
        time.sleep(seconds)


class ProcessUsage:
    """What the process has spent over all its turns: with stream-json input the CLI's result gives
    the process's running total (total_cost_usd, modelUsage) and the turn's own spend
    (model_usage_since_last_result), as 2.1.332 does (tests/fixtures/45_*)."""

    def __init__(self) -> None:
        self.cost = 0.0
        self.model_usage: dict[str, dict[str, float]] = {}


PROCESS = ProcessUsage()


class Turn:
    """One headless turn: the events the CLI writes for one prompt."""

    def __init__(self, opts: dict[str, object], prompt: str, session: Session, resumed: bool) -> None:
        self.opts = opts
        self.prompt = prompt
        self.session = session
        self.resumed = resumed
        self.fmt = opts.get("--output-format", "text")
        self.partial = bool(opts.get("--include-partial-messages"))
        self.oauth = bool(os.environ.get("CLAUDE_CODE_OAUTH_TOKEN")) and not os.environ.get("ANTHROPIC_API_KEY")
        self.logged_in = bool(os.environ.get("ANTHROPIC_API_KEY")) or self.oauth
        requested = str(opts.get("--model") or ("sonnet" if self.oauth else "opus"))
        self.model_name = ALIASES.get(requested, requested)
        self.init_model = (
            requested if "--model" in opts else (self.model_name if self.oauth or resumed else f"{self.model_name}[1m]")
        )
        self.cost = 0.0
        self.usage = dict.fromkeys(CALL_USAGE, 0)
        self.model_usage: dict[str, dict[str, float]] = {}
        self.turns = 0
        self.texts: list[str] = []
        self.noise = "MOCK_NOISE" in prompt
        self.slow = "MOCK_SLOW" in prompt
        self.denials: list[dict[str, object]] = []
        self.mcp_servers: list[dict[str, str]] = []
        self.started = time.monotonic()
        self.answered = False
        self.tool_outputs: list[str] = []
        """Whether an API call streamed an answer: only then does a successful result carry timings."""

    # --- output ---
    def emit(self, event: dict[str, object]) -> None:
        if self.fmt != "stream-json":
            return
        if self.noise:
            sys.stdout.write("\x1b[2K\x1b]0;claude\x07not json: spinner frame\n")
        sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        if self.slow:
            time.sleep(1.0)

    def base(self) -> dict[str, str]:
        return {"session_id": self.session.id, "uuid": str(uuid.uuid4())}

    def init(self) -> None:
        self.emit(
            {
                "type": "system",
                "subtype": "init",
                "cwd": self.session.cwd,
                "session_id": self.session.id,
                "tools": TOOLS,
                "mcp_servers": self.mcp_servers,
                "model": self.init_model,
                "permissionMode": self.opts.get("--permission-mode", "default"),
                "slash_commands": ["clear", "compact", "config", "init", "review"],
                "apiKeySource": "ANTHROPIC_API_KEY" if os.environ.get("ANTHROPIC_API_KEY") else "none",
                "claude_code_version": VERSION,
                "output_style": "default",
                "agents": ["claude", "Explore", "general-purpose", "Plan", "statusline-setup"],
                "skills": [],
                "plugins": [],
                "analytics_disabled": False,
                "product_feedback_disabled": False,
                "uuid": str(uuid.uuid4()),
                "memory_paths": {"auto": str(self.session.file.parent / "memory") + "/"},
                "fast_mode_state": "off",
            }
        )

    def charge(self, model: str) -> None:
        price = PRICES.get(model, PRICES["claude-opus-4-8"])
        u = CALL_USAGE
        cost = (
            u["input_tokens"] * price[0]
            + u["output_tokens"] * price[1]
            + u["cache_read_input_tokens"] * price[2]
            + u["cache_creation_input_tokens"] * price[3]
        ) / 1e6
        self.cost += cost
        PROCESS.cost += cost
        key = model if model != self.model_name or self.resumed else self.init_model
        for usage in (self.model_usage, PROCESS.model_usage):
            entry = usage.setdefault(
                key,
                {
                    "inputTokens": 0,
                    "outputTokens": 0,
                    "cacheReadInputTokens": 0,
                    "cacheCreationInputTokens": 0,
                    "webSearchRequests": 0,
                    "costUSD": 0.0,
                    "contextWindow": 200000,
                    "maxOutputTokens": 32000,
                },
            )
            entry["inputTokens"] += u["input_tokens"]
            entry["outputTokens"] += u["output_tokens"]
            entry["cacheReadInputTokens"] += u["cache_read_input_tokens"]
            entry["cacheCreationInputTokens"] += u["cache_creation_input_tokens"]
            entry["costUSD"] += cost

    def api_call(self, blocks: list[dict[str, object]], run_tool: ToolRunner | None = None) -> None:
        """One main-loop round trip: usage, optional partial events, one assistant event per block.
        A tool runs as soon as its block is complete, before the message ends (run_tool writes its
        result), as the CLI does."""
        state = account() if self.oauth else None
        if state is not None and account_rejects(state):
            raise LimitReached
        self.turns += 1
        self.charge(self.model_name)
        for key, value in CALL_USAGE.items():
            self.usage[key] += value
        message_id = "msg_" + uuid.uuid4().hex[:24]
        request_id = "req_" + uuid.uuid4().hex[:24]
        start_usage = {**CALL_USAGE, "output_tokens": 1, "service_tier": "standard"}
        if self.partial:
            self.emit({"type": "system", "subtype": "status", "status": "requesting", **self.base()})
            self.stream(
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model_name,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
                ttft_ms=1,  # the first stream event of a message says how long it took to come
            )
        for index, block in enumerate(blocks):
            if self.partial:
                self.stream_block(index, block)
            self.emit(
                {
                    "type": "assistant",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model_name,
                        "content": [block],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                        "context_management": None,
                    },
                    "parent_tool_use_id": None,
                    **self.base(),
                    "request_id": request_id,
                }
            )
            if self.partial:
                self.stream({"type": "content_block_stop", "index": index})
            if block["type"] == "text":
                self.texts.append(str(block["text"]))
            elif block["type"] == "tool_use" and run_tool is not None:
                run_tool(block)
        if self.partial:
            stop = "tool_use" if blocks[-1]["type"] == "tool_use" else "end_turn"
            self.stream(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": CALL_USAGE["output_tokens"]},
                }
            )
            self.stream({"type": "message_stop"})
        self.session.append("assistant", blocks)
        self.answered = True

    def stream_block(self, index: int, block: dict[str, object]) -> None:
        """A block's start and deltas, in the pieces the mock API streams: text 20 characters at a
        time, tool input as JSON 15 at a time, thinking whole with its signature after it."""
        kind = block["type"]
        empty = {"text": {"text": ""}, "thinking": {"thinking": "", "signature": ""}, "tool_use": {"input": {}}}
        self.stream({"type": "content_block_start", "index": index, "content_block": {**block, **empty[str(kind)]}})
        deltas: list[dict[str, object]] = []
        if kind == "text":
            text = str(block["text"])
            deltas = [{"type": "text_delta", "text": text[i : i + 20]} for i in range(0, len(text), 20)]
        elif kind == "tool_use":
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": raw[i : i + 15]} for i in range(0, len(raw), 15)]
        elif kind == "thinking":
            thinking = str(block["thinking"])
            estimate = {"estimated_tokens": len(thinking) // 4, "estimated_tokens_delta": len(thinking) // 4}
            self.emit({"type": "system", "subtype": "thinking_tokens", **estimate, **self.base()})
            deltas = [
                {"type": "thinking_delta", "thinking": thinking},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        for delta in deltas:
            self.stream({"type": "content_block_delta", "index": index, "delta": delta})

    def stream(self, event: dict[str, object], **extra: object) -> None:
        self.emit(
            {
                "type": "stream_event",
                "event": event,
                "session_id": self.session.id,
                "parent_tool_use_id": None,
                "uuid": str(uuid.uuid4()),
                **extra,
            }
        )

    def tool_result(self, tool_use_id: str, content: str, is_error: bool, raw: object) -> None:
        self.tool_outputs.append(f"TOOL_RESULT:{content}")
        self.emit(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {"tool_use_id": tool_use_id, "type": "tool_result", "content": content, "is_error": is_error}
                    ],
                },
                "parent_tool_use_id": None,
                **self.base(),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "tool_use_result": raw,
            }
        )

    def synthetic(self, text: str, error: str, api_request: bool = True) -> None:
        """The CLI's own assistant message for a failure; one that an API request failed with
        carries that request's id (not logged in: no request was made)."""
        self.emit(
            {
                "type": "assistant",
                "message": {
                    "id": str(uuid.uuid4()),
                    "container": None,
                    "model": "<synthetic>",
                    "role": "assistant",
                    "stop_details": None,
                    "stop_reason": "stop_sequence",
                    "stop_sequence": "",
                    "type": "message",
                    "usage": {
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "service_tier": None,
                    },
                    "content": [{"type": "text", "text": text}],
                    "context_management": None,
                },
                "parent_tool_use_id": None,
                **self.base(),
                "error": error,
                **({"request_id": "req_" + uuid.uuid4().hex[:24]} if api_request else {}),
            }
        )
        self.texts.append(text)

    def result(
        self,
        subtype: str = "success",
        is_error: bool = False,
        api_error_status: int | None = None,
        errors: list[str] | None = None,
        terminal_reason: str | None = "completed",
        stop_reason: str | None = "end_turn",
        fast_mode: bool = True,
    ) -> int:
        """fast_mode: False for a turn that ended before it began (a session that cannot be resumed)."""
        duration = int((time.monotonic() - self.started) * 1000)
        event: dict[str, object] = {"type": "result", "subtype": subtype}
        if subtype == "success":  # the key order of the CLI's two result schemas differs
            event.update({"is_error": is_error, "api_error_status": api_error_status, "duration_ms": duration})
            event["duration_api_ms"] = 0
            if self.answered and not is_error:
                event.update({"ttft_ms": 1, "ttft_stream_ms": 1, "time_to_request_ms": 1})
            event.update({"num_turns": self.turns, "result": self.texts[-1] if self.texts else ""})
        else:
            event.update({"duration_ms": duration, "duration_api_ms": 0, "is_error": is_error, "num_turns": self.turns})
        event.update(
            {
                "stop_reason": stop_reason,
                "session_id": self.session.id,
                "total_cost_usd": PROCESS.cost,
                "usage": {
                    **self.usage,
                    "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                    "service_tier": "standard",
                    "inference_geo": "",
                    "iterations": [],
                    "speed": "standard",
                },
                "modelUsage": PROCESS.model_usage,
                "permission_denials": self.denials,
            }
        )
        if STREAM is not None:  # 2.1.332's field, given where the double plays 2.1.332 (stream-json input)
            event["model_usage_since_last_result"] = self.model_usage
        if terminal_reason:
            event["terminal_reason"] = terminal_reason
        if fast_mode:
            event["fast_mode_state"] = "off"
        event["uuid"] = str(uuid.uuid4())
        if errors is not None:
            event["errors"] = errors
        if self.fmt == "stream-json":
            self.emit(event)
        elif self.fmt == "json":
            sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        elif subtype == "success":
            sys.stdout.write(str(event["result"]) + "\n")
        else:
            sys.stdout.write("Execution error")
        sys.stdout.flush()
        return 1 if is_error else 0

    # --- behaviours ---
    def reply_text(self) -> str:
        """Like the mock API's: the tail of the user's text, with this turn's tool results after it."""
        said = " || ".join([self.prompt.strip().replace("\n", " "), *self.tool_outputs])
        tail = said[-60:]
        text = f"Mock reply #{self.session.turns()}. Last user text tail: {tail}"
        for name in re.findall(r"MOCK_ECHO_ENV=(\w+)", self.prompt):
            text += f"\n{name}={os.environ.get(name, '<unset>')}"
        if "MOCK_ECHO_ARGV" in self.prompt:
            text += "\nargv=" + json.dumps(sys.argv)
        if "MOCK_ECHO_PID" in self.prompt:
            text += f"\npid={os.getpid()}"
        return text

    def api_error(self, status: int, error: str, text: str, retried: bool = True) -> int:
        if retried:
            retries = int(os.environ.get("CLAUDE_CODE_MAX_RETRIES", "10"))
            for attempt in range(1, retries + 1):
                self.emit(
                    {
                        "type": "system",
                        "subtype": "api_retry",
                        "attempt": attempt,
                        "max_retries": retries,
                        "retry_delay_ms": 5.0,
                        "error_status": status,
                        "error": error,
                        **self.base(),
                    }
                )
                time.sleep(0.005)
        self.turns += 1
        self.synthetic(text, error)
        return self.result(
            is_error=True,
            api_error_status=status,
            stop_reason="stop_sequence",
            terminal_reason="prompt_too_long" if status == 400 else "completed",
        )

    def run(self) -> int:
        if "MOCK_429" in self.prompt and self.oauth:  # a rejection is announced before init (observed/24)
            self.emit(
                {
                    "type": "rate_limit_event",
                    "rate_limit_info": {
                        "status": "rejected",
                        "resetsAt": int(time.time()) + 3600,
                        "rateLimitType": "five_hour",
                        "isUsingOverage": False,
                    },
                    **self.base(),
                }
            )
        self.init()
        self.session.append("user", self.prompt)
        if not self.logged_in:
            self.turns = 1
            self.synthetic("Not logged in · Please run /login", "authentication_failed", api_request=False)
            return self.result(is_error=True, stop_reason="stop_sequence")
        sleep = re.search(r"MOCK_SLEEP=([0-9.]+)", self.prompt)
        if sleep:
            if "MOCK_DEAF" in self.prompt:
                time.sleep(float(sleep.group(1)))
            else:
                pause(float(sleep.group(1)))
        try:
            for word, behaviour in BEHAVIOURS:
                if word in self.prompt:
                    code = behaviour(self)
                    if code is not None:
                        return code
            return self.reply()
        except LimitReached:
            return self.limit_reached()

    def limit_reached(self) -> int:
        """The account's limit rejected a call (captures 42, 43, 47, 48): no retry."""
        state = account() or {}
        window = str(state.get("window") or "five_hour")
        until = state.get("resets_at", state.get("rejected_until"))  # what the API says may be stale (46)
        info: dict[str, object] = {"status": "rejected"}
        if isinstance(until, int | float):
            info["resetsAt"] = int(until)
        info.update({"rateLimitType": window, "isUsingOverage": False})
        if not isinstance(until, int | float) or until > time.time():  # a past reset is never reported (46)
            self.emit({"type": "rate_limit_event", "rate_limit_info": info, **self.base()})
        name = {"five_hour": "5-hour", "seven_day": "weekly"}.get(window, window)
        when = time.strftime(" · resets %-I:%M%p (UTC)", time.gmtime(until)).lower() if until else ""
        self.turns += 1
        self.synthetic(f"You've hit your {name} limit{when}".replace("(utc)", "(UTC)"), "rate_limit")
        return self.result(
            is_error=True, api_error_status=429, stop_reason="stop_sequence", terminal_reason="api_error"
        )

    def reply(self) -> int:
        big = re.search(r"MOCK_BIGLINE=(\d+)", self.prompt)  # a reply of that many bytes: one very long line
        blocks: list[dict[str, object]] = []
        if "MOCK_THINK" in self.prompt:
            blocks.append({"type": "thinking", "thinking": "Let me think about this carefully.", "signature": "c2ln"})
        blocks.append({"type": "text", "text": big_text(int(big.group(1)), self.prompt) if big else self.reply_text()})
        self.api_call(blocks)
        self.rate_limit("MOCK_RLWARN" in self.prompt)
        code = self.result()
        if "MOCK_AFTER" in self.prompt:  # output after the result must not change the answer
            time.sleep(0.2)  # late: a warm process's next turn may have begun
            self.texts.append("a second answer")
            self.result()
            sys.stdout.write("trailing noise\n")
            sys.stdout.flush()
            time.sleep(0.5)
        return code

    # --- behaviours: each chosen by its word in the prompt (BEHAVIOURS); an int ends the turn ---
    def crash(self) -> int:
        self.api_call([{"type": "text", "text": "Starting on it."}])
        raise fail("panic(main thread): Segmentation fault at address 0x0\noh no: Bun has crashed.", 3)

    def truncated(self) -> int:
        """Dies in the middle of writing an event."""
        self.api_call([{"type": "text", "text": "Starting on it."}])
        sys.stdout.write('{"type":"assistant","message":{"id":"msg_1","content":[{"type":"te')
        sys.stdout.flush()
        raise Exit(1)

    def bad_utf8(self) -> None:
        """Bytes that are not UTF-8, inside an event and on a line of their own."""
        sys.stdout.flush()
        sys.stdout.buffer.write(b"\xff\xfe garbage \xc3\x28\n")
        event = {
            "type": "assistant",
            "message": {"model": self.model_name, "content": [{"type": "text", "text": "BAD<>"}]},
            "parent_tool_use_id": None,
            **self.base(),
        }
        line = json.dumps(event, separators=(",", ":")).encode().replace(b"BAD<>", b"bad \xff\xc3 bytes")
        sys.stdout.buffer.write(line + b"\n")
        sys.stdout.buffer.flush()

    def rate_limited(self) -> int:
        if self.oauth:
            return self.api_error(429, "rate_limit", "You've hit your session limit · resets 10:30pm (UTC)", False)
        return self.api_error(429, "rate_limit", "API Error: Request rejected (429) · rate limited")

    def model_not_found(self) -> int:
        text = (
            f"There's an issue with the selected model ({self.init_model}). It may not exist "
            "or you may not have access to it. Run --model to pick a different model."
        )
        return self.api_error(404, "model_not_found", text, False)

    def use_tool(self, name: str, tool_input: dict[str, object], output: str, is_error: bool, raw: object) -> None:
        """One API call that asks for the tool (after a sentence, except for file edits), then its result."""
        block: dict[str, object] = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": name}
        block["input"] = tool_input
        intro = [] if name in ("Write", "Edit") else [{"type": "text", "text": "I will run a command."}]
        self.api_call([*intro, block], lambda used: self.tool_result(str(used["id"]), output, is_error, raw))

    def bash(self) -> None:
        self.use_tool(
            "Bash",
            {"command": "echo hi-from-tool", "description": "Print a greeting"},
            "hi-from-tool",
            False,
            {"stdout": "hi-from-tool", "stderr": "", "interrupted": False},
        )

    def run_script(self) -> None:
        """A Bash tool use that runs a program of the repository's (`MOCK_RUN=<path>`), as the CLI's Bash
        tool does: its stdout and stderr on pipes, the CLI's terminal still its controlling terminal."""
        path = re.search(r"MOCK_RUN=(\S+)", self.prompt).group(1)  # type: ignore[union-attr]
        done = subprocess.run([path], cwd=self.session.cwd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        out = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
        self.use_tool("Bash", {"command": path, "description": "Run the script"}, out, done.returncode != 0,
                      {"stdout": out, "stderr": "", "interrupted": False})  # fmt: skip

    def print_a_lot(self) -> None:
        left = int(re.search(r"MOCK_PRINT=(\d+)", self.prompt).group(1))  # type: ignore[union-attr]
        while left > 0:
            out = "y" * min(left, 1 << 20)
            left -= len(out)
            self.use_tool("Bash", {"command": f"yes | head -c {len(out)}", "description": "Print a lot"}, out, False,
                          {"stdout": out, "stderr": "", "interrupted": False})  # fmt: skip

    def write_file(self) -> None:
        """Written only in acceptEdits or bypassPermissions, or when the permission prompt allows it;
        otherwise denied, as headless -p does."""
        named = re.search(r"MOCK_WRITE=(\S+)", self.prompt)
        path = named.group(1) if named else os.path.join(self.session.cwd, "mock_written.txt")
        tool_input: dict[str, object] = {"file_path": path, "content": "hello\n"}
        if self.opts.get("--permission-mode") in ("acceptEdits", "bypassPermissions"):
            self.write(path, "hello\n")
            return
        if self.opts.get("--permission-prompt-tool") == "stdio" and STREAM is not None:
            block = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": "Write", "input": tool_input}
            self.api_call([block], self.ask_to_write)
            return
        message = f"Claude requested permissions to write to {path}, but you haven't granted it yet."
        self.use_tool("Write", tool_input, message, True, "Error: " + message)
        self.denials = [{"tool_name": "Write", "tool_use_id": "toolu_denied", "tool_input": tool_input}]

    def write(self, path: str, content: str) -> None:
        """A file the tool cannot write (a read-only file system) is the tool's error, as the CLI reports it."""
        try:
            Path(path).write_text(content)
        except OSError as exc:
            message = f"{exc.strerror}: {path}"
            self.use_tool("Write", {"file_path": path, "content": content}, message, True, "Error: " + message)
            return
        self.use_tool(
            "Write",
            {"file_path": path, "content": content},
            f"File created successfully at: {path}",
            False,
            {"type": "create", "filePath": path, "content": content},
        )

    def ask_to_write(self, tool_use: dict[str, object]) -> None:
        assert STREAM is not None
        tool_id, tool_input = str(tool_use["id"]), tool_use["input"]
        assert isinstance(tool_input, dict)
        try:
            answer = STREAM.ask_permission(tool_use)
        except PermissionStreamClosed:
            answer = {"behavior": "deny", "message": "Tool permission request failed: AbortError: Tool permission "
                      "stream closed before response received", "closed": True}  # fmt: skip
        except Interrupted:
            self.denials.append({"tool_name": "Write", "tool_use_id": tool_id, "tool_input": tool_input})
            raise
        if answer.get("behavior") == "allow":
            updated = answer.get("updatedInput")
            used = updated if isinstance(updated, dict) and updated else tool_input
            path, content = str(used["file_path"]), str(used.get("content", ""))
            Path(path).write_text(content)
            raw = {"type": "create", "filePath": path, "content": content}
            self.tool_result(tool_id, f"File created successfully at: {path}", False, raw)
            return
        message = str(answer.get("message") or "denied")
        self.denials.append({"tool_name": "Write", "tool_use_id": tool_id, "tool_input": tool_input})
        self.tool_result(tool_id, message, True, message if answer.get("closed") else "Error: " + message)

    def loop(self) -> int | None:
        """Tool uses until --max-turns or --max-budget-usd stops them (or five have run)."""
        max_turns = int(str(self.opts["--max-turns"])) if "--max-turns" in self.opts else None
        budget = float(str(self.opts["--max-budget-usd"])) if "--max-budget-usd" in self.opts else None
        for _ in range(5):
            self.use_tool("Bash", {"command": "echo again"}, "again", False, {"stdout": "again", "stderr": ""})
            if max_turns is not None and self.turns >= max_turns:
                self.turns += 1
                return self.result(
                    "error_max_turns",
                    True,
                    errors=[f"Reached maximum number of turns ({max_turns})"],
                    terminal_reason="max_turns",
                    stop_reason="tool_use",
                )
            if budget is not None and self.cost >= budget:
                return self.result(
                    "error_max_budget_usd",
                    True,
                    errors=[f"Reached maximum budget (${budget})"],
                    terminal_reason=None,
                    stop_reason="tool_use",
                )
        return None

    def rate_limit(self, warning: bool) -> None:
        if not self.oauth:
            return
        state = account() or {}
        utilization = state.get("utilization")
        warning = warning or utilization is not None
        info: dict[str, object] = {
            "status": "allowed_warning" if warning else "allowed",
            "resetsAt": int(time.time()) + 3600,
            "rateLimitType": str(state.get("window") or "five_hour"),
        }
        if warning:
            info.update({"utilization": utilization or 0.93, "isUsingOverage": False, "surpassedThreshold": 0.9})
        else:
            info["isUsingOverage"] = False
        self.emit({"type": "rate_limit_event", "rate_limit_info": info, **self.base()})

    def on_sigint(self, *_: object) -> None:
        self.interrupted()
        raise Exit(0)  # the CLI exits 0 after an interrupt (docs/claude-cli.md#exit)

    def interrupted(self, tool_use: dict[str, object] | None = None) -> None:
        """The turn's end after an interrupt; one that cancelled a permission request rejects its tool
        use first, and the turn ends as aborted_tools (observed with 2.1.332)."""
        note = "[Request interrupted by user]"
        if tool_use is not None:
            rejected = ("The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was "
                        "a file edit, the new_string was NOT written to the file). STOP what you are doing and wait "
                        "for the user to tell you how to proceed.")  # fmt: skip
            self.tool_result(str(tool_use["id"]), rejected, True, "Error: " + rejected)
            note += " for tool use"
        self.emit(
            {
                "type": "user",
                "message": {"role": "user", "content": [{"type": "text", "text": note}]},
                "parent_tool_use_id": None,
                **self.base(),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            }
        )
        stop = "tool_use" if tool_use is not None else None
        code = self.result(
            "error_during_execution",
            True,
            terminal_reason="aborted_tools" if tool_use is not None else "aborted_streaming",
            stop_reason=stop,
            errors=[f"[ede_diagnostic] result_type=user last_content_type=n/a stop_reason={stop or 'null'}"],
        )
        del code


def _api_error(status: int, error: str, text: str, retried: bool = True) -> Callable[[Turn], int]:
    return lambda turn: turn.api_error(status, error, text, retried)


# Words in the prompt and what each does, tried in this order; one that returns an exit code ends
# the turn, one that returns None lets the turn go on (to the next word, then the reply).
BEHAVIOURS: list[tuple[str, Callable[[Turn], int | None]]] = [
    ("MOCK_CRASH", Turn.crash),
    ("MOCK_TRUNCATED", Turn.truncated),
    ("MOCK_BADUTF8", Turn.bad_utf8),
    ("MOCK_401", _api_error(401, "authentication_failed", "Invalid API key · Fix external API key")),
    ("MOCK_404", Turn.model_not_found),
    ("MOCK_500", _api_error(500, "server_error", "API Error: 500 Internal server error. This is a server-side "
                                                 "issue, usually temporary — try again in a moment.")),
    ("MOCK_529", _api_error(529, "server_error", "API Error: 529 Overloaded. This is a server-side issue, "
                                                 "usually temporary — try again in a moment.")),
    ("MOCK_400", _api_error(400, "invalid_request", "Prompt is too long · run /compact", retried=False)),
    ("MOCK_429", Turn.rate_limited),
    ("MOCK_PRINT", Turn.print_a_lot),
    ("MOCK_RUN=", Turn.run_script),
    ("MOCK_TOOL", Turn.bash),
    ("MOCK_WRITE", Turn.write_file),
    ("MOCK_LOOP", Turn.loop),
]  # fmt: skip


def load_mcp_configs(values: list[str], cwd: str) -> list[str]:
    """docs/claude-cli.md#mcp-config: each value is JSON text, or else the path of a file."""
    names: list[str] = []
    for value in values:
        try:
            config = json.loads(value)
        except ValueError:
            path = os.path.join(cwd, value)
            if not os.path.isfile(path):
                raise fail(f"Error: Invalid MCP configuration:\nMCP config file not found: {path}") from None
            config = json.loads(Path(path).read_text())
        names.extend((config.get("mcpServers") or {}) if isinstance(config, dict) else {})
    return names


def resume_failure(opts: dict[str, object], value: str, cwd: str) -> int:
    """docs/claude-cli.md#resume: no init; in stream-json one error result; the reason on stderr; exit 1."""
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value):
        message, session_id = f"No conversation found with session ID: {value}", value
    else:
        message = (
            "Error: --resume requires a valid session ID or session title when used with --print. Usage: "
            f'claude -p --resume <session-id|title>. Provided value "{value}" is not a UUID and does not '
            "match any session title."
        )
        session_id = str(uuid.uuid4())
    if opts.get("--output-format") == "stream-json":
        turn = Turn(opts, "", Session(cwd, session_id, persist=False), resumed=True)
        turn.result(
            "error_during_execution", True, errors=[message], terminal_reason=None, stop_reason=None, fast_mode=False
        )
    raise fail(message)


def main(argv: list[str]) -> int:
    global STREAM
    opts, positionals = parse_args(argv)
    if opts.get("--version"):
        print(f"{VERSION} (Claude Code)")
        return 0
    if opts.get("--help"):
        print("Usage: claude [options] [prompt]")
        return 0
    if opts.get("--output-format") == "stream-json" and not opts.get("--verbose"):
        raise fail("Error: When using --print, --output-format=stream-json requires --verbose")
    streaming = opts.get("--input-format") == "stream-json"
    if streaming and opts.get("--output-format") != "stream-json":
        raise fail("Error: --input-format=stream-json requires output-format=stream-json.")
    time.sleep(float(os.environ.get("FAKE_CLAUDE_STARTUP_S", "0")))
    cwd = os.getcwd()
    mcp_servers = load_mcp_configs(opts.get("--mcp-config", []), cwd)  # type: ignore[arg-type]
    prompt = ""
    if not streaming:
        stdin = read_stdin()
        prompt = "\n".join(part for part in (positionals[0] if positionals else None, stdin) if part)
        if not prompt:
            raise fail("Error: Input must be provided either through stdin or as a prompt argument when using --print")
        if len(prompt) > 10_485_760:
            raise fail(
                "Error: piped stdin input exceeds 10MB. Pass large content as a file path in your prompt instead."
            )
    resume = opts.get("--resume")
    persist = not opts.get("--no-session-persistence")
    if isinstance(resume, str):
        session = Session(cwd, resume, persist)
        if not session.file.exists():
            return resume_failure(opts, resume, cwd)
        if opts.get("--fork-session"):
            fork = Session(cwd, str(uuid.uuid4()), persist)
            fork.file.parent.mkdir(parents=True, exist_ok=True)
            fork.file.write_text(session.file.read_text())
            session = fork
    else:
        session = Session(cwd, str(uuid.uuid4()), persist)
    if not streaming:
        return take_turn(opts, prompt, session, isinstance(resume, str), mcp_servers)
    STREAM = StreamInput()
    first = True
    code = 0
    while (message := STREAM.next_message()) is not None:
        code = 1  # an interrupted turn ends in an error result; the process lives on after it
        with contextlib.suppress(Interrupted):
            code = take_turn(opts, message, session, isinstance(resume, str) or not first, mcp_servers)
        first = False
    return code  # the end of stdin ends the process: 1 when its last turn ended in an error (2.1.332)


def take_turn(opts: dict[str, object], prompt: str, session: Session, resumed: bool, mcp_servers: list[str]) -> int:
    turn = Turn(opts, prompt, session, resumed=resumed)
    turn.mcp_servers = [{"name": name, "status": "pending"} for name in mcp_servers]
    signal.signal(signal.SIGINT, turn.on_sigint)
    if not resumed and turn.logged_in:
        turn.charge("claude-haiku-4-5-20251001")  # the title-generation side call of a fresh session
    if "MOCK_IGNORE_TERM" in prompt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "MOCK_STDERR" in prompt:
        sys.stderr.write("Warning: mock warning on stderr\n")
        sys.stderr.flush()
    if "MOCK_GRANDCHILD" in prompt:
        # Like an MCP server the CLI started: it shares the terminal and survives the CLI's SIGHUP.
        subprocess.Popen(["sleep", "30"], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    if "MOCK_ESCAPE" in prompt:
        # Like a daemon a hook starts: out of the CLI's process group and deaf to the terminal's hangup.
        def escape() -> None:
            os.setsid()
            for sig in (signal.SIGHUP, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)

        child = subprocess.Popen(
            ["sleep", "60"], preexec_fn=escape, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        Path("escaped.pid").write_text(str(child.pid))
    try:
        code = turn.run()
    except Interrupted as interrupt:
        turn.interrupted(interrupt.tool_use)
        raise
    if "MOCK_LINGER" in prompt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
    return code


def on_signal(signum: int, _frame: object) -> None:
    raise Exit(128 + signum)  # the CLI exits with 143 on SIGTERM and 129 on SIGHUP (docs/claude-cli.md#exit)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        status = main(sys.argv[1:])
    except Exit as stop:
        status = stop.code
    sys.stdout.flush()
    if os.isatty(1):
        sys.stdout.write(TRAILER)
        sys.stdout.flush()
    sys.exit(status)
