"""Requests and responses checked against the OpenSearch REST API specification (``opensearch-api.json``).

:class:`OpenSearchSpec` finds the operation of a request (its method and path), then checks its path and
query parameters, its JSON body (for ``_bulk`` each NDJSON line: an action line against the bulk
``OperationContainer``, the line after an ``index``/``create`` against the document schema) and the response
fed back. Each problem is a line of the :class:`SpecViolation` raised. (The specification lets a bulk line be
any object, so an action line is checked against the ``OperationContainer`` member of the body's ``anyOf``.)

Strictness is the specification's own tester's (``tools/src/tester/MergedOpenApiSpec.ts`` upstream): every
object schema that declares anything is given ``unevaluatedProperties: false`` so an undeclared property is
refused, except a component schema itself (it is made strict where it is used, through its ``$ref``), any
schema inside an ``allOf`` (made strict at the ``allOf``'s level), and a schema that may be of more than one
type. The vendored files are left as they are upstream; the strictness is added when they are loaded.

    >>> spec = OpenSearchSpec.load()
    >>> spec.check_request(Request("POST", "/chunks/_search", {}, {"size": 1})).group
    'search'
    >>> spec.check_request(Request("POST", "/chunks/_search", {}, {"sise": 1}))
    Traceback (most recent call last):
    ...
    tests.opensearch_spec.validate.SpecViolation: POST /chunks/_search (search): body: ...
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

BUNDLE = Path(__file__).with_name("opensearch-api.json")
_BASE = "https://opensearch-api-specification.invalid/spec/"
_METHODS = ("get", "put", "post", "delete", "head", "patch")
_ALL_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_NDJSON = "application/x-ndjson"
_MSEARCH_FILE = "schemas/_core.msearch.yaml"
_AGGREGATIONS_FILE = "schemas/_common.aggregations.yaml"
_WITH_DOCUMENT = ("index", "create", "update")

#: Where a node of the specification is: its file and the keys leading to it.
Location = tuple[str, tuple[str, ...]]


class SpecViolation(AssertionError):
    """A request or response the OpenSearch REST API specification does not allow; one line a problem."""


@dataclass(frozen=True)
class Request:
    """One HTTP request: ``params`` are its query parameters, ``body`` its JSON (a list of lines for NDJSON)."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Operation:
    """An operation of the specification: its group (``search``, ``indices.create``) and where it is."""

    group: str
    method: str
    template: str
    location: Location


