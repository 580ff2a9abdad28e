"""Builds the functions' Lambda layer on this machine, without Docker.

The layer holds the ``ragline`` package and its run-time dependencies, under ``python/`` as Lambda
expects. The dependencies are ``pip install``-ed as wheels for the Lambda platform (manylinux, CPython
3.12, the functions' architecture), whatever the machine building them, so no compiler and no Docker are
needed. boto3, botocore and s3transfer are left out: the Lambda runtime provides them. They take part in
pip's resolution all the same, and are removed afterwards, so that the dependencies they share with the
layer (urllib3, python-dateutil, jmespath) get versions that the runtime's botocore accepts: the layer
comes first on ``sys.path`` and shadows the runtime's copies.

opensearch-py 3.x requires ``opensearch-protobufs`` (the messages of its optional gRPC transport), which
pulls ``grpcio`` and ``protobuf``: about half of the layer, and nothing imports them (opensearchpy's HTTP
client, which ragline uses, never does). They are uninstalled after pip has resolved, file by file from
their ``RECORD``; the build fails if anything else in the layer declares that it needs them.

``cdk synth`` runs :class:`LocalLayerBundling` through ``BundlingOptions(local=...)``; the asset's hash is
computed here from what goes into the layer (the requirements, the target platform and the package's
files), so an unchanged layer is not rebuilt and not re-uploaded.

Example:
    >>> build_layer(Path("/tmp/layer"))  # doctest: +SKIP
    PosixPath('/tmp/layer/python')
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import ILocalBundling

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / "shared"
PACKAGE = SHARED / "ragline"
PYPROJECT = REPO / "pyproject.toml"

PYTHON_VERSION = "3.12"
# Lambda's python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): any of these wheels runs there.
_MANYLINUX = ("manylinux2014", "manylinux_2_28", "manylinux_2_34")
_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}

# Provided by the Lambda runtime: installing them again would only make the layer bigger.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# Installed because a dependency requires them, never imported by the functions: opensearch-py 3.x
# requires opensearch-protobufs (its gRPC transport's messages), which requires grpcio and protobuf;
# opensearchpy's HTTP client (OpenSearch, Urllib3HttpConnection, RequestsHttpConnection, the SigV4 auth
# classes, helpers) imports none of them. The value: the only distributions allowed to require each one.
UNUSED_IN_LAYER: dict[str, frozenset[str]] = {
    "opensearch-protobufs": frozenset({"opensearch-py"}),
    "grpcio": frozenset({"opensearch-protobufs"}),
    "protobuf": frozenset({"opensearch-protobufs"}),
}
# The OpenSearch store's client, when pyproject.toml has no `opensearch` extra yet.
FALLBACK_OPENSEARCH = ("opensearch-py>=2.6",)
# Parts of the package the functions never import: the local stack, the CLI and its demo corpus, and the
# web app's static files (served from their own bucket, infra/webapp.py).
PACKAGE_EXCLUDES = ("__pycache__", "*.pyc", "local", "cli.py", "demo_corpus", "webapp")
# Bump when the way the layer is built changes, so that the asset hash changes with it.
_RECIPE = "2"  # 2: without opensearch-protobufs, grpcio and protobuf


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"cannot read a package name from requirement {requirement!r}")
    return _canonical(match.group(1))


def layer_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The project's run-time dependencies and its `opensearch` extra (boto3 included, for resolution)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    requirements = [*project.get("dependencies", []), *extras.get("opensearch", FALLBACK_OPENSEARCH)]
    if not any(_requirement_name(req) == "boto3" for req in requirements):
        requirements.append("boto3")
    return requirements


def platforms(architecture: str) -> list[str]:
    machine = _MACHINE[architecture]
    return [f"{tag}_{machine}" for tag in _MANYLINUX]


def pip_command(target: Path, requirements: Sequence[str], architecture: str) -> list[str]:
    abi = "cp" + PYTHON_VERSION.replace(".", "")
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile", "--no-input",
        "--target", str(target),
        "--implementation", "cp", "--python-version", PYTHON_VERSION, "--abi", abi,
        *(f"--platform={platform}" for platform in platforms(architecture)),
        "--only-binary=:all:",
        *requirements,
    ]  # fmt: skip


def _remove_runtime_provided(site: Path) -> None:
    for entry in site.iterdir():
        name = entry.name
        top = name.split("-")[0] if name.endswith((".dist-info", ".egg-info")) else name
        if _canonical(top) in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: nothing runs them on Lambda


def _distributions(site: Path) -> dict[str, Path]:
    """Canonical distribution name -> its ``.dist-info`` folder, for what pip installed into ``site``."""
    found = {}
    for info in site.glob("*.dist-info"):
        metadata = info / "METADATA"
        text = metadata.read_text(errors="replace") if metadata.is_file() else ""
        match = re.search(r"^Name:\s*(\S+)", text, re.MULTILINE)
        found[_canonical(match.group(1) if match else info.name.split("-")[0])] = info
    return found


def _requires(info: Path) -> set[str]:
    """Names a distribution requires, whatever their markers (only extras' requirements are left out)."""
    metadata = info / "METADATA"
    if not metadata.is_file():
        return set()
    return {
        _requirement_name(value)
        for value in re.findall(r"^Requires-Dist:\s*(.+)$", metadata.read_text(errors="replace"), re.MULTILINE)
        if not re.search(r"\bextra\s*==", value)
    }


def _uninstall(site: Path, info: Path) -> None:
    """Delete what a distribution's ``RECORD`` lists (inside ``site`` only), its dist-info, and emptied folders."""
    record = info / "RECORD"
    root = site.resolve()
    folders: set[Path] = set()
    rows: Iterable[list[str]] = csv.reader(record.read_text().splitlines()) if record.is_file() else []
    for relative in (row[0] for row in rows if row and row[0]):
        path = (site / relative).resolve()
        if root not in path.parents:
            continue  # console scripts (../bin) and anything else outside the layer
        if path.is_file() or path.is_symlink():
            path.unlink()
        folders.update(parent for parent in path.parents if root in parent.parents)
        if path.name.endswith(".py"):
            shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)
    shutil.rmtree(info, ignore_errors=True)
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _remove_unused(site: Path) -> list[str]:
    """Uninstalls :data:`UNUSED_IN_LAYER`; raises if another installed distribution requires one of them."""
    installed = _distributions(site)
    unused = [name for name in UNUSED_IN_LAYER if name in installed]
    for name in unused:
        needed_by = sorted(
            other for other, info in installed.items()
            if other not in UNUSED_IN_LAYER and name in _requires(info) and other not in UNUSED_IN_LAYER[name]
        )  # fmt: skip
        if needed_by:
            raise RuntimeError(
                f"{', '.join(needed_by)} require(s) {name}, which the layer leaves out as unused; "
                "check that it is really not imported, then update infra.bundling.UNUSED_IN_LAYER"
            )
    for name in unused:
        _uninstall(site, installed[name])
    return unused


