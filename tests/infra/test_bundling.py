"""The Lambda layer, built for real with pip (wheels for manylinux/arm64/CPython 3.12 from PyPI)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("aws_cdk")
from infra import bundling  # noqa: E402


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
    for package in ("aws_lambda_powertools", "pypdf", "cryptography", "opensearchpy"):
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
