"""A fake of ragline's HTTP API on 127.0.0.1, in a thread: canned answers, and a record of every request.

Each route answers from a queue of ``(status, body)`` given by the test (the last one repeats), so a test
can script a 503 followed by a 200. Requests are recorded with their method, path, query, headers and body.

Example:
    >>> from ragline.client import RaglineClient
    >>> with FakeHttpApi() as api:
    ...     api.answer("GET", "/health", (200, {"status": "ok"}))
    ...     RaglineClient(api.url).health(), [request.path for request in api.requests]
    (True, ['/health'])
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeHttpApi:
    requests: list[Recorded] = field(default_factory=list)
    _answers: dict[tuple[str, str], list[tuple[int, Any]]] = field(default_factory=dict)

    def answer(self, method: str, path: str, *answers: tuple[int, Any]) -> None:
        """Answer ``method path`` with these, in turn; the last one again and again."""
        self._answers[(method, path)] = list(answers)

    def _respond(self, method: str, path: str) -> tuple[int, Any]:
        answers = self._answers.get((method, path))
        if not answers:
            return 404, {"message": "no such route", "code": "not_found"}
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def __enter__(self) -> FakeHttpApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = {name: values[-1] for name, values in parse_qs(url.query).items()}
                fake.requests.append(Recorded(self.command, url.path, query, dict(self.headers.items()), body))
                status, answer = fake._respond(self.command, url.path)
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
