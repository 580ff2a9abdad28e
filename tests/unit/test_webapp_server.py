"""The local gateway's web app: its files (only those, with their content types and security headers), the
local config.json and the local sign-in; the API's own answers are unchanged beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ragline.local.gateway import NO_SUCH_ROUTE, LocalApiGateway
from ragline.local.tokens import TokenVerifier
from ragline.local.webapp_server import WEBAPP_DIR, LocalWebApp
from tests.unit.test_local_gateway import RecordingFunction

S3_ENDPOINT = "http://127.0.0.1:4566"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RecordingFunction, Path]]:
    home = tmp_path_factory.mktemp("home")
    function = RecordingFunction()
    served = LocalApiGateway(function, TokenVerifier(home), webapp=LocalWebApp(home, S3_ENDPOINT))  # type: ignore[arg-type]
    served.start()
    try:
        yield served.url, function, home
    finally:
        served.stop()


@pytest.fixture
def served(gateway: tuple[str, RecordingFunction, Path]) -> tuple[str, RecordingFunction, Path]:
    """The module's gateway (one: starting and stopping takes half a second), its function's events cleared."""
    gateway[1].events.clear()
    return gateway


@pytest.mark.parametrize(
    ("path", "file", "content_type"),
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/index.html", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/auth.js", "auth.js", "text/javascript; charset=utf-8"),
        ("/app.css", "app.css", "text/css; charset=utf-8"),
    ],
)
def test_the_apps_files_are_served_with_their_type_and_security_headers(served, path, file, content_type):
    url, function, _ = served

    response = requests.get(url + path, timeout=10)

    assert response.status_code == 200
    assert response.content == (WEBAPP_DIR / file).read_bytes()
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"  # no inline script
    assert policy["connect-src"] == f"'self' {S3_ENDPOINT}"  # the API, and the presigned uploads to S3
    assert policy["frame-ancestors"] == "'none'"
    assert function.events == []  # never the API's


def test_every_file_of_the_app_is_served(served):
    url, _, _ = served
    names = sorted(path.name for path in WEBAPP_DIR.iterdir())
    assert "index.html" in names and "app.js" in names
    for name in names:
        assert requests.get(f"{url}/{name}", timeout=10).status_code == 200, name


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/..%2Fgateway.py",
        "/%2e%2e/local/gateway.py",
        "/webapp/index.html",
        "//etc/passwd",
        "/app.js/../../local/gateway.py",
        "/gateway.py",  # a file of the package, beside the app's folder
        "/__init__.py",
        "/index.html/",
        "/APP.JS",
    ],
)
def test_nothing_outside_the_apps_files_is_served(served, path):
    url, function, _ = served
    # A raw request: requests would normalise the dots away before sending.
    session = requests.Session()
    prepared = requests.Request("GET", url + "/").prepare()
    prepared.url = url + path

    response = session.send(prepared, timeout=10)

    assert (response.status_code, response.json()) == (404, NO_SUCH_ROUTE)
    assert function.events == []


def test_only_files_the_app_folder_lists_with_a_known_type_are_served(tmp_path):
    folder = tmp_path / "app"
    (folder / "nested").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html>")
    (folder / "notes.txt").write_text("not part of the app")
    (folder / "nested" / "deep.js").write_text("export {};")
    (folder / "app.js").write_text("export {};")
    app = LocalWebApp(tmp_path, "", folder)

    assert app.reply("GET", "/app.js", "localhost:1", b"").status == 200  # type: ignore[union-attr]
    for path in ("/notes.txt", "/nested/deep.js", "/nested", "/missing.js"):
        assert app.reply("GET", path, "localhost:1", b"") is None, path
    headers = app.reply("GET", "/", "localhost:1", b"").headers  # type: ignore[union-attr]
    assert "connect-src 'self';" in headers["Content-Security-Policy"]  # no S3 endpoint named: only 'self'


def test_the_config_names_local_sign_in_and_the_api_on_the_same_origin(served):
    url, _, _ = served
    response = requests.get(url + "/config.json", timeout=10)
    assert response.json() == {"auth": "local", "api_url": ""}
    assert response.headers["Content-Type"] == "application/json"


def test_sign_in_returns_a_token_the_gateway_accepts_with_the_user_and_groups(served):
    url, function, home = served

    response = requests.post(url + "/local/sign-in", json={"user": "alice", "groups": ["finance", "hr"]}, timeout=10)

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    claims = TokenVerifier(home).verify(response.json()["token"])
    assert (claims["cognito:username"], claims["cognito:groups"]) == ("alice", ["finance", "hr"])
    token = response.json()["token"]
    listed = requests.get(url + "/documents", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert listed.status_code == 200
    assert function.events[0]["requestContext"]["authorizer"]["claims"]["cognito:groups"] == "finance,hr"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"user": "", "groups": []}, "invalid_user"),
        ({"user": "alice smith", "groups": []}, "invalid_user"),
        ({"user": "a" * 65, "groups": []}, "invalid_user"),
        ({"user": 7, "groups": []}, "invalid_user"),
        ({"groups": ["finance"]}, "invalid_user"),
        ({"user": "alice", "groups": "finance"}, "invalid_groups"),
        ({"user": "alice", "groups": ["finance,admin"]}, "invalid_groups"),  # one group that would read as two
        ({"user": "alice", "groups": ["finance", 3]}, "invalid_groups"),
        ({"user": "alice", "groups": ["finance hr"]}, "invalid_groups"),
        ({"user": "alice", "groups": [f"g{n}" for n in range(21)]}, "invalid_groups"),
        (["alice"], "invalid_body"),
    ],
)
def test_sign_in_refuses_names_outside_the_role_pattern(served, body, code):
    url, _, _ = served
    response = requests.post(url + "/local/sign-in", json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]
    assert "token" not in response.json()


@pytest.mark.parametrize(("data", "code"), [(b"not json", "invalid_json"), (b"{" * 5000, "body_too_large")])
def test_sign_in_refuses_a_body_that_is_not_small_json(served, data, code):
    url, _, _ = served
    response = requests.post(url + "/local/sign-in", data=data, timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_a_page_of_another_host_name_gets_neither_the_app_nor_a_token(served):
    """DNS rebinding: another site's name resolving to 127.0.0.1 reaches the gateway with its own Host."""
    url, _, _ = served
    for method, path in (("GET", "/"), ("GET", "/config.json"), ("POST", "/local/sign-in")):
        response = requests.request(
            method, url + path, headers={"Host": "attacker.example"}, json={"user": "alice", "groups": []}, timeout=10
        )
        assert (response.status_code, response.json()["code"]) == (403, "forbidden_host"), path
    assert requests.get(url + "/", headers={"Host": "localhost:8080"}, timeout=10).status_code == 200


def test_the_apis_routes_and_answers_are_unchanged_beside_the_app(served):
    url, function, _ = served
    assert requests.get(url + "/health", timeout=10).json() == {"resource": "/health", "query": None}
    for method, path in (("POST", "/"), ("DELETE", "/index.html"), ("GET", "/local/sign-in"), ("PUT", "/app.js")):
        response = requests.request(method, url + path, timeout=10)
        assert (response.status_code, response.json()) == (404, NO_SUCH_ROUTE), (method, path)
    assert [event["resource"] for event in function.events] == ["/health"]
