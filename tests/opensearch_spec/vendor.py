"""Refresh ``opensearch-api.json``: the operations the OpenSearch adapter sends, cut out of the OpenSearch
REST API specification with every schema they refer to, and nothing else.

Run it against a clone of ``opensearch-project/opensearch-api-specification`` (a bare one will do) at the
commit to pin, then update the commit in ``README.md`` and run the adapter's unit tests::

    python tests/opensearch_spec/vendor.py /path/to/opensearch-api-specification.git <commit>

The files keep their names and their ``$ref`` values, so a schema in the bundle reads as it does upstream;
only the ``description`` texts are left out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

#: The operation groups (``x-operation-group``) the adapter calls, by the file that defines them.
OPERATION_GROUPS = {
    "namespaces/_core.yaml": ("bulk", "search", "msearch", "count", "delete_by_query", "update_by_query"),
    "namespaces/indices.yaml": ("indices.create", "indices.delete", "indices.get_mapping", "indices.update_aliases"),
}
HTTP_METHODS = ("get", "put", "post", "delete", "head", "patch")
BUNDLE = Path(__file__).with_name("opensearch-api.json")


class Spec:
    """The specification's YAML files at one commit of a git repository, read on demand."""

    def __init__(self, git_dir: str, commit: str) -> None:
        self.git_dir = git_dir
        self.commit = commit
        self._files: dict[str, Any] = {}

    def file(self, name: str) -> Any:
        if name not in self._files:
            text = subprocess.run(
                ["git", "--git-dir", self.git_dir, "show", f"{self.commit}:spec/{name}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            self._files[name] = yaml.safe_load(text)
        return self._files[name]


def _resolve(name: str, ref: str) -> tuple[str, tuple[str, ...]]:
    """The file and the pointer's keys a ``$ref`` made in file ``name`` points at."""
    target, _, pointer = ref.partition("#")
    if target:
        parts: list[str] = []
        for part in (PurePosixPath(name).parent / target).parts:
            if part == "..":
                parts.pop()
            else:
                parts.append(part)
        name = "/".join(parts)
    keys = tuple(key.replace("~1", "/").replace("~0", "~") for key in pointer.strip("/").split("/") if key)
    return name, keys


def _get(document: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        document = document[key]
    return document


def _put(bundle: dict[str, Any], name: str, keys: tuple[str, ...], value: Any) -> None:
    node = bundle.setdefault(name, {})
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _refs(node: Any) -> list[str]:
    """Every ``$ref`` inside ``node``."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def cut(spec: Spec) -> dict[str, Any]:
    """The bundle: ``{file name: that file, pruned to the operations above and what they refer to}``."""
    bundle: dict[str, Any] = {}
    todo: list[tuple[str, Any]] = []
    for name, groups in OPERATION_GROUPS.items():
        for path, item in spec.file(name)["paths"].items():
            for method in HTTP_METHODS:
                operation = item.get(method)
                if operation and operation.get("x-operation-group") in groups:
                    _put(bundle, name, ("paths", path, method), operation)
                    todo.append((name, operation))
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, node = todo.pop()
        for ref in _refs(node):
            target = _resolve(name, ref)
            if target in seen:
                continue
            seen.add(target)
            value = _get(spec.file(target[0]), target[1])
            _put(bundle, target[0], target[1], value)
            todo.append((target[0], value))
    return {name: bundle[name] for name in sorted(bundle)}


def _without_prose(node: Any) -> Any:
    """``node`` without its ``description`` texts (documentation only; they would double the bundle's size)."""
    if isinstance(node, dict):
        return {k: _without_prose(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_prose(v) for v in node]
    return node


def main(git_dir: str, commit: str) -> None:
    spec = Spec(git_dir, commit)
    files = cut(spec)
    # Whole: the specification's version, and the query parameters every operation takes.
    for name in ("_info.yaml", "_global_parameters.yaml"):
        files[name] = spec.file(name)
    source = {"repository": "opensearch-project/opensearch-api-specification", "commit": commit}
    bundle = {"source": source, "files": _without_prose(files)}
    BUNDLE.write_text(json.dumps(bundle, indent=0, separators=(",", ":")) + "\n")
    print(f"{BUNDLE}: {BUNDLE.stat().st_size} bytes, {len(bundle['files'])} files")


if __name__ == "__main__":
    main(*sys.argv[1:3])
