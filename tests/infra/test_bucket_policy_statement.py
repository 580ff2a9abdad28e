"""The custom resource that merges ragline's TLS-only statement into an adopted bucket's policy, on moto S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.bucket_policy_statement import on_event

BUCKET = "acme-docs"
SID = "RaglineDenyInsecureTransport"
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
    assert response == {"PhysicalResourceId": f"{BUCKET}/{SID}"}
    assert _statements(s3) == [THEIRS, DENY_PLAIN_HTTP]


def test_create_on_a_bucket_without_a_policy_makes_one(s3):
    on_event(_event("Create"))
    assert _statements(s3) == [DENY_PLAIN_HTTP]


def test_update_is_idempotent_and_replaces_ragline_s_copy_only(s3):
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [THEIRS]}))
    on_event(_event("Create"))
    physical = {"PhysicalResourceId": f"{BUCKET}/{SID}"}
    on_event(_event("Update", OldResourceProperties={"BucketName": BUCKET, "Statement": DENY_PLAIN_HTTP}, **physical))
    on_event(_event("Update", OldResourceProperties={"BucketName": BUCKET, "Statement": DENY_PLAIN_HTTP}, **physical))
    assert _statements(s3) == [THEIRS, DENY_PLAIN_HTTP]


def test_a_statement_of_cloudformation_arrives_as_json_text_too(s3):
    on_event(_event("Create", json.dumps(DENY_PLAIN_HTTP)))  # type: ignore[arg-type]
    assert _statements(s3) == [DENY_PLAIN_HTTP]


def test_delete_removes_only_ragline_s_statement(s3):
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [THEIRS]}))
    on_event(_event("Create"))
    response = on_event(_event("Delete", PhysicalResourceId=f"{BUCKET}/{SID}"))
    assert response == {"PhysicalResourceId": f"{BUCKET}/{SID}"}
    assert _statements(s3) == [THEIRS]


def test_delete_removes_the_policy_when_nothing_else_is_left(s3):
    on_event(_event("Create"))
    on_event(_event("Delete", PhysicalResourceId=f"{BUCKET}/{SID}"))
    assert not _has_policy(s3)


def test_delete_with_no_policy_or_no_bucket_left_succeeds(s3):
    on_event(_event("Delete", PhysicalResourceId=f"{BUCKET}/{SID}"))  # never created, or removed by hand
    assert not _has_policy(s3)
    s3.delete_bucket(Bucket=BUCKET)
    on_event(_event("Delete", PhysicalResourceId=f"{BUCKET}/{SID}"))


def test_a_statement_without_a_sid_is_refused(s3):
    unnamed = {key: value for key, value in DENY_PLAIN_HTTP.items() if key != "Sid"}
    with pytest.raises(ValueError, match="needs a Sid"):
        on_event(_event("Create", unnamed))
    assert not _has_policy(s3)
