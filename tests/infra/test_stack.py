"""The CDK stack, read through aws_cdk.assertions (one synthesis for the module)."""

from __future__ import annotations

import pytest

cdk = pytest.importorskip("aws_cdk")
from aws_cdk.assertions import Match, Template  # noqa: E402

from infra.stack import RaglineStack  # noqa: E402


@pytest.fixture(scope="module")
def template() -> Template:
    app = cdk.App()
    return Template.from_stack(RaglineStack(app, "Ragline"))


def test_documents_bucket_is_encrypted_versioned_private_and_tls_only(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": Match.object_like({"ServerSideEncryptionConfiguration": Match.any_value()}),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.any_value(),
        },
    )
    policies = template.find_resources("AWS::S3::BucketPolicy")
    denies_plain_http = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies_plain_http) == 2  # the documents bucket and its access-log bucket


def test_s3_events_reach_the_queue_and_the_dead_letter_queue_catches_poison(template):
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": Match.array_with(
                    [
                        Match.object_like({"Events": ["s3:ObjectCreated:*"]}),
                        Match.object_like({"Events": ["s3:ObjectRemoved:*"]}),
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "VisibilityTimeout": 720,  # six times the ingest function's two minutes
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 3},
            "SqsManagedSseEnabled": True,
        },
    )


def test_registry_table_is_keyed_by_doc_id_and_recoverable(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "doc_id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )
