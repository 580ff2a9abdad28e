"""The HTTP API against its own OpenAPI document: Schemathesis generates requests from ``GET /openapi.json``
(valid ones, and ones the schema forbids), sends them to the local stack with a real token, and checks
every answer: no 5xx, a documented status and content type, a body that matches the documented schema,
and requests the schema forbids refused with a 4xx.

Not checked: that every request the schema allows is accepted. Some rules are beyond JSON Schema (a key's
"." and ".." segments, its length in UTF-8 bytes, lone surrogates, a cursor the API itself must have
made); such requests get the documented 400. What that check found and JSON Schema can say, the schema
says (a question of spaces only; 5.0 as an integer).

Runs on the stack of tests/e2e/test_local_stack.py (its module-scoped fixtures, a stack of this module's
own), over its small corpus, so that questions find passages and document ids can exist.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ragline.local.gateway import ROUTES
from tests.conftest import examples
from tests.e2e.test_local_stack import backend, corpus, home  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_schema(corpus):  # noqa: F811
    response = requests.get(f"{corpus.endpoints.api_url}/openapi.json", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    return schemathesis.openapi.from_dict(response.json())


@pytest.fixture(scope="module")
def caller(corpus) -> dict[str, str]:  # noqa: F811
    # A finance reader, as the corpus has finance documents; not an admin, whose answers differ in shape.
    return {"Authorization": f"Bearer {corpus.token('fuzz', ['finance'])}"}


# Every documented operation (tests/component/test_openapi.py checks these are the gateway's routes). Not
# schemathesis.pytest.from_fixture: it reads a node attribute pytest 9 no longer has.
OPERATIONS = [(method, path) for method, path, _ in ROUTES if path != "/openapi.json"]
# Requests the schema forbids, for every operation that takes an input (/health takes none).
CASES = [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS] + [
    (method, path, GenerationMode.NEGATIVE) for method, path in OPERATIONS if path != "/health"
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_answer_matches_the_document(api_schema, corpus, caller, method, path, mode):  # noqa: F811
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples(25), deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def answers_as_documented(case):
        case.call_and_validate(
            base_url=corpus.endpoints.api_url, headers=caller, timeout=30, excluded_checks=[positive_data_acceptance]
        )

    answers_as_documented()


def test_the_document_names_the_token_scheme_and_the_version(api_schema, corpus):  # noqa: F811
    from ragline import __version__

    raw = api_schema.raw_schema
    assert raw["info"]["version"] == __version__
    assert raw["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    } | {"description": "a Cognito ID token"}
