"""Provisioning against a server that outlives the stack: moto server always, LocalStack when LOCALSTACK_URL
is set. Provisioning twice reuses what exists; teardown removes everything, and again finds nothing to do."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.parse
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from ragline.local.provision import provision, teardown
from ragline.local.stack import serves_dynamodb
from ragline.settings import Settings

pytestmark = pytest.mark.e2e

LOCALSTACK_URL = os.environ.get("LOCALSTACK_URL", "").rstrip("/")
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["moto", "localstack"])
def clients(request, moto_url):
    if request.param == "localstack" and not LOCALSTACK_URL:
        pytest.skip("LOCALSTACK_URL is not set: start LocalStack and set it to run on LocalStack (docs/localstack.md)")
    url = moto_url if request.param == "moto" else LOCALSTACK_URL
    dynamodb_url = url if request.param == "moto" or serves_dynamodb(url, REGION) else moto_url

    def client(service: str, endpoint: str):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client("s3", url), client("sqs", url), client("dynamodb", dynamodb_url)


def receive_s3_records(sqs, queue_url: str, wanted: int, timeout: float = 10.0) -> list[dict]:
    records: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(records) < wanted and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            records.extend(json.loads(message["Body"]).get("Records", []))  # S3's test event has none
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return records


def test_provision_is_idempotent_and_teardown_leaves_nothing(clients):
    s3, sqs, dynamodb = clients
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        bucket=f"ragline-documents-{suffix}",
        registry_table=f"ragline-registry-{suffix}",
        audit_table=f"ragline-audit-{suffix}",
        region=REGION,
    )
    queue = f"ragline-ingest-{suffix}"

    first = provision(s3, sqs, dynamodb, settings, queue_name=queue)
    s3.put_object(Bucket=settings.bucket, Key="kept.txt", Body=b"from the first run")
    again = provision(s3, sqs, dynamodb, settings, queue_name=queue)  # an earlier run's resources exist
    assert again == first
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=again.queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert int(redrive["maxReceiveCount"]) == 3

    s3.put_object(Bucket=settings.bucket, Key="notes/new.txt", Body=b"hello")
    s3.delete_object(Bucket=settings.bucket, Key="notes/new.txt")
    records = receive_s3_records(sqs, again.queue_url, wanted=3)
    events = [(r["eventName"].split(":")[0], urllib.parse.unquote_plus(r["s3"]["object"]["key"])) for r in records]
    assert events[-2:] == [
        ("ObjectCreated", "notes/new.txt"),
        ("ObjectRemoved", "notes/new.txt"),
    ]

    assert (
        dynamodb.describe_time_to_live(TableName=settings.audit_table)["TimeToLiveDescription"]["AttributeName"]
        == "expires_at"
    )
    teardown(s3, sqs, dynamodb, settings.bucket, settings.registry_table, queue, settings.audit_table)
    assert settings.bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for name in (queue, f"{queue}-dlq"):
        with pytest.raises(ClientError):
            sqs.get_queue_url(QueueName=name)
    assert {settings.registry_table, settings.audit_table}.isdisjoint(dynamodb.list_tables()["TableNames"])
    teardown(s3, sqs, dynamodb, settings.bucket, settings.registry_table, queue, settings.audit_table)  # no error

    fresh = provision(s3, sqs, dynamodb, settings, queue_name=queue)  # and a clean start after it
    assert s3.list_objects_v2(Bucket=settings.bucket).get("KeyCount", 0) == 0
    teardown(s3, sqs, dynamodb, fresh.bucket, fresh.table, queue, fresh.audit_table)