class OpenSearchSpec:
    """The vendored specification, made strict as its tester makes it, with a schema registry over it."""

    def __init__(self, files: dict[str, Any], source: dict[str, Any]) -> None:
        self.files = files
        self.source = source
        self.registry: Registry[Any] = Registry().with_resources(
            (_BASE + name, DRAFT202012.create_resource(document)) for name, document in files.items()
        )
        self._operations = [
            Operation(op["x-operation-group"], method, template, (name, ("paths", template, method)))
            for name, document in files.items()
            for template, item in document.get("paths", {}).items()
            for method, op in item.items()
            if method in _METHODS
        ]

    @classmethod
    @cache
    def load(cls, bundle: Path = BUNDLE) -> OpenSearchSpec:
        data = json.loads(bundle.read_text())
        files = copy.deepcopy(data["files"])
        make_strict(files)
        return cls(files, data["source"])

    # -- finding things ---------------------------------------------------------------------------

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation ``method path`` calls and the path's parameters; :class:`SpecViolation` if none."""
        matches = []
        for operation in self._operations:
            if operation.method != method.lower():
                continue
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(operation.template))
            match = re.fullmatch(pattern, path)
            if match:
                matches.append((operation.template.count("{"), operation, match.groupdict()))
        if not matches:
            raise SpecViolation(f"{method} {path}: no operation of the specification (vendored ones: {self.groups()})")
        _, operation, values = min(matches, key=lambda m: m[0])  # a literal segment beats a parameter
        return operation, values

    def groups(self) -> list[str]:
        return sorted({operation.group for operation in self._operations})

    def node(self, location: Location) -> Any:
        name, keys = location
        value = self.files[name]
        for key in keys:
            value = value[int(key)] if isinstance(value, list) else value[key]
        return value

    def follow(self, location: Location) -> Location:
        """``location``, or where the ``$ref`` it holds points, repeatedly (for parameters, bodies, responses)."""
        while isinstance(ref := self.node(location).get("$ref"), str):
            location = resolve(location[0], ref)
        return location

    # -- checking ---------------------------------------------------------------------------------

    def check_request(self, request: Request) -> Operation:
        """The operation ``request`` calls, after checking it; :class:`SpecViolation` listing every problem."""
        operation, path_values = self.operation(request.method, request.path)
        problems = self._parameter_problems(operation, path_values, request.params)
        problems += self._body_problems(operation, request.body)
        _raise(f"{request.method} {request.path} ({operation.group})", problems)
        return operation

    def check_response(self, request: Request, status: int, body: Any) -> None:
        """Check the response ``body`` with ``status`` the server gave (or a test fed) to ``request``."""
        operation, _ = self.operation(request.method, request.path)
        responses = self.node(operation.location)["responses"]
        if str(status) not in responses:
            _raise(f"{request.method} {request.path} ({operation.group})", [f"no response {status} specified"])
        response = self.follow((operation.location[0], (*operation.location[1], "responses", str(status))))
        content = self.node(response).get("content", {})
        problems = []
        if body is not None or content:
            media = "application/json" if "application/json" in content else next(iter(content), None)
            if media is None:
                problems.append(f"response {status}: a body where the specification has none")
            else:
                where = (response[0], (*response[1], "content", media, "schema"))
                if isinstance(body, dict) and "aggregations" in body:
                    problems += self.composite_problems(body["aggregations"])
                    body = {name: value for name, value in body.items() if name != "aggregations"}
                problems += self.schema_problems(where, body, f"response {status}")
        _raise(f"{request.method} {request.path} ({operation.group}) response", problems)

    def composite_problems(self, aggregations: Any) -> list[str]:
        """A search response's aggregations, each a composite aggregation (the one kind ragline asks for).

        The specification cannot check them as they come: a response's aggregate is ``anyOf`` some sixty
        kinds, told apart only by typed keys (``composite#name``), which ragline does not ask for; and a
        composite bucket is ``allOf`` ``MultiBucketBase``, whose ``additionalProperties`` (sub-aggregations)
        also claims the bucket's ``key``, so no real bucket validates. So the aggregate is checked against
        ``CompositeAggregate`` with no buckets, each bucket without its key against ``MultiBucketBase``,
        and each key against ``CompositeAggregateKey`` (tests/unit/test_opensearch_spec.py shows the limit)."""
        aggregate = (_AGGREGATIONS_FILE, ("components", "schemas", "CompositeAggregate"))
        key = (_AGGREGATIONS_FILE, ("components", "schemas", "CompositeAggregateKey"))
        base = (_AGGREGATIONS_FILE, ("components", "schemas", "MultiBucketBase"))
        if not isinstance(aggregations, dict):
            return ["aggregations: not an object"]
        problems: list[str] = []
        for name, value in aggregations.items():
            buckets = value.get("buckets") if isinstance(value, dict) else None
            if not isinstance(buckets, list):
                problems.append(f"aggregations[{name!r}]: no list of buckets")
                continue
            problems += self.schema_problems(aggregate, {**value, "buckets": []}, f"aggregations[{name!r}]")
            for i, bucket in enumerate(buckets):
                keyless = {field: v for field, v in bucket.items() if field != "key"}
                problems += self.schema_problems(base, keyless, f"aggregations[{name!r}] bucket {i}")
                if "key" not in bucket:
                    problems.append(f"aggregations[{name!r}] bucket {i}: no key")
                else:
                    problems += self.schema_problems(key, bucket["key"], f"aggregations[{name!r}] bucket {i} key")
        return problems

    def schema_problems(self, location: Location, value: Any, what: str) -> list[str]:
        """``value`` checked against the schema at ``location``: one line per error."""
        validator = Draft202012Validator({"$ref": uri(location)}, registry=self.registry)
        return [_describe(what, error) for error in validator.iter_errors(value)]

    def _parameter_problems(
        self, operation: Operation, path_values: dict[str, str], query: dict[str, Any]
    ) -> list[str]:
        declared = self._parameters(operation)
        problems = []
        for kind, values in (("path", path_values), ("query", query)):
            for key, value in values.items():
                if (kind, key) not in declared:
                    problems.append(f"{kind} parameter {key!r}: not a parameter of {operation.group}")
                    continue
                # A string may stand for another value ("true" for true): one reading that fits is enough.
                where, what = declared[(kind, key)], f"{kind} parameter {key!r}"
                found = [self.schema_problems(where, reading, what) for reading in _readings(value)]
                if all(found):
                    problems += found[0]
        return problems

    def _parameters(self, operation: Operation) -> dict[tuple[str, str], Location]:
        """The operation's parameters and the global ones, ``(in, name)`` -> where the schema of each is."""
        declared: dict[tuple[str, str], Location] = {}
        name, keys = operation.location
        for i, _ in enumerate(self.node(operation.location).get("parameters", [])):
            where = self.follow((name, (*keys, "parameters", str(i))))
            parameter = self.node(where)
            declared[(parameter["in"], parameter["name"])] = (where[0], (*where[1], "schema"))
        for key, parameter in self.files["_global_parameters.yaml"]["components"]["parameters"].items():
            where = ("_global_parameters.yaml", ("components", "parameters", key, "schema"))
            declared.setdefault((parameter["in"], parameter["name"]), where)
        return declared

    def _body_problems(self, operation: Operation, body: Any) -> list[str]:
        declared = self.node(operation.location).get("requestBody")
        if declared is None:
            return [] if body is None else ["body: a body where the specification has none"]
        name, keys = self.follow((operation.location[0], (*operation.location[1], "requestBody")))
        content = self.node((name, keys))["content"]
        if body is None:
            return ["body: required by the specification, none sent"] if self.node((name, keys)).get("required") else []
        if _NDJSON in content and operation.group == "msearch":
            return self.msearch_problems(body)
        if _NDJSON in content:
            return self.bulk_problems((name, (*keys, "content", _NDJSON, "schema")), body)
        media = "application/json" if "application/json" in content else next(iter(content))
        return self.schema_problems((name, (*keys, "content", media, "schema")), body, "body")

    def bulk_problems(self, location: Location, lines: list[Any]) -> list[str]:
        """An NDJSON bulk body: the array as a whole, then each action line and the document after it."""
        problems = self.schema_problems(location, lines, "body")
        # The body's items are any of an action, an update's document or any object; which line is which
        # is known here, so each is checked against its own member (where the $ref is: it is strict there).
        action = (location[0], (*location[1], "items", "anyOf", "0"))
        document = (location[0], (*location[1], "items", "anyOf", "2"))
        i = 0
        while i < len(lines):
            problems += self.schema_problems(action, lines[i], f"line {i + 1} (action)")
            kind = next(iter(lines[i]), None) if isinstance(lines[i], dict) else None
            if kind in _WITH_DOCUMENT:
                if i + 1 >= len(lines):
                    problems.append(f"line {i + 1}: a {kind} action with no document after it")
                else:
                    problems += self.schema_problems(document, lines[i + 1], f"line {i + 2} (document)")
                i += 1
            i += 1
        return problems

    def msearch_problems(self, lines: list[Any]) -> list[str]:
        """An NDJSON multi-search body: a header line, then a search line, in turn, each checked against its
        own schema. (The body's items are one of a header or a search, and a header of defaults, ``{}``, is a
        valid search too, so the array's ``oneOf`` alone would refuse it.)"""
        if not isinstance(lines, list) or len(lines) % 2:
            return ["body: not pairs of a header line and a search line"]
        header = (_MSEARCH_FILE, ("components", "schemas", "MultisearchHeader"))
        search = (_MSEARCH_FILE, ("components", "schemas", "MultisearchBody"))
        problems: list[str] = []
        for i, line in enumerate(lines):
            kind, location = ("header", header) if i % 2 == 0 else ("search", search)
            problems += self.schema_problems(location, line, f"line {i + 1} ({kind})")
        return problems


