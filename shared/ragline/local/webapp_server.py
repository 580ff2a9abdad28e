"""The web app on the local stack: its files, its ``config.json`` and a local sign-in, beside the API.

The local API Gateway asks :meth:`LocalWebApp.reply` first and answers anything it declines (None) as the
API (an unknown route stays the API's 404 ``no such route``). Only the local stack has these routes: on
AWS the same files are served as static files and sign-in is Cognito's hosted UI (docs/security.md,
"The local web app").

Example:
    >>> app = LocalWebApp(Path("/tmp/ragline-home"), "http://127.0.0.1:5000")
    >>> app.reply("GET", "/config.json", "127.0.0.1:8080", b"").body
    b'{"auth": "local", "api_url": ""}'
    >>> app.reply("GET", "/../pyproject.toml", "127.0.0.1:8080", b"") is None
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragline.access import ROLE_PATTERN
from ragline.http_api import MAX_ROLES
from ragline.local.tokens import issue_token

WEBAPP_DIR = Path(__file__).resolve().parent.parent / "webapp"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
CONFIG_PATH = "/config.json"
SIGN_IN_PATH = "/local/sign-in"
MAX_SIGN_IN_BYTES = 4096
# The only host names the app answers to: a page of another site whose name was rebound to 127.0.0.1
# (DNS rebinding) sends its own name, and gets no token.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
LOCAL_CONFIG = {"auth": "local", "api_url": ""}  # "": the API is on the page's own origin


@dataclass(frozen=True)
class Reply:
    """An answer of the web app's: status, body and headers (Content-Type among them)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def content_security_policy(s3_endpoint: str) -> str:
    """The app's policy: its own scripts and styles only (none inline), and requests to its own origin
    (the API) and to S3 (the presigned uploads go straight to the bucket)."""
    connect = " ".join(["'self'", s3_endpoint.rstrip("/")] if s3_endpoint else ["'self'"])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class LocalWebApp:
    """The app's files in ``folder`` (each file by its name; no subfolder, so no path leaves it), the
    local ``config.json``, and ``POST /local/sign-in``, which signs a token with ``home``'s key."""

    def __init__(self, home: Path, s3_endpoint: str, folder: Path = WEBAPP_DIR) -> None:
        self._home = home
        # Decided once, from the folder's own listing: a request names one of these or is not the app's.
        self._files = {f"/{path.name}": path for path in folder.iterdir() if path.suffix in CONTENT_TYPES}
        self._files["/"] = folder / "index.html"
        self._page_headers = {
            "Cache-Control": "no-cache",
            "Content-Security-Policy": content_security_policy(s3_endpoint),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }

    def reply(self, method: str, path: str, host: str, body: bytes) -> Reply | None:
        """The answer to a request for the app (``host``: its Host header); None for any other request (the
        API's to answer)."""
        if not self._is_for_app(method, path):
            return None
        if _host_name(host) not in LOCAL_HOSTS:
            return self._json(403, {"message": "the local web app answers at 127.0.0.1 only", "code": "forbidden_host"})
        if method == "POST":
            return self._sign_in(body)
        if path == CONFIG_PATH:
            return self._json(200, LOCAL_CONFIG)
        return self._file(path)

    def _is_for_app(self, method: str, path: str) -> bool:
        if method == "GET":
            return path in self._files or path == CONFIG_PATH
        return method == "POST" and path == SIGN_IN_PATH

    def _file(self, path: str) -> Reply:
        file = self._files[path]
        content_type = CONTENT_TYPES[file.suffix]
        return Reply(200, file.read_bytes(), {"Content-Type": content_type, **self._page_headers})

    def _json(self, status: int, body: Any) -> Reply:
        headers = {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        return Reply(status, json.dumps(body).encode(), headers)

    def _sign_in(self, body: bytes) -> Reply:
        try:
            user, groups = sign_in_request(body)
        except InvalidSignIn as error:
            return self._json(400, {"message": error.message, "code": error.code})
        return self._json(200, {"token": issue_token(self._home, user, groups)})


class InvalidSignIn(Exception):
    """A sign-in body the local stack refuses (400 with ``{"message", "code"}``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sign_in_request(body: bytes) -> tuple[str, list[str]]:
    """The user and groups of a ``POST /local/sign-in`` body, checked as the API checks roles.

    >>> sign_in_request(b'{"user": "alice", "groups": ["finance", "hr"]}')
    ('alice', ['finance', 'hr'])
    """
    if len(body) > MAX_SIGN_IN_BYTES:
        raise InvalidSignIn("body_too_large", f"request body is over {MAX_SIGN_IN_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidSignIn("invalid_json", 'request body must be JSON: {"user": ..., "groups": [...]}') from None
    if not isinstance(payload, dict):
        raise InvalidSignIn("invalid_body", "request body must be a JSON object with a 'user' and 'groups'")
    user, groups = payload.get("user"), payload.get("groups", [])
    if not isinstance(user, str) or ROLE_PATTERN.fullmatch(user) is None:
        raise InvalidSignIn("invalid_user", "'user' must be 1 to 64 letters, digits or the characters _ . : -")
    if not isinstance(groups, list) or len(groups) > MAX_ROLES:
        raise InvalidSignIn("invalid_groups", f"'groups' must be a list of at most {MAX_ROLES} group names")
    if not all(isinstance(group, str) and ROLE_PATTERN.fullmatch(group) for group in groups):
        raise InvalidSignIn(
            "invalid_groups", "each group must be 1 to 64 letters, digits or the characters _ . : - (no spaces)"
        )
    return user, groups


def _host_name(host: str) -> str:
    """The name of a Host header, without its port: ``127.0.0.1:8080`` -> ``127.0.0.1``."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host