def build_layer(output_dir: Path, *, architecture: str = "arm64", pyproject: Path = PYPROJECT) -> Path:
    """Fills ``output_dir/python`` with the dependencies (as Lambda wheels) and the ragline package."""
    site = Path(output_dir) / "python"
    site.mkdir(parents=True, exist_ok=True)
    requirements = layer_requirements(pyproject)
    if requirements:
        result = subprocess.run(pip_command(site, requirements, architecture), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"pip could not install the layer's dependencies {requirements} for "
                f"manylinux/{architecture}/CPython {PYTHON_VERSION}:\n{result.stderr.strip()}"
            )
    _remove_runtime_provided(site)
    _remove_unused(site)
    shutil.copytree(PACKAGE, site / "ragline", ignore=shutil.ignore_patterns(*PACKAGE_EXCLUDES), dirs_exist_ok=True)
    return site


def _package_files(root: Path) -> Iterable[Path]:
    ignore = shutil.ignore_patterns(*PACKAGE_EXCLUDES)
    for directory, subdirs, files in os.walk(root):
        skipped = ignore(directory, [*subdirs, *files])
        subdirs[:] = sorted(name for name in subdirs if name not in skipped)
        yield from (Path(directory) / name for name in sorted(files) if name not in skipped)


def layer_hash(architecture: str = "arm64", pyproject: Path = PYPROJECT) -> str:
    """Changes when anything that goes into the layer changes."""
    digest = hashlib.sha256()
    unused = sorted(f"-{name}" for name in UNUSED_IN_LAYER)
    for part in (
        _RECIPE,
        architecture,
        PYTHON_VERSION,
        *platforms(architecture),
        *layer_requirements(pyproject),
        *unused,
    ):
        digest.update(part.encode() + b"\0")
    for path in _package_files(PACKAGE):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class LocalLayerBundling:
    """``ILocalBundling`` for the layer: CDK calls :meth:`try_bundle` instead of running Docker."""

    def __init__(self, architecture: str = "arm64", pyproject: Path = PYPROJECT) -> None:
        self.architecture = architecture
        self.pyproject = pyproject

    def try_bundle(self, output_dir: str, *_: Any, **__: Any) -> bool:
        build_layer(Path(output_dir), architecture=self.architecture, pyproject=self.pyproject)
        return True
