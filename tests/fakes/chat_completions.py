"""FakeChatCompletionsServer: a real HTTP server, in a thread, that speaks OpenAI's chat completions API.

It records every request (path, headers, JSON body) and answers from a script: each :class:`Reply` queued is
used once, in order, and when none is left it answers a chat completion of ``content``. A reply may wait
before answering (``delay``), to make a client time out; one whose client has gone by then, or whose server
has stopped, is not written (a write to a closed socket would raise SIGPIPE, which kills the test run where
the CLI's tests left its default action in place).

    >>> with FakeChatCompletionsServer(content="25 days [1].") as server:
    ...     server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    True
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a status, a body (a dict is sent as JSON, bytes as they are), headers, a delay."""

    status: int = 200
    body: dict[str, Any] | bytes = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any  # the JSON body, parsed


def completion(
    content: Any,
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    prompt_tokens: int = 120,
    completion_tokens: int = 12,
) -> dict[str, Any]:
    """A chat completion as OpenAI answers it (``content`` None and a ``refusal``: the model declined)."""
    message = {"role": "assistant", "content": content, "refusal": refusal}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeChatCompletionsServer:
    """``POST /v1/chat/completions`` on 127.0.0.1 (a free port); any other path is a 404."""

    def __init__(self, content: str = "I could not tell.") -> None:
        self.content = content
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True  # a reply still waiting out its delay does not hold up stop()
        # A short poll: stop() waits for the loop to notice, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> FakeChatCompletionsServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()  # replies still waiting out a delay give up
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.replies:
                return self.replies.popleft()
        if request.path != "/v1/chat/completions":
            return Reply(404, {"error": {"message": "not found", "type": "not_found_error"}})
        return Reply(200, completion(self.content))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = fake._next(Request("POST", self.path, headers, json.loads(raw) if raw else None))
                if fake._stopped.wait(reply.delay) or (reply.delay and self._client_gone()):
                    return
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def _client_gone(self) -> bool:
                """Whether the client closed the connection (it reads as ended, without blocking)."""
                readable, _, _ = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                try:
                    return self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        return Handler
