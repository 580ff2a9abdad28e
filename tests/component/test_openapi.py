"""GET /openapi.json: the query function's OpenAPI document, generated from its typed routes.

docs/openapi.json is a copy, checked here to be the document the code generates. After changing a route or
a model: ``make openapi`` (or ``WRITE_OPENAPI=1 pytest tests/component/test_openapi.py``) writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ragline.local.gateway import ROUTES

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
UNDOCUMENTED = {("GET", "/openapi.json")}  # the document does not describe itself


def served(stack) -> dict:
    status, document = stack.request("GET", "/openapi.json")
    assert status == 200
    return document


def test_the_document_is_served_without_a_token_and_is_the_checked_in_copy(stack):
    document = served(stack)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if os.environ.get("WRITE_OPENAPI"):
        CHECKED_IN.write_text(text)
    assert CHECKED_IN.read_text() == text, "docs/openapi.json is out of date: run make openapi"


def test_it_describes_exactly_the_routes_the_gateway_serves(stack):
    document = served(stack)
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert documented == {(method, path) for method, path, _ in ROUTES} - UNDOCUMENTED
    for method, path, needs_token in ROUTES:
        if (method, path) in UNDOCUMENTED:
            continue
        operation = document["paths"][path][method.lower()]
        assert (operation.get("security") == [{"token": []}]) == needs_token, (method, path)


def test_every_error_is_documented_with_the_error_body_and_no_422(stack):
    document = served(stack)
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)  # this API answers 400, not Powertools' 422
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == error, (method, path, status)
            if operation.get("security"):
                assert {"400", "401", "500"} <= set(responses), (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_request_models_carry_the_rules_limits(stack):
    schemas = served(stack)["components"]["schemas"]
    question = schemas["QueryBody"]["properties"]["question"]
    assert (question["minLength"], question["maxLength"]) == (1, 2000)
    assert schemas["QueryBody"]["required"] == ["question"]
    roles = schemas["UploadBody"]["properties"]["roles"]
    assert (roles["minItems"], roles["maxItems"], roles["items"]["pattern"]) == (1, 20, "^[A-Za-z0-9_.:-]{1,64}$")
    parameters = {p["name"]: p["schema"] for p in served(stack)["paths"]["/documents"]["get"]["parameters"]}
    assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (1, 100)
    assert set(parameters) == {"limit", "cursor", "status", "prefix", "search"}
