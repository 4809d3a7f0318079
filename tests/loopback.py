"""What the loopback mocks of the APIs (mock_api.py, mock_openai.py) share: a threaded HTTP server on
127.0.0.1, started and stopped with `with`, and a request handler that answers JSON."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, payload: dict[str, Any], limits: bool = True) -> None:
        """`limits`: the answer carries the account's usage-limit headers, where a mock has an account."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.more_headers(limits)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def more_headers(self, limits: bool) -> None:
        """The headers a mock's API sends with every answer (mock_api.py: a request id, the limits)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A CLI drops connections it no longer needs (codex's WebSocket attempt): no traceback for that."""


class Loopback:
    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self.server = _Server(("127.0.0.1", port), handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
