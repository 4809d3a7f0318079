"""A loopback mock of the OpenAI Responses API, for driving the real `codex` CLI in tests.

It answers POST .../responses the way the API does, as server-sent events (response.created,
response.output_item.done, response.completed). A WebSocket upgrade is refused with 426, which
makes codex fall back to HTTPS at once (a 404 there makes it retry five times first). Words in the
last user text choose the reply, as for the captures in tests/fixtures/codex/:
  MOCK_TOOL    a tool call running `sleep 1; echo slept` (codex's command_execution), then a reply
  MOCK_PATCH   a tool call adding mock_patched.txt with apply_patch (codex's file_change), then a reply
  MOCK_401     HTTP 401 invalid_api_key (codex retries it five times, then fails the turn)
  MOCK_USAGE   HTTP 429 usage_limit_reached (a ChatGPT plan's limit: no retries)
  MOCK_429     HTTP 429 rate_limit_exceeded (an API key's limit: retried inside codex's HTTP layer)
  MOCK_500     HTTP 500 server_error (retried five times)
  MOCK_FAILED  a stream that ends in response.failed
  MOCK_HANG    answers only after 30 s (a turn long enough to cancel)
  anything else: "Mock reply #<n>. Last user text tail: <last 60 characters>"
Every request is recorded, so a test can check what the CLI sent (the prompt byte for byte).
Run as a program (`python mock_openai.py PORT`) it serves until killed.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from typing import Any

from loopback import JsonHandler, Loopback

USAGE = {
    "input_tokens": 1234,
    "input_tokens_details": {"cached_tokens": 1000},
    "output_tokens": 56,
    "output_tokens_details": {"reasoning_tokens": 10},
    "total_tokens": 1290,
}
TOOL_CODE = {
    "MOCK_TOOL": "const r = await tools.exec_command({cmd: 'sleep 1; echo slept'}); text(r);",
    "MOCK_PATCH": "const r = await tools.apply_patch('*** Begin Patch\\n*** Add File: mock_patched.txt\\n+patched\\n"
    "*** End Patch\\n'); text(r);",
}
"""Code codex's `exec` tool runs (its code mode), asked for by the word."""

_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "MOCK_401": (401, {"message": "Missing bearer or basic authentication in header",
                       "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}),
    "MOCK_429": (429, {"message": "Rate limit reached for gpt-5 in organization org-x on tokens per min (TPM): "
                       "Limit 30000, Used 30000, Requested 100. Please try again in 2s.", "type": "tokens",
                       "param": None, "code": "rate_limit_exceeded"}),
    "MOCK_500": (500, {"message": "The server had an error while processing your request. Sorry about that!",
                       "type": "server_error", "param": None, "code": None}),
}  # fmt: skip


def input_texts(body: dict[str, Any], role: str = "user") -> list[str]:
    """The texts of the request's input messages of that role, in order."""
    texts = []
    for item in body.get("input") or ():
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role") == role:
            for part in item.get("content") or ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
    return texts


class MockOpenAI(Loopback):
    def __init__(self, port: int = 0, websocket_status: int = 426) -> None:
        """websocket_status 404: codex tries its WebSocket five times ("Reconnecting..." error events) first."""
        self.requests: list[dict[str, Any]] = []
        self.replies: list[str] = []
        self._counter = itertools.count(1)
        mock = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                if self.headers.get("Upgrade"):
                    self._json(websocket_status, {"error": {"message": "use HTTPS"}})
                elif self.path.endswith("/models"):
                    self._json(200, {"object": "list", "data": [], "models": []})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if not self.path.endswith("/responses"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                request = json.loads(body or b"{}")
                mock.requests.append({"path": self.path, "headers": dict(self.headers), "body": request})
                mock.answer(self, request)

        super().__init__(Handler, port)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def prompts(self) -> list[str]:
        """The last user text of every request: what the CLI was given to send."""
        return [texts[-1] for r in self.requests if (texts := input_texts(r["body"]))]

    def answer(self, handler: Any, request: dict[str, Any]) -> None:
        texts = input_texts(request)
        last = texts[-1] if texts else ""
        tool_done = any(
            isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output")
            for item in request.get("input") or ()
        )
        if "MOCK_HANG" in last:
            time.sleep(30)
        for word, (status, error) in _ERRORS.items():
            if word in last:
                handler._json(status, {"error": error})
                return
        if "MOCK_USAGE" in last:
            handler._json(429, {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                          "plan_type": "plus", "resets_at": int(time.time()) + 3600,
                                          "resets_in_seconds": 3600}})  # fmt: skip
            return
        if "MOCK_FAILED" in last:
            failed = {"id": "resp_1", "error": {"code": "server_error", "message": "Something went wrong on our side."}}
            self._stream(handler, [{"type": "response.failed", "response": failed}])
            return
        tool = next((word for word in TOOL_CODE if word in last), None)
        if tool is not None and not tool_done:
            code = TOOL_CODE[tool]
            call = {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "exec", "input": code}
            usage = {**USAGE, "input_tokens": 100, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5}
            self._stream(handler, [{"type": "response.output_item.done", "output_index": 0, "item": call}], usage)
            return
        tail = last.strip().replace("\n", " ")[-60:]
        text = f"Mock reply #{next(self._counter)}. Last user text tail: {tail}"
        self.replies.append(text)
        reasoning = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "**Thinking**"}]}
        message = {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]}  # fmt: skip
        self._stream(handler, [{"type": "response.output_item.done", "output_index": 0, "item": reasoning},
                               {"type": "response.output_item.done", "output_index": 1, "item": message}])  # fmt: skip

    def _stream(self, handler: Any, events: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("connection", "close")
        handler.end_headers()
        done = {"type": "response.completed", "response": {"id": "resp_1", "usage": usage or USAGE}}
        ending = [] if events and events[-1]["type"] == "response.failed" else [done]
        for event in [{"type": "response.created", "response": {"id": "resp_1"}}, *events, *ending]:
            handler.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            handler.wfile.flush()
        handler.close_connection = True


if __name__ == "__main__":
    with MockOpenAI(int(sys.argv[1])) as served:
        print(served.url, flush=True)
        threading.Event().wait()
