"""The Lambda layer and the functions built on it.

:class:`SharedLayer` is the ``ragline`` package with its run-time dependencies, built locally by
:mod:`infra.bundling` (no Docker). :class:`RaglineFunction` is one function: its own role (no managed
policies), its own log group with a retention, X-Ray tracing, and an asset that is only its ``handler.py``
folder. :func:`model_arns` turns Bedrock model ids into the ARNs ``bedrock:InvokeModel`` is scoped to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import bundling
from infra.config import RETENTION_DAYS
from infra.nag import acknowledge

FUNCTIONS = bundling.REPO / "functions"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
_BUNDLING_ARCHITECTURE = "arm64"  # must match ARCHITECTURE: the layer's wheels are built for it

# Cross-Region inference profile ids start with a geography ("us.anthropic.claude-...").
_PROFILE_GEOGRAPHIES = ("us.", "eu.", "apac.", "us-gov.", "ca.", "jp.", "au.", "global.")


def log_group(scope: Construct, construct_id: str, retention_days: int) -> logs.LogGroup:
    """A log group with ``retention_days`` (one of :data:`infra.config.RETENTION_DAYS`), deleted with the stack."""
    if retention_days not in RETENTION_DAYS:
        raise ValueError(f"a log retention must be one of {RETENTION_DAYS}, not {retention_days}")
    group = logs.LogGroup(scope, construct_id, removal_policy=RemovalPolicy.DESTROY)
    group.node.default_child.retention_in_days = retention_days  # type: ignore[union-attr]
    return group


def is_inference_profile(model_id: str) -> bool:
    return model_id.startswith(_PROFILE_GEOGRAPHIES)


def model_arns(stack: Stack, model_id: str) -> list[str]:
    """The ARNs that ``bedrock:InvokeModel`` (and Converse) need for ``model_id``.

    A foundation model: ``arn:aws:bedrock:<region>::foundation-model/<id>``. A cross-Region inference
    profile (``us.``, ``eu.``...): the profile in this account and Region, and the foundation model in
    every Region the profile may route to (a wildcard Region: the profile decides which).
    """
    if is_inference_profile(model_id):
        base = model_id.split(".", 1)[1]
        return [
            f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:inference-profile/{model_id}",
            f"arn:{stack.partition}:bedrock:*::foundation-model/{base}",
        ]
    return [f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{model_id}"]


class SharedLayer(Construct):
    """The ``ragline`` package and its run-time dependencies (not boto3), under ``python/``."""

    def __init__(self, scope: Construct, construct_id: str, *, skip_bundling: bool = False) -> None:
        super().__init__(scope, construct_id)
        if skip_bundling:
            # Unit tests: the source folder as it is, no pip (the layer would not run on Lambda).
            code = lambda_.Code.from_asset(str(bundling.SHARED), exclude=["__pycache__", "*.pyc", "*.egg-info"])
        else:
            code = lambda_.Code.from_asset(
                str(bundling.SHARED),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=bundling.layer_hash(_BUNDLING_ARCHITECTURE),
                bundling=BundlingOptions(
                    # Never pulled: the local bundling below always builds the layer (or fails loudly).
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
                    local=bundling.LocalLayerBundling(_BUNDLING_ARCHITECTURE),
                ),
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="ragline package and its run-time dependencies",
        )


class RaglineFunction(Construct):
    """A function from ``functions/<name>/handler.py`` (handler ``handler.lambda_handler``) on the layer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
        timeout: Duration,
        memory_mb: int,
        log_retention_days: int,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        source = FUNCTIONS / name
        if not (source / "handler.py").is_file():
            raise FileNotFoundError(f"no handler at {source / 'handler.py'}")
        # An explicit role with inline grants only: no AWSLambdaBasicExecutionRole (it writes to any log group).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"ragline {name} function",
        )
        self.log_group = log_group(self, "Logs", log_retention_days)
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_asset(str(source), exclude=["__pycache__", "*.pyc"]),
            layers=[layer],
            role=self.role,
            log_group=self.log_group,
            environment={"POWERTOOLS_SERVICE_NAME": f"ragline-{name}", "POWERTOOLS_LOG_LEVEL": "INFO", **environment},
            timeout=timeout,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords (and Bedrock's Rerank, when a reranker is "
            "configured) support no resource-level permissions; the models themselves are named in InvokeModel.",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "python3.12 is pinned on purpose: the layer's wheels are built for CPython 3.12 and the code "
            "is tested on it; moving to a newer runtime is a deliberate change of RUNTIME and the layer.",
        )

    def allow_invoke_models(self, model_ids: Sequence[str]) -> None:
        """``bedrock:InvokeModel`` on exactly these models (Converse uses the same permission)."""
        stack = Stack.of(self)
        resources: list[str] = []
        for model_id in dict.fromkeys(model_ids):
            resources += model_arns(stack, model_id)
            if is_inference_profile(model_id):
                foundation_model = model_id.split(".", 1)[1]
                acknowledge(
                    self.role,
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{foundation_model}]",
                    f"{model_id} is a cross-Region inference profile: Bedrock routes it to the model in any "
                    "Region of its geography, so the foundation model is allowed in every Region, for this "
                    "model only.",
                )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid="InvokeModels", actions=["bedrock:InvokeModel"], resources=resources)
        )
