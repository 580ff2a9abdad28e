"""The custom resource that merges ragline's TLS-only statement and CORS rule into an adopted bucket's policy
and CORS configuration, keeping the bucket's own, on moto S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.bucket_merge import on_event

BUCKET = "acme-docs"
SID = "RaglineDenyInsecureTransport"
PHYSICAL_ID = f"{BUCKET}/Statement/{SID}"
DENY_PLAIN_HTTP = {
    "Sid": SID,
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:*",
    "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
# What the bucket's owner had before ragline: a reader from another account.
THEIRS = {
    "Sid": "PartnerReads",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _event(request: str, statement: dict[str, Any] = DENY_PLAIN_HTTP, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request, "ResourceProperties": {"BucketName": BUCKET, "Statement": statement}, **extra}


def _statements(s3: Any) -> list[dict[str, Any]]:
    return json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]


def _has_policy(s3: Any) -> bool:
    try:
        s3.get_bucket_policy(Bucket=BUCKET)
    except s3.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchBucketPolicy"
        return False
    return True


def test_create_adds_the_statement_and_keeps_the_buckets_own(s3):
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [THEIRS]}))
    response = on_event(_event("Create"))
    assert response == {"PhysicalResourceId": PHYSICAL_ID}
    assert _statements(s3) == [THEIRS, DENY_PLAIN_HTTP]


def test_create_on_a_bucket_without_a_policy_makes_one(s3):
    on_event(_event("Create"))
    assert _statements(s3) == [DENY_PLAIN_HTTP]


def test_update_is_idempotent_and_replaces_ragline_s_copy_only(s3):
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [THEIRS]}))
    on_event(_event("Create"))
    physical = {"PhysicalResourceId": PHYSICAL_ID}
    on_event(_event("Update", OldResourceProperties={"BucketName": BUCKET, "Statement": DENY_PLAIN_HTTP}, **physical))
    on_event(_event("Update", OldResourceProperties={"BucketName": BUCKET, "Statement": DENY_PLAIN_HTTP}, **physical))
    assert _statements(s3) == [THEIRS, DENY_PLAIN_HTTP]


def test_a_statement_of_cloudformation_arrives_as_json_text_too(s3):
    on_event(_event("Create", json.dumps(DENY_PLAIN_HTTP)))  # type: ignore[arg-type]
    assert _statements(s3) == [DENY_PLAIN_HTTP]


def test_delete_removes_only_ragline_s_statement(s3):
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [THEIRS]}))
    on_event(_event("Create"))
    response = on_event(_event("Delete", PhysicalResourceId=PHYSICAL_ID))
    assert response == {"PhysicalResourceId": PHYSICAL_ID}
    assert _statements(s3) == [THEIRS]


def test_delete_removes_the_policy_when_nothing_else_is_left(s3):
    on_event(_event("Create"))
    on_event(_event("Delete", PhysicalResourceId=PHYSICAL_ID))
    assert not _has_policy(s3)


def test_delete_with_no_policy_or_no_bucket_left_succeeds(s3):
    on_event(_event("Delete", PhysicalResourceId=PHYSICAL_ID))  # never created, or removed by hand
    assert not _has_policy(s3)
    s3.delete_bucket(Bucket=BUCKET)
    on_event(_event("Delete", PhysicalResourceId=PHYSICAL_ID))


def test_a_statement_without_a_sid_is_refused(s3):
    unnamed = {key: value for key, value in DENY_PLAIN_HTTP.items() if key != "Sid"}
    with pytest.raises(ValueError, match="the Statement needs its Sid"):
        on_event(_event("Create", unnamed))
    assert not _has_policy(s3)


# --- the CORS rule ------------------------------------------------------------------------------------

RULE_ID = "RaglineWebApp"
CORS_ID = f"{BUCKET}/CorsRule/{RULE_ID}"
OURS = {
    "ID": RULE_ID,
    "AllowedOrigins": ["https://d111111abcdef8.cloudfront.net"],
    "AllowedMethods": ["PUT", "GET"],
    "AllowedHeaders": ["content-type", "if-match", "if-none-match", "x-amz-meta-*"],
    "ExposeHeaders": ["ETag"],
    "MaxAgeSeconds": 3600,
}
# The bucket's own: a public GET for every origin, which would otherwise answer the app's requests first.
THEIR_RULE = {"ID": "PublicReads", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}


def _cors_event(request: str, rule: dict[str, Any] = OURS, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request, "ResourceProperties": {"BucketName": BUCKET, "CorsRule": rule}, **extra}


def _rules(s3: Any) -> list[dict[str, Any]]:
    try:
        return s3.get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    except s3.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchCORSConfiguration"
        return []


def test_the_cors_rule_goes_first_and_the_buckets_own_rules_stay(s3):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [THEIR_RULE]})
    assert on_event(_cors_event("Create")) == {"PhysicalResourceId": CORS_ID}
    assert _rules(s3) == [OURS, THEIR_RULE]


def test_cloudformation_s_text_numbers_become_numbers_and_an_update_is_idempotent(s3):
    as_text = {**OURS, "MaxAgeSeconds": "3600"}  # CloudFormation sends every property value as text
    on_event(_cors_event("Create", as_text))
    old = {"BucketName": BUCKET, "CorsRule": as_text}
    on_event(_cors_event("Update", as_text, OldResourceProperties=old, PhysicalResourceId=CORS_ID))
    on_event(_cors_event("Update", as_text, OldResourceProperties=old, PhysicalResourceId=CORS_ID))
    assert _rules(s3) == [OURS]


def test_a_new_origin_replaces_ragline_s_rule_only(s3):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [THEIR_RULE]})
    on_event(_cors_event("Create"))
    moved = {**OURS, "AllowedOrigins": ["https://app.example.com"]}
    old = {"BucketName": BUCKET, "CorsRule": OURS}
    on_event(_cors_event("Update", moved, OldResourceProperties=old, PhysicalResourceId=CORS_ID))
    assert _rules(s3) == [moved, THEIR_RULE]


def test_delete_removes_only_ragline_s_rule_and_the_configuration_when_it_was_the_last(s3):
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [THEIR_RULE]})
    on_event(_cors_event("Create"))
    on_event(_cors_event("Delete", PhysicalResourceId=CORS_ID))
    assert _rules(s3) == [THEIR_RULE]
    s3.delete_bucket_cors(Bucket=BUCKET)
    on_event(_cors_event("Create"))
    on_event(_cors_event("Delete", PhysicalResourceId=CORS_ID))
    assert _rules(s3) == []


def test_a_rule_without_an_id_or_a_resource_with_neither_kind_is_refused(s3):
    with pytest.raises(ValueError, match="the CorsRule needs its ID"):
        on_event(_cors_event("Create", {key: value for key, value in OURS.items() if key != "ID"}))
    with pytest.raises(ValueError, match="keeps one of Statement, CorsRule"):
        on_event({"RequestType": "Create", "ResourceProperties": {"BucketName": BUCKET}})
    assert _rules(s3) == []