def uri(location: Location) -> str:
    """The URI of a node, for a ``$ref`` to it."""
    name, keys = location
    pointer = "/".join(key.replace("~", "~0").replace("/", "~1") for key in keys)
    return f"{_BASE}{name}#/{pointer}"


def resolve(name: str, ref: str) -> Location:
    """Where a ``$ref`` written in file ``name`` points."""
    target, _, pointer = ref.partition("#")
    if target:
        parts = (name.rsplit("/", 1)[0] + "/" if "/" in name else "") + target
        stack: list[str] = []
        for part in parts.split("/"):
            if part == "..":
                stack.pop()
            elif part not in ("", "."):
                stack.append(part)
        name = "/".join(stack)
    keys = tuple(key.replace("~1", "/").replace("~0", "~") for key in pointer.strip("/").split("/") if key)
    return name, keys


# -- strictness, as the specification's tester adds it --------------------------------------------------


def make_strict(files: dict[str, Any]) -> None:
    """Give every object schema that declares something ``unevaluatedProperties: false``, in place, as the
    specification's tester does (the rules are in the module's docstring)."""
    for name, document in files.items():
        for template, item in document.get("paths", {}).items():
            for method, operation in item.items():
                if method in _METHODS:
                    _visit_operation(files, name, ("paths", template, method), operation)
        components = document.get("components", {})
        for kind in ("parameters", "requestBodies", "responses"):
            for key, value in components.get(kind, {}).items():
                _visit_container(files, name, ("components", kind, key), value)
        for key, schema in components.get("schemas", {}).items():
            _visit_schema(files, name, ("components", "schemas", key), schema)


