"""The Lambda layer, built for real with pip (wheels for manylinux/arm64/CPython 3.12 from PyPI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")
from infra import bundling


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("layer")
    # Through the ILocalBundling object, as `cdk synth` calls it.
    assert bundling.LocalLayerBundling("arm64").try_bundle(str(output)) is True
    return output / "python"


@pytest.mark.slow
def test_layer_has_ragline_and_its_dependencies_but_not_boto3(layer: Path):
    assert (layer / "ragline" / "__init__.py").is_file()
    assert (layer / "ragline" / "settings.py").is_file()
    for package in ("aws_lambda_powertools", "pydantic", "pydantic_core", "pypdf", "cryptography", "opensearchpy"):
        assert (layer / package).is_dir(), package
    for provided in ("boto3", "botocore", "s3transfer"):
        assert not (layer / provided).exists(), provided
        assert not list(layer.glob(f"{provided}-*.dist-info")), provided


@pytest.mark.slow
def test_layer_is_built_for_lambda_not_for_this_machine(layer: Path):
    native = [path.name for path in layer.rglob("*.so")]
    assert native, "cryptography and cffi ship native code"
    assert not [name for name in native if "x86_64" in name], "x86_64 binaries in an arm64 layer"
    assert [name for name in native if "cpython-312-aarch64" in name]
    assert not list(layer.rglob("__pycache__"))


@pytest.mark.slow
def test_layer_leaves_out_the_local_stack_and_the_cli(layer: Path):
    assert not (layer / "ragline" / "local").exists()
    assert not (layer / "ragline" / "cli.py").exists()
    assert not (layer / "ragline" / "webapp").exists()


def test_the_web_apps_files_are_neither_in_the_layer_nor_in_its_hash():
    """They have their own bucket (infra/webapp.py): changing the app rebuilds no layer."""
    assert (bundling.PACKAGE / "webapp" / "index.html").is_file()
    packaged = [path.relative_to(bundling.PACKAGE) for path in bundling._package_files(bundling.PACKAGE)]
    assert packaged and not [path for path in packaged if path.parts[0] == "webapp"]


def test_requirements_come_from_pyproject_and_keep_boto3_for_resolution():
    requirements = bundling.layer_requirements()
    names = [bundling._requirement_name(r) for r in requirements]
    assert {"aws-lambda-powertools", "pypdf", "opensearch-py", "boto3"} <= set(names)


def test_pip_installs_only_binary_wheels_for_the_lambda_platform(tmp_path: Path):
    command = bundling.pip_command(tmp_path, ["pypdf"], "arm64")
    assert "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--platform=manylinux2014_aarch64" in command
    assert "--platform=manylinux2014_x86_64" in bundling.pip_command(tmp_path, ["pypdf"], "x86_64")


def test_layer_hash_follows_what_goes_into_the_layer():
    assert bundling.layer_hash("arm64") == bundling.layer_hash("arm64")
    assert bundling.layer_hash("arm64") != bundling.layer_hash("x86_64")


# -- dependencies installed but never imported: opensearch-protobufs, grpcio, protobuf ----------------

_BLOCKED = ("grpc", "google", "opensearch", "opensearch_protobufs")
_IMPORT_WITHOUT_PROTOBUF = """
import importlib.abc, sys
blocked = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError("not in the layer: " + name)
sys.meta_path.insert(0, Block())
sys.path[:0] = [{layer!r}]
import opensearchpy
from opensearchpy import OpenSearch, RequestsHttpConnection, Urllib3HttpConnection, helpers
from opensearchpy import AWSV4SignerAuth, Urllib3AWSV4SignerAuth
from botocore.credentials import Credentials
from ragline.stores.opensearch import connect
assert opensearchpy.__file__.startswith({layer!r}), opensearchpy.__file__
basic = connect("https://user:secret@search.example.com")
signed = connect("https://search-x.us-east-1.es.amazonaws.com", credentials=Credentials("AKID", "secret"))
assert isinstance(signed.transport.kwargs["http_auth"], Urllib3AWSV4SignerAuth)
OpenSearch(hosts=[{{"host": "localhost", "port": 9200}}], connection_class=RequestsHttpConnection,
           http_auth=AWSV4SignerAuth(Credentials("AKID", "secret"), "us-east-1", "aoss"))
