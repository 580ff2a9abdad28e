"""A CloudFormation custom resource (CDK's Provider framework) that keeps one of ragline's settings in a
bucket the stack does not own, the bucket's own settings untouched: one policy statement, found by its
``Sid``, or one CORS rule, found by its ``ID``.

An adopted documents bucket (``ragline:bucket``) has a policy and a CORS configuration of its own, or may
have them later. An ``AWS::S3::BucketPolicy`` resource, or a PutBucketCors call, would replace them whole
(and an imported bucket's ``add_to_resource_policy`` adds nothing). So this handler merges. On Create and
Update it puts its statement or rule in place of an older copy with the same name, so an update is
idempotent. On Delete it removes only that one, and the policy or CORS configuration itself when nothing
is left. It runs on Lambda with the runtime's boto3 and nothing else (the asset is this file alone).

Resource properties: ``BucketName``, and either ``Statement`` (an IAM statement with a ``Sid``) or
``CorsRule`` (an S3 CORS rule with an ``ID``).

Example event (what CloudFormation, through the Provider framework, sends):
    {"RequestType": "Create", "ResourceProperties": {"BucketName": "docs", "Statement": {"Sid": "X", ...}}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

POLICY_VERSION = "2012-10-17"
# CloudFormation hands every property over as text; S3 wants these CORS fields as numbers.
_CORS_NUMBERS = ("MaxAgeSeconds",)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _named(items: list[dict[str, Any]], key: str, names: set[str]) -> list[dict[str, Any]]:
    """``items`` without those whose ``key`` is one of ``names``."""
    return [item for item in items if item.get(key) not in names]


# --- the bucket policy --------------------------------------------------------------------------------


def read_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket's policy as a document, or None when it has none."""
    try:
        text = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as error:
        if _code(error) == "NoSuchBucketPolicy":
            return None
        raise
    return json.loads(text)


def _statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    statements = (policy or {}).get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def put_statement(s3: Any, bucket: str, statement: dict[str, Any], replaces: Iterable[str] = ()) -> None:
    """Puts ``statement`` into the bucket's policy in place of any with its Sid (or a Sid in ``replaces``)."""
    policy = read_policy(s3, bucket) or {"Version": POLICY_VERSION}
    kept = _named(_statements(policy), "Sid", {statement["Sid"], *replaces})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**policy, "Statement": [*kept, statement]}))


def remove_statement(s3: Any, bucket: str, sid: str) -> None:
    """Takes the statement ``sid`` out of the bucket's policy; deletes the policy if nothing is left."""
    policy = read_policy(s3, bucket)
    statements = _statements(policy)
    kept = _named(statements, "Sid", {sid})
    if policy is None or len(kept) == len(statements):
        return
    if kept:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({**policy, "Statement": kept}))
    else:
        s3.delete_bucket_policy(Bucket=bucket)


# --- the CORS configuration ---------------------------------------------------------------------------


def read_cors_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    try:
        return list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"])
    except ClientError as error:
        if _code(error) == "NoSuchCORSConfiguration":
            return []
        raise


def put_cors_rule(s3: Any, bucket: str, rule: dict[str, Any], replaces: Iterable[str] = ()) -> None:
    """Puts ``rule`` first among the bucket's CORS rules, in place of any with its ID (or one in ``replaces``).

    First: S3 answers a request with the first rule that matches its origin and method, and an earlier
    rule for every origin (``*``) would otherwise decide which headers the web app may read (its ETag).
    """
    kept = _named(read_cors_rules(s3, bucket), "ID", {rule["ID"], *replaces})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule, *kept]})


def remove_cors_rule(s3: Any, bucket: str, rule_id: str) -> None:
    """Takes the rule ``rule_id`` out of the bucket's CORS configuration; deletes it if nothing is left."""
    rules = read_cors_rules(s3, bucket)
    kept = _named(rules, "ID", {rule_id})
    if len(kept) == len(rules):
        return
    if kept:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": kept})
    else:
        s3.delete_bucket_cors(Bucket=bucket)


# --- the custom resource ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """What a resource keeps: the property it arrives in, the field that names it, how to put and remove it."""

    property: str
    name: str
    put: Callable[[Any, str, dict[str, Any], Iterable[str]], None]
    remove: Callable[[Any, str, str], None]

    def item(self, properties: dict[str, Any]) -> dict[str, Any]:
        value = properties[self.property]
        item = dict(json.loads(value) if isinstance(value, str) else value)
        if not item.get(self.name):
            raise ValueError(f"the {self.property} needs its {self.name}: it is how the handler finds it again")
        for field in _CORS_NUMBERS:
            if field in item:
                item[field] = int(item[field])
        return item


KINDS = (
    Kind("Statement", "Sid", put_statement, remove_statement),
    Kind("CorsRule", "ID", put_cors_rule, remove_cors_rule),
)


def kind_of(properties: dict[str, Any]) -> Kind:
    for kind in KINDS:
        if kind.property in properties:
            return kind
    raise ValueError(f"the resource keeps one of {', '.join(k.property for k in KINDS)}, and names none")


def _s3() -> Any:
    return boto3.client("s3")


def on_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The Provider framework's ``onEvent``. The physical id names the bucket, the kind and the name, so
    moving to another bucket deletes the old bucket's copy (CloudFormation deletes the old resource)."""
    properties = event["ResourceProperties"]
    bucket, kind = properties["BucketName"], kind_of(properties)
    item = kind.item(properties)
    physical_id = f"{bucket}/{kind.property}/{item[kind.name]}"
    s3 = _s3()
    if event["RequestType"] == "Delete":
        try:
            kind.remove(s3, bucket, item[kind.name])
        except ClientError as error:
            if _code(error) != "NoSuchBucket":  # a bucket deleted by hand has nothing left to remove
                raise
        return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}
    replaces: set[str] = set()
    old = event.get("OldResourceProperties", {})
    if event["RequestType"] == "Update" and old.get("BucketName") == bucket and kind.property in old:
        replaces.add(kind.item(old)[kind.name])  # a renamed statement or rule: the old copy goes
    kind.put(s3, bucket, item, replaces)
    return {"PhysicalResourceId": physical_id}