def _visit_operation(files: dict[str, Any], name: str, keys: tuple[str, ...], operation: dict[str, Any]) -> None:
    for i, parameter in enumerate(operation.get("parameters", [])):
        _visit_container(files, name, (*keys, "parameters", str(i)), parameter)
    if "requestBody" in operation:
        _visit_container(files, name, (*keys, "requestBody"), operation["requestBody"])
    for status, response in operation.get("responses", {}).items():
        _visit_container(files, name, (*keys, "responses", status), response)


def _visit_container(files: dict[str, Any], name: str, keys: tuple[str, ...], container: dict[str, Any]) -> None:
    """A parameter, request body or response (a ``$ref`` to one is visited where it is defined)."""
    if "$ref" in container:
        return
    if "schema" in container:
        _visit_schema(files, name, (*keys, "schema"), container["schema"])
    for media, value in container.get("content", {}).items():
        if "schema" in value:
            _visit_schema(files, name, (*keys, "content", media, "schema"), value["schema"])


def _visit_schema(files: dict[str, Any], name: str, keys: tuple[str, ...], schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    if "$ref" not in schema:
        if schema.get("type") == "array" and "items" in schema:
            _visit_schema(files, name, (*keys, "items"), schema["items"])
        if isinstance(schema.get("additionalProperties"), dict):
            _visit_schema(files, name, (*keys, "additionalProperties"), schema["additionalProperties"])
        for key, value in schema.get("properties", {}).items():
            _visit_schema(files, name, (*keys, "properties", key), value)
        for combinator in ("allOf", "anyOf", "oneOf"):
            for i, value in enumerate(schema.get(combinator, [])):
                _visit_schema(files, name, (*keys, combinator, str(i)), value)
        if "not" in schema:
            _visit_schema(files, name, (*keys, "not"), schema["not"])
    _strict_here(files, name, keys, schema)


def _strict_here(files: dict[str, Any], name: str, keys: tuple[str, ...], schema: dict[str, Any]) -> None:
    if "unevaluatedProperties" in schema:
        return
    if keys[:-1] == ("components", "schemas") or "allOf" in keys[:-1]:
        return
    if _types(files, name, schema) != {"object"}:
        return
    if not set(schema) - {"type", "description"}:
        return
    schema["type"] = "object"
    schema["unevaluatedProperties"] = False


def _types(files: dict[str, Any], name: str, schema: Any) -> frozenset[str]:
    """The JSON types a schema may have (the tester's ``determine_possible_schema_types``)."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        name, keys = resolve(name, schema["$ref"])
        schema = files[name]
        for key in keys:
            schema = schema[int(key)] if isinstance(schema, list) else schema[key]
    if not isinstance(schema, dict):
        return _ALL_TYPES
    if "type" in schema:
        kinds = schema["type"]
        return frozenset(kinds if isinstance(kinds, list) else [kinds])
    if "allOf" in schema:
        return frozenset.intersection(*(_types(files, name, s) for s in schema["allOf"]))
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return frozenset.union(*(_types(files, name, s) for s in schema[combinator]))
    return _ALL_TYPES


# -- reporting ------------------------------------------------------------------------------------------


def _readings(value: Any) -> list[Any]:
    """A parameter's value and, for a string, the JSON value it may stand for (``"true"``, ``"10"``)."""
    if not isinstance(value, str):
        return [value]
    with contextlib.suppress(ValueError):
        return [value, json.loads(value)]
    return [value]


def _describe(what: str, error: Any) -> str:
    where = "".join(f"[{p!r}]" for p in error.absolute_path)
    message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
    if error.context:  # anyOf/oneOf: the reasons of the closest branch say more than "not valid under any"
        best = min(error.context, key=lambda e: (len(e.absolute_path) * -1, e.validator in ("type", "enum")))
        message += f" (closest: {best.message[:300]})"
    return f"{what}{where}: {message}"


def _raise(what: str, problems: list[str]) -> None:
    if problems:
        raise SpecViolation(f"{what}: " + "; ".join(problems))
