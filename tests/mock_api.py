"""A loopback mock of the Anthropic Messages API, for driving the real `claude` CLI in tests.

It answers POST /v1/messages the way the API does: a JSON message, or with "stream": true the SSE
events message_start, content_block_start/delta/stop, message_delta and message_stop. Words in
the last user text choose the reply, as for the captures in tests/fixtures/:
  MOCK_TOOL    a Bash tool_use (echo hi-from-tool), then a text reply once the tool result is back
  MOCK_500     HTTP 500 (an api_error the CLI retries CLAUDE_CODE_MAX_RETRIES times)
  MOCK_429     HTTP 429 rate_limit_error without the account's headers: a server throttle, not its limit
  MOCK_HANG    answers only after 30 s (a turn long enough to interrupt or cancel)
  MOCK_WRITE=<absolute path>   a Write tool_use of that file ("written by the mock"), then a text reply
  anything else: "Mock reply #<n>. Last user text tail: <last 60 characters>"
Every request is recorded, so a test can check what the CLI sent. A test can also script the model:
each (tool name, input) in `script` is answered, in turn, to the next request of the main loop as a
tool_use of that tool (a coordinator's model calling agent-mcp's tools, say).
A test can give the mock an `account` (Account): the usage limits of a claude.ai subscription, which
the API reports in anthropic-ratelimit-unified-* headers on every response and which a subscription
(OAuth) login of the CLI turns into rate_limit_event lines. While the account is rejected every
request is a 429 rate_limit_error carrying the same headers; the rejection lifts at its reset time.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import JsonHandler, Loopback

USAGE = {
    "input_tokens": 120,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 15000,
    "output_tokens": 42,
}


WINDOWS = {"five_hour": "5h", "seven_day": "7d", "seven_day_overage_included": "7d_oi", "overage": "overage"}
"""The windows the CLI reads per-window headers for (anthropic-ratelimit-unified-<short>-*), as 2.1.332 names them."""
WINDOW_SECONDS = {"five_hour": 5 * 3600}
"""How long a window lasts (the weekly ones a week), for the next window after a reset."""


@dataclass
class Account:
    """A subscription's usage limit, the one the API names as the representative claim.

    `status` is what the account is now: allowed, allowed_warning (`surpassed_threshold` says which
    warning level was crossed; without it the CLI 2.1.332 does not warn) or rejected (until
    `resets_at`). `requests_left`, when set, is how many more requests are answered before the account
    becomes rejected: 1 lets a turn's first request through and rejects the tool result's.
    `send_reset` False leaves the reset headers out."""

    status: str = "allowed"
    window: str = "five_hour"
    resets_at: int = field(default_factory=lambda: int(time.time()) + 3 * 3600)
    utilization: float | None = None
    surpassed_threshold: float | None = None
    requests_left: int | None = None
    send_reset: bool = True

    def spend(self) -> None:
        """One request answered: the account's state as it is after it."""
        if self.status == "rejected" and time.time() >= self.resets_at:
            self.status, self.utilization, self.surpassed_threshold = "allowed", 0.0, None
            self.resets_at = int(time.time()) + WINDOW_SECONDS.get(self.window, 7 * 24 * 3600)
        if self.requests_left is not None:
            if self.requests_left <= 0:
                self.status, self.utilization, self.requests_left = "rejected", 1.0, None
            else:
                self.requests_left -= 1

    def headers(self) -> dict[str, str]:
        """The anthropic-ratelimit-unified-* headers the API sends with this state."""
        prefix = "anthropic-ratelimit-unified-"
        found = {prefix + "status": self.status, prefix + "representative-claim": self.window}
        short = WINDOWS.get(self.window)
        if self.send_reset:
            found[prefix + "reset"] = str(self.resets_at)
        if short is None:
            return found
        found[f"{prefix}{short}-status"] = self.status
        if self.send_reset:
            found[f"{prefix}{short}-reset"] = str(self.resets_at)
        if self.utilization is not None:
            found[f"{prefix}{short}-utilization"] = str(self.utilization)
        if self.surpassed_threshold is not None:
            found[f"{prefix}{short}-surpassed-threshold"] = str(self.surpassed_threshold)
        return found