print(sorted(m for m in sys.modules if m.split(".")[0] in blocked))
"""


@pytest.mark.slow
def test_layer_leaves_out_grpc_and_protobuf_which_opensearch_py_requires_but_never_imports(layer: Path):
    for unused in ("grpc", "google", "opensearch"):  # opensearch/: opensearch-protobufs' package
        assert not (layer / unused).exists(), unused
    for distribution in ("grpcio", "protobuf", "opensearch_protobufs"):
        assert not list(layer.glob(f"{distribution}-*.dist-info")), distribution
    assert (layer / "opensearchpy" / "__init__.py").is_file()
    assert list(layer.glob("typing_extensions*")), "Powertools' typing-extensions is kept (grpcio required it too)"


@pytest.mark.slow
def test_opensearch_client_imports_and_connects_from_the_layer_without_grpc_or_protobuf(layer: Path):
    # The layer's pure-Python packages on this Python (its native code is for arm64/CPython 3.12), with
    # the venv behind it for botocore (the Lambda runtime provides it); grpc and protobuf are blocked so
    # that the venv's copies cannot stand in for them.
    code = _IMPORT_WITHOUT_PROTOBUF.format(blocked=_BLOCKED, layer=str(layer))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


def _fake_distribution(site: Path, name: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    metadata = [f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    for relative, content in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(content)
    listed = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD", "../../bin/tool"]
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in listed))


def _fake_site(site: Path, *, extra_requirer: bool = False) -> None:
    _fake_distribution(site, "opensearch-py", {"opensearchpy/__init__.py": ""}, ("opensearch-protobufs==1.2.0",))
    _fake_distribution(
        site, "opensearch-protobufs", {"opensearch/protobufs/__init__.py": ""}, ("protobuf>=3.25", "grpcio>=1.70")
    )
    _fake_distribution(
        site, "grpcio", {"grpc/__init__.py": "", "grpc/_cython/cygrpc.so": ""}, ("typing-extensions~=4.12",)
    )
    _fake_distribution(site, "protobuf", {"google/protobuf/__init__.py": "", "google/_upb/_message.so": ""})
    _fake_distribution(site, "google-other", {"google/other/__init__.py": ""})  # shares the google namespace
    _fake_distribution(site, "typing-extensions", {"typing_extensions.py": ""})
    requires = ("grpcio>=1.0",) if extra_requirer else ("urllib3; extra == 'grpc'", "protobuf; extra == 'proto'")
    _fake_distribution(site, "some-lib", {"some_lib/__init__.py": ""}, requires)


def test_unused_distributions_are_uninstalled_file_by_file_from_their_record(tmp_path: Path):
    outside = tmp_path / "bin" / "tool"
    outside.parent.mkdir()
    outside.write_text("")
    site = tmp_path / "site" / "python"
    _fake_site(site)

    assert sorted(bundling._remove_unused(site)) == ["grpcio", "opensearch-protobufs", "protobuf"]

    for gone in ("grpc", "opensearch", "google/protobuf", "google/_upb"):
        assert not (site / gone).exists(), gone
    assert not [
        p.name for p in site.glob("*.dist-info") if p.name.startswith(("grpcio", "protobuf", "opensearch_protobufs"))
    ]
    for kept in (
        "opensearchpy/__init__.py",
        "google/other/__init__.py",
        "typing_extensions.py",
        "some_lib/__init__.py",
    ):
        assert (site / kept).is_file(), kept
    assert outside.is_file(), "RECORD paths outside the layer are never touched"


def test_an_unused_distribution_that_something_else_requires_fails_the_build(tmp_path: Path):
    site = tmp_path / "python"
    _fake_site(site, extra_requirer=True)
    with pytest.raises(RuntimeError, match=r"some-lib require.*grpcio"):
        bundling._remove_unused(site)
    assert (site / "grpc" / "__init__.py").is_file(), "nothing is removed when the check fails"


def test_layer_hash_follows_what_is_left_out(monkeypatch: pytest.MonkeyPatch):
    before = bundling.layer_hash("arm64")
    monkeypatch.setattr(bundling, "UNUSED_IN_LAYER", {"grpcio": frozenset()})
    assert bundling.layer_hash("arm64") != before
