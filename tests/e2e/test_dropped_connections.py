"""A client that drops its connection mid-answer (a browser leaving a page, an aborted fetch) must not kill
`ragline up`: the stack runs with Python's own SIGPIPE handling, not the default action the CLI gives
commands that print (`ragline ls | head`).

Runs on the stack of tests/e2e/test_local_stack.py (its module-scoped fixtures, a stack of this module's own).
"""

from __future__ import annotations

import json
import socket
import struct
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.test_local_stack import backend, home  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def drop_mid_answer(host: str, port: int, reset: bool) -> None:
    """Ask for a large answer (the OpenAPI document) and close the connection before reading it: the
    server's first write is answered with a reset, and its next one hits a dead connection (EPIPE)."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"GET /openapi.json HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        if reset:  # SO_LINGER 0: close sends a reset at once
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_the_stack_outlives_clients_that_drop_their_connections(home):  # noqa: F811
    api = json.loads((home / "endpoints.json").read_text())["api_url"]
    url = urlsplit(api)
    for attempt in range(40):
        drop_mid_answer(url.hostname or "127.0.0.1", url.port or 80, reset=attempt % 2 == 1)

    assert requests.get(f"{api}/health", timeout=30).json() == {"status": "ok"}
    assert requests.get(f"{api}/openapi.json", timeout=30).status_code == 200