def _text_of(content: Any) -> str:
    """What the user typed (and tool results), without the CLI's <system-reminder> context blocks."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if block.get("type") == "text" and not block["text"].startswith("<system-reminder>"):
            parts.append(block["text"])
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            parts.append("TOOL_RESULT:" + (_text_of(inner) if not isinstance(inner, str) else inner))
    return " ".join(parts)


def _newest_block(content: Any) -> Any:
    """The last text or tool_result block of a user message (the CLI's context blocks left out)."""
    if isinstance(content, str):
        return content
    blocks = [
        b
        for b in content or ()
        if b.get("type") == "tool_result" or (b.get("type") == "text" and not b["text"].startswith("<system-reminder>"))
    ]
    return blocks[-1:]


class MockAnthropic(Loopback):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: list[str] = []
        """The text of every text reply, in order."""
        self._counter = itertools.count(1)
        self.script: list[tuple[str, dict[str, Any]]] = []
        self.account: Account | None = None
        """A subscription's usage limits, reported on every response; None: none (an API key's)."""
        mock = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if not self.path.startswith("/v1/messages"):
                    self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
                    return
                request = json.loads(body or b"{}")
                mock.requests.append({"path": self.path, "headers": dict(self.headers), "body": request})
                mock.answer(self, request)

            def do_GET(self) -> None:
                self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def more_headers(self, limits: bool) -> None:
                mock.send_account(self, limits)

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"

    def user_texts(self, request: dict[str, Any]) -> list[str]:
        """Every text block the user sent in one request, the CLI's context blocks left out."""
        texts = []
        for message in request["body"].get("messages") or ():
            content = message["content"]
            if message["role"] != "user":
                continue
            if isinstance(content, str):
                texts.append(content)
                continue
            texts.extend(
                b["text"] for b in content if b.get("type") == "text" and not b["text"].startswith("<system-reminder>")
            )
        return texts

    def main_requests(self) -> list[dict[str, Any]]:
        """Requests of the agent's main loop (the ones that carry the tools), not side calls."""
        return [r for r in self.requests if r["body"].get("tools")]

    def send_account(self, handler: BaseHTTPRequestHandler, limits: bool = True) -> None:
        """The request's id and the account's limit headers, as the API sends them with every answer."""
        handler.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        for name, value in (self.account.headers() if self.account and limits else {}).items():
            handler.send_header(name, value)

    def answer(self, handler: BaseHTTPRequestHandler, request: dict[str, Any]) -> None:
        if self.account is not None:
            self.account.spend()
            if self.account.status == "rejected":
                limited = {
                    "type": "rate_limit_error",
                    "message": "This request would exceed your account's rate limit. Please try again later.",
                }
                handler._json(429, {"type": "error", "error": limited})  # type: ignore[attr-defined]
                return
        users = [m for m in request.get("messages") or () if m.get("role") == "user"]
        # The newest words only: a CLI may send a failed turn's text again in the same user message
        # as the next one (2.1.332 does, after an API error).
        last = _text_of(_newest_block(users[-1]["content"])) if users else ""
        if "MOCK_HANG" in last:
            time.sleep(30)
        if "MOCK_500" in last:
            handler._json(500, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})  # type: ignore[attr-defined]
            return
        if "MOCK_429" in last:
            handler._json(
                429, {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}}, False
            )  # type: ignore[attr-defined]
            return
        if self.script and request.get("tools"):
            name, tool_input = self.script.pop(0)
            blocks: list[dict[str, Any]] = [
                {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": name, "input": tool_input}
            ]
            stop = "tool_use"
        elif (write := re.search(r"MOCK_WRITE=(\S+)", last)) and "TOOL_RESULT:" not in last:
            blocks = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:24],
                    "name": "Write",
                    "input": {"file_path": write.group(1), "content": "written by the mock\n"},
                }
            ]
            stop = "tool_use"
        elif "MOCK_TOOL" in last and "TOOL_RESULT:" not in last:
            blocks = [
                {"type": "text", "text": "I will run a command."},
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:24],
                    "name": "Bash",
                    "input": {"command": "echo hi-from-tool", "description": "Print a greeting"},
                },
            ]
            stop = "tool_use"
        else:
            tail = last.strip().replace("\n", " ")[-60:]
            blocks = [{"type": "text", "text": f"Mock reply #{next(self._counter)}. Last user text tail: {tail}"}]
            stop = "end_turn"
            self.replies.append(blocks[0]["text"])
        message = {
            "id": "msg_" + uuid.uuid4().hex[:24],
            "type": "message",
            "role": "assistant",
            "model": request.get("model", "claude-opus-4-8"),
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": dict(USAGE),
        }
        if request.get("stream"):
            self._stream(handler, message)
        else:
            handler._json(200, message)  # type: ignore[attr-defined]

    def _stream(self, handler: BaseHTTPRequestHandler, message: dict[str, Any]) -> None:
        handler.send_response(200)
        self.send_account(handler)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("connection", "close")
        handler.end_headers()

        def send(event: str, data: dict[str, Any]) -> None:
            handler.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            handler.wfile.flush()

        start = {**message, "content": [], "stop_reason": None, "usage": {**USAGE, "output_tokens": 1}}
        send("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                send(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                )
                send(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": block["text"]},
                    },
                )
            else:
                send(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                )
                send(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                    },
                )
            send("content_block_stop", {"type": "content_block_stop", "index": index})
        send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": USAGE["output_tokens"]},
            },
        )
        send("message_stop", {"type": "message_stop"})
        handler.close_connection = True
