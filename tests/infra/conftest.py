"""Synthesizes the CDK app once per session and variant (managed domain, Serverless collection).

Each synthesis runs the cdk-nag AwsSolutions checks as a validation plugin, exactly as ``cdk synth`` does;
a violation does not stop the fixture (the template is written anyway), it fails ``test_cdk_nag_*``.
The layer is not bundled here (``ragline:skip_bundling``); ``test_bundling.py`` builds it for real.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

cdk = pytest.importorskip("aws_cdk")
HAS_NAG = importlib.util.find_spec("cdk_nag") is not None

from aws_cdk.assertions import Template  # noqa: E402

from infra.app import build  # noqa: E402
from infra.stack import RaglineStack  # noqa: E402

ACCOUNT, REGION = "123456789012", "us-east-1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: downloads wheels from PyPI to build the Lambda layer")


@dataclass
class Synth:
    stack: RaglineStack
    template: Template
    raw: dict[str, Any]
    outdir: Path
    validation_error: str | None

    @property
    def report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())

    @property
    def acknowledgements(self) -> dict[str, dict[str, str]]:
        """construct path -> {acknowledged rule id: reason}, from the cloud assembly's metadata."""
        metadata = json.loads((self.outdir / f"{self.stack.stack_name}.metadata.json").read_text())
        found: dict[str, dict[str, str]] = {}
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    found.setdefault(path, {}).update(entry["data"])
        return found

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.raw["Resources"].items() if value["Type"] == kind}

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L1 resource, or of an L2 construct's resource."""
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        return self.stack.get_logical_id(element)


def synthesize(outdir: Path, **context: Any) -> Synth:
    app = cdk.App(outdir=str(outdir), context={"ragline:skip_bundling": True, "ragline:nag": HAS_NAG, **context})
    stack = build(app, env=cdk.Environment(account=ACCOUNT, region=REGION))
    error = None
    try:
        app.synth()
    except RuntimeError as failure:  # cdk-nag found something; the template is written all the same
        error = str(failure)
    raw = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(stack=stack, template=Template.from_json(raw), raw=raw, outdir=outdir, validation_error=error)


@pytest.fixture(scope="session")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("domain"))


@pytest.fixture(scope="session")
def serverless(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("serverless"), **{"ragline:serverless": True})


def flat(value: Any) -> Any:
    """A CloudFormation value as text: Fn::Join joined, Ref and Fn::GetAtt as ${...}, partition as aws."""
    if isinstance(value, list):
        return [flat(item) for item in value]
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(flat(part)) for part in parts)
        if "Ref" in value:
            return "aws" if value["Ref"] == "AWS::Partition" else f"${{{value['Ref']}}}"
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"${{{resource}.{attribute}}}"
        return {key: flat(item) for key, item in value.items()}
    return value
