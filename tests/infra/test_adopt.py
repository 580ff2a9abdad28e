"""The stack adopting an existing documents bucket (``ragline:bucket``); with it, no scheduled reconcile
(``ragline:sync_interval_hours=0``) and another deletion share. One synthesis for the module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.conftest import Synth, flat, synthesize
from tests.infra.test_stack import _actions, _function, _resources, _role_statements, assert_nag_clean

pytest.importorskip("aws_cdk")
from aws_cdk import aws_s3 as s3

REPO = Path(__file__).resolve().parents[2]
BUCKET = "acme-docs"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("adopted"),
        **{"ragline:bucket": BUCKET, "ragline:sync_interval_hours": 0, "ragline:sync_max_delete_share": "0.5"},
    )


def test_the_bucket_is_imported_and_no_documents_bucket_is_created(adopted: Synth, domain: Synth):
    assert not isinstance(adopted.stack.storage.bucket, s3.Bucket)
    assert adopted.stack.storage.adopted and not domain.stack.storage.adopted
    # The stack's own buckets less the documents bucket: the access logs (the web app's buckets log there
    # too) and the web app's two. So deleting the stack can never delete the adopted bucket.
    documents = domain.logical_id(domain.stack.storage.bucket)
    assert set(adopted.resources("AWS::S3::Bucket")) == set(domain.resources("AWS::S3::Bucket")) - {documents}
    # No AWS::S3::BucketPolicy on it: one would replace the bucket's own policy.
    assert all(p["Properties"]["Bucket"] != BUCKET for p in adopted.resources("AWS::S3::BucketPolicy").values())
    assert adopted.raw["Outputs"]["BucketName"]["Value"] == BUCKET


def test_notifications_are_added_to_the_ones_the_bucket_has(adopted: Synth):
    (notifications,) = adopted.resources("Custom::S3BucketNotifications").values()
    properties = notifications["Properties"]
    assert properties["BucketName"] == BUCKET
    # Managed false: CDK's handler reads the bucket's configuration and keeps what it did not write.
    assert properties["Managed"] is False
    (queue_id,) = [k for k, q in adopted.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    assert properties["NotificationConfiguration"] == {
        "QueueConfigurations": [
            {"Events": ["s3:ObjectCreated:*"], "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]}},
            {"Events": ["s3:ObjectRemoved:*"], "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]}},
        ]
    }
    handler_actions = {
        action
        for key, policy in adopted.resources("AWS::IAM::Policy").items()
        if key in notifications["DependsOn"]
        for statement in flat(policy["Properties"]["PolicyDocument"]["Statement"])
        for action in _actions(statement)
    }
    assert handler_actions == {"s3:PutBucketNotification", "s3:GetBucketNotification"}


def test_a_tls_only_statement_is_merged_into_the_buckets_policy(adopted: Synth):
    (merge,) = adopted.resources("Custom::RaglineBucketPolicyStatement").values()
    properties = flat(merge["Properties"])
    assert properties["BucketName"] == BUCKET
    assert properties["Statement"] == {
        "Sid": "RaglineDenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    # Through CDK's Provider framework, to the merging handler: only its file, only that bucket's policy and CORS.
    handler = adopted.raw["Resources"][adopted.logical_id(adopted.stack.storage.merge.function)]["Properties"]
    assert handler["Handler"] == "bucket_merge.on_event"
    assert handler["Runtime"] == "python3.12"
    asset = adopted.outdir / f"asset.{handler['Code']['S3Key'].removesuffix('.zip')}"
    assert sorted(path.name for path in asset.iterdir()) == ["bucket_merge.py"]
    assert (asset / "bucket_merge.py").read_bytes() == (REPO / "infra" / "bucket_merge.py").read_bytes()
    role_id = handler["Role"]["Fn::GetAtt"][0]
    statements = [
        flat(statement)
        for policy in adopted.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    s3_grants = {(a, tuple(_resources(s))) for s in statements for a in _actions(s) if a.startswith("s3:")}
    # S3 authorizes DeleteBucketCors with s3:PutBucketCORS.
    merging = (
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:GetBucketCORS",
        "s3:PutBucketCORS",
    )
    assert s3_grants == {(action, (BUCKET_ARN,)) for action in merging}
    assert "ManagedPolicyArns" not in adopted.raw["Resources"][role_id]["Properties"]


def _bucket_grants(synth: Synth, name: str, bucket_arn: str) -> set[tuple[str, str]]:
    """(action, resource) of the function's grants on the documents bucket, the bucket written <bucket>."""
    return {
        (action, resource.replace(bucket_arn, "<bucket>"))
        for statement in _role_statements(synth, name)
        for action in _actions(statement)
        for resource in _resources(statement)
        if resource.startswith(bucket_arn)
    }


@pytest.mark.parametrize("name", ["ingest", "query", "reconcile"])
def test_the_functions_have_the_same_permissions_on_the_adopted_bucket(adopted: Synth, domain: Synth, name: str):
    own = f"${{{domain.logical_id(domain.stack.storage.bucket)}.Arn}}"
    expected = _bucket_grants(domain, name, own)
    assert expected  # every function reads the bucket
    assert _bucket_grants(adopted, name, BUCKET_ARN) == expected
    assert flat(_function(adopted, name)["Environment"]["Variables"])["RAGLINE_BUCKET"] == BUCKET


def test_the_browser_cors_rule_is_merged_first_into_the_buckets_own(adopted: Synth):
    """Not PutBucketCors, which would replace the bucket's CORS rules (and DeleteBucketCors on destroy)."""
    assert not [key for key in adopted.resources("Custom::AWS") if key.startswith("StorageBrowserCors")]
    (merge,) = adopted.resources("Custom::RaglineBucketCorsRule").values()
    properties = flat(merge["Properties"])
    assert properties["BucketName"] == BUCKET
    distribution = adopted.logical_id(adopted.stack.webapp.distribution)
    assert properties["CorsRule"] == {
        "ID": "RaglineWebApp",
        "AllowedOrigins": [f"https://${{{distribution}.DomainName}}"],
        "AllowedMethods": ["PUT", "GET"],
        "AllowedHeaders": ["content-type", "if-match", "if-none-match", "x-amz-meta-*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }
    (policy_merge,) = adopted.resources("Custom::RaglineBucketPolicyStatement").values()
    assert merge["Properties"]["ServiceToken"] == policy_merge["Properties"]["ServiceToken"]  # one handler


def test_adopting_a_bucket_starts_its_backfill_after_its_notifications(adopted: Synth):
    (backfill,) = [r for key, r in adopted.resources("Custom::AWS").items() if key.startswith("ReconcileBackfill")]
    create = json.loads(flat(backfill["Properties"]["Create"]))
    assert create["physicalResourceId"] == {"id": f"ragline-backfill-{BUCKET}"}
    assert json.loads(create["parameters"]["Payload"]) == {"source": "deploy"}
    (notifications_id,) = adopted.resources("Custom::S3BucketNotifications")
    assert notifications_id in backfill["DependsOn"]


def test_no_schedule_at_zero_hours_and_the_deletion_share_from_context(adopted: Synth):
    assert not adopted.resources("AWS::Events::Rule")
    permissions = adopted.resources("AWS::Lambda::Permission").values()
    assert not [p for p in permissions if p["Properties"]["Principal"] == "events.amazonaws.com"]
    variables = _function(adopted, "reconcile")["Environment"]["Variables"]
    assert variables["RAGLINE_SYNC_MAX_DELETE_SHARE"] == "0.5"


def test_cdk_nag_finds_nothing_unacknowledged(adopted: Synth):
    assert_nag_clean(adopted)
