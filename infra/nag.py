"""cdk-nag (3.x) wiring: the AwsSolutions checks as a validation plugin, and written acknowledgements.

cdk-nag 3 replaced ``NagSuppressions`` with CDK's own ``Validations.of(construct).acknowledge``; a finding
is acknowledged on the construct that causes it (or an ancestor), always with the reason it is acceptable.
A finding that carries detail is acknowledged one by one: ``AwsSolutions-IAM5[Resource::*]``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, DefaultStackSynthesizer, Stack, Token, Validations
from aws_cdk import custom_resources as cr
from constructs import IConstruct

PACK = "AwsSolutions"
# The finding on a function role with the AWS-managed logging policy (CDK's own functions have one).
BASIC_EXECUTION_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledges the AwsSolutions finding ``rule`` (e.g. ``AwsSolutions-S1``) on ``construct``."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PACK}::{rule}", reason=reason))


def stack_singletons(stack: Stack, id_prefix: str) -> list[IConstruct]:
    """The constructs CDK itself adds at the stack's root (one per stack), e.g. a custom resource's function.

    Example:
        >>> stack_singletons(stack, "Custom::CDKBucketDeployment")  # doctest: +SKIP
    """
    return [child for child in stack.node.children if child.node.id.startswith(id_prefix)]


# The id of the one function CDK puts behind every AwsCustomResource of a stack.
AWS_CUSTOM_RESOURCE_ID = "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")


def acknowledge_sdk_calls(stack: Stack) -> None:
    """Acknowledges the managed logging policy of CDK's AwsCustomResource function, once it exists."""
    for singleton in stack_singletons(stack, AWS_CUSTOM_RESOURCE_ID):
        acknowledge(
            singleton,
            BASIC_EXECUTION_ROLE,
            "CDK's own AwsCustomResource function, which makes its calls during deployments only (the "
            "documents bucket's CORS rule, the deploy-time reconcile); its role is CDK's, and its other "
            "permissions are s3:PutBucketCORS on that bucket and lambda:InvokeFunction on the reconcile.",
        )


def cdk_assets_bucket(stack: Stack) -> str:
    """The name of the bootstrap bucket CDK uploads assets to, as cdk-nag writes it in a finding's detail
    (``cdk-<qualifier>-assets-<account>-<region>``; an account or Region unknown until deployment is
    ``<AWS::AccountId>``, ``<AWS::Region>``)."""
    synthesizer = stack.synthesizer
    qualifier = (
        synthesizer.bootstrap_qualifier
        if isinstance(synthesizer, DefaultStackSynthesizer) and synthesizer.bootstrap_qualifier
        else DefaultStackSynthesizer.DEFAULT_QUALIFIER
    )
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    return f"cdk-{qualifier}-assets-{account}-{region}"


def finding_detail(stack: Stack, value: str) -> str:
    """A resource (an ARN, often a token) as cdk-nag writes it in a finding's detail: a reference is
    ``<LogicalId>`` or ``<LogicalId.Attribute>``, a join is joined. The same for a bucket of the stack
    (``<DocumentsBucket.Arn>/*``) and an imported one (``arn:<AWS::Partition>:s3:::name/*``).

    Example:
        >>> f"AwsSolutions-IAM5[Resource::{finding_detail(stack, bucket.arn_for_objects('*'))}]"  # doctest: +SKIP
    """
    return _rendered(stack.resolve(value))


def _rendered(value: Any) -> str:
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(_rendered(part) for part in parts)
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return "<{}.{}>".format(*value["Fn::GetAtt"])
    return str(value)


def add_checks(scope: IConstruct) -> None:
    """Runs the AwsSolutions pack when ``scope`` (the app) synthesizes; a violation fails the synth."""
    from cdk_nag import AwsSolutionsChecks

    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))
