"""A CloudFormation custom resource (CDK's Provider framework) that keeps one statement in a bucket policy
it does not own, the bucket's other statements untouched.

An adopted documents bucket (``ragline:bucket``) already has a policy, or may have one later; an
``AWS::S3::BucketPolicy`` resource would replace it whole, and an imported bucket's
``add_to_resource_policy`` adds nothing. So this handler merges: on Create and Update it puts the
statement named by its ``Sid`` into the bucket's policy (replacing an older copy of the same Sid, so an
update is idempotent); on Delete it removes that statement only, and the policy itself when nothing is
left. It runs on Lambda with the runtime's boto3 and nothing else (the asset is this file alone).

Resource properties: ``BucketName``, and ``Statement``, an IAM statement with a ``Sid``.

Example event (what CloudFormation, through the Provider framework, sends):
    {"RequestType": "Create", "ResourceProperties": {"BucketName": "docs", "Statement": {"Sid": "X", ...}}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import boto3
from botocore.exceptions import ClientError

POLICY_VERSION = "2012-10-17"


def _s3() -> Any:
    return boto3.client("s3")


def read_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket's policy as a document, or None when it has none."""
    try:
        text = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
            return None
        raise
    return json.loads(text)


def _statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    if policy is None:
        return []
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def without(statements: list[dict[str, Any]], sids: set[str]) -> list[dict[str, Any]]:
    return [statement for statement in statements if statement.get("Sid") not in sids]


def put_statement(s3: Any, bucket: str, statement: dict[str, Any], replaces: Iterable[str] = ()) -> None:
    """Puts ``statement`` into the bucket's policy in place of any with its Sid (or one in ``replaces``)."""
    policy = read_policy(s3, bucket)
    kept = without(_statements(policy), {statement["Sid"], *replaces})
    document = {**(policy or {}), "Version": (policy or {}).get("Version", POLICY_VERSION)}
    document["Statement"] = [*kept, statement]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))


def remove_statement(s3: Any, bucket: str, sid: str) -> None:
    """Takes the statement ``sid`` out of the bucket's policy; deletes the policy if nothing is left. A bucket
    or policy that is already gone is not an error: there is nothing to remove."""
    try:
        policy = read_policy(s3, bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return
        raise
    statements = _statements(policy)
    kept = without(statements, {sid})
    if policy is None or len(kept) == len(statements):
        return
    if kept:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**policy, "Statement": kept}))
    else:
        s3.delete_bucket_policy(Bucket=bucket)


def _statement(properties: dict[str, Any]) -> dict[str, Any]:
    statement = properties["Statement"]
    statement = json.loads(statement) if isinstance(statement, str) else statement
    if not statement.get("Sid"):
        raise ValueError("the statement needs a Sid: it is how the handler finds it again")
    return dict(statement)


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The Provider framework's ``onEvent``: Create, Update or Delete the statement; the physical id is the
    bucket and the Sid, so moving to another bucket deletes the statement from the old one."""
    properties = event["ResourceProperties"]
    bucket, statement = properties["BucketName"], _statement(properties)
    physical_id = f"{bucket}/{statement['Sid']}"
    s3 = _s3()
    request = event["RequestType"]
    if request == "Delete":
        remove_statement(s3, bucket, statement["Sid"])
        return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}
    replaces: set[str] = set()
    if request == "Update":
        old = event.get("OldResourceProperties", {})
        if old.get("BucketName") == bucket and old.get("Statement"):
            replaces.add(_statement(old)["Sid"])  # a renamed Sid: the old copy goes
    put_statement(s3, bucket, statement, replaces)
    return {"PhysicalResourceId": physical_id}
