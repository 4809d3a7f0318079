"""A loopback mock of the Gemini API (generativelanguage v1beta), for driving the real `gemini` CLI in tests.

Adapted from ../shared/agent-clis/mock_gemini.py, which recorded what gemini-cli 0.61.0 printed. The
CLI is pointed at it with GOOGLE_GEMINI_BASE_URL=<url>/<mode> (auth `gemini-api-key` in its
~/.gemini/settings.json and any GEMINI_API_KEY); the first path segment chooses the outcome:
  ok          a streamed text reply ("Hello from " + "the gemini mock.") with usage metadata
  tool        a run_shell_command call (`echo slept`), then the text reply once the tool's result is back
  quota       429 RESOURCE_EXHAUSTED with a per-day quota violation (the CLI's TerminalQuotaError: no retry)
  quotaplain  429 RESOURCE_EXHAUSTED without details (the CLI retries it)
  badkey      400 API_KEY_INVALID
  500         500 INTERNAL (the CLI retries it)
  hang        answers only after 120 s (a turn to cancel)
  slow        as ok, 2 s later (an API that takes its time)
The CLI's side calls (its model router's classifier, countTokens) get answers in the shape it parses, so
its stderr carries no parse errors of the mock's making. Every request is recorded (`requests`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from loopback import JsonHandler, Loopback

QUOTA_DAY = {"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 50, model: gemini-2.5-pro\nPlease retry in 41.3s.", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"}, "quotaValue": "50"}]}, {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}, {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "41s"}]}}  # fmt: skip  # noqa: E501
QUOTA_PLAIN = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}  # fmt: skip  # noqa: E501
BAD_KEY = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]}}  # fmt: skip  # noqa: E501
SERVER = {"error": {"code": 500, "message": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "status": "INTERNAL"}}  # fmt: skip  # noqa: E501
ERRORS = {"quota": (429, QUOTA_DAY), "quotaplain": (429, QUOTA_PLAIN), "badkey": (400, BAD_KEY), "500": (500, SERVER)}

ROUTER = {"reasoning": "a mock", "model_choice": "flash", "complexity_reasoning": "a mock", "complexity_score": 1,
          "next_speaker": "user"}  # fmt: skip
"""One JSON answer for every non-streamed call the CLI makes (its routers, its next-speaker check)."""
REPLY = ["Hello from ", "the gemini mock."]
TOOL_COMMAND = "echo slept"


def _chunk(parts: list[dict[str, Any]], usage: dict[str, int], finished: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finished:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-pro"}


def _tool_answered(request: dict[str, Any]) -> bool:
    contents = request.get("contents") or []
    last = contents[-1] if contents else {}
    return any("functionResponse" in part for part in last.get("parts") or [])


class MockGemini(Loopback):
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        mock = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                self._json(200, {"models": []})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                mock.requests.append((self.path, body))
                mock.answer(self, self.path.split("/")[1], body)

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"

    def base_url(self, mode: str) -> str:
        """GOOGLE_GEMINI_BASE_URL for a CLI that should meet `mode`."""
        return f"{self.url}/{mode}"

    def turns(self) -> list[dict[str, Any]]:
        """The requests of the conversation itself (streamed), not the CLI's side calls."""
        return [body for path, body in self.requests if "streamGenerateContent" in path]

    @staticmethod
    def user_text(request: dict[str, Any]) -> str:
        """The last user text of a request: the prompt as the CLI sent it (after its session context)."""
        texts = [part["text"] for content in request.get("contents") or [] if content.get("role") == "user"
                 for part in content.get("parts") or [] if "text" in part]  # fmt: skip
        return texts[-1] if texts else ""

    def answer(self, handler: Any, mode: str, request: dict[str, Any]) -> None:
        if "countTokens" in handler.path:
            return handler._json(200, {"totalTokens": 10})  # type: ignore[no-any-return]
        if mode in ERRORS:
            status, payload = ERRORS[mode]
            return handler._json(status, payload)  # type: ignore[no-any-return]
        if mode == "hang":
            time.sleep(120)
            return None
        if mode == "slow":
            time.sleep(2)
        if "streamGenerateContent" not in handler.path:
            text = json.dumps(ROUTER)
            usage = {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10}
            return handler._json(200, _chunk([{"text": text}], usage, True))  # type: ignore[no-any-return]
        if mode == "tool" and not _tool_answered(request):
            args = {"command": TOOL_COMMAND, "description": "echo"}
            usage = {"promptTokenCount": 900, "candidatesTokenCount": 12, "totalTokenCount": 912}
            chunks = [_chunk([{"functionCall": {"name": "run_shell_command", "args": args}}], usage, True)]
        else:
            chunks = [
                _chunk([{"text": REPLY[0]}], {"promptTokenCount": 900, "totalTokenCount": 900}, False),
                _chunk([{"text": REPLY[1]}], {"promptTokenCount": 900, "candidatesTokenCount": 12,
                       "totalTokenCount": 930, "cachedContentTokenCount": 100, "thoughtsTokenCount": 18}, True),
            ]  # fmt: skip
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for chunk in chunks:
            handler.wfile.write(("data: " + json.dumps(chunk) + "\r\n\r\n").encode())
            handler.wfile.flush()
        handler.close_connection = True
        return None
