"""The component stack: moto in-process with real S3 -> SQS notifications, and the real handlers.

moto starts once for the component tests (``moto_aws`` is package-scoped: once per pytest-xdist worker, or
again when a worker comes back to this package from another) and is emptied before every component test;
``stack`` then provisions the bucket, queues and tables (the registry, the audit trail) afresh under their
default names, and loads both handlers anew, so no handler keeps an earlier test's clients or settings.

Starting moto is cheap; what used to make every test slow was botocore parsing the service models (S3's
alone is megabytes of JSON) for each new boto3 session: moto clears boto3's default session when it starts.
So one boto3 session serves the whole run (``boto_session``), and moto's default session is set to it: the
handlers' ``boto3.client(...)`` calls build their clients from models parsed once.

A test that starts ``mock_aws`` itself (test_objects.py) nests inside this one: moto counts nested starts,
and only the outermost start and stop reset it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from ragline.ids import document_id
from ragline.local.gateway import match_route, rest_proxy_event
from ragline.local.lambda_runtime import LocalFunction
from ragline.local.moto_sqs import install_constant_time_retention
from ragline.local.moto_transactions import install_item_rollback
from ragline.local.provision import Resources, provision
from ragline.local.s3_events import install_sequencers
from ragline.local.worker import sqs_lambda_event
from ragline.models import DocumentRecord
from ragline.settings import Settings

REGION = "us-east-1"


@dataclass
class ComponentStack:
    settings: Settings
    resources: Resources
    s3: Any
    sqs: Any
    ingest: LocalFunction
    query: LocalFunction

    def ingestor(self) -> Any:
        """The ingest function's :class:`ragline.ingest.Ingestor` (built on first use, as on Lambda)."""
        return self.ingest.module.ingestor()

    def record(self, key: str) -> DocumentRecord | None:
        """The registry's record of the document at ``key``."""
        return self.ingestor().registry.get(document_id(self.settings.bucket, key))

    def put(self, key: str, body: bytes | str, roles: list[str] | None = None) -> dict:
        data = body.encode() if isinstance(body, str) else body
        extra = {"Metadata": {"roles": ",".join(roles)}} if roles is not None else {}
        return self.s3.put_object(Bucket=self.settings.bucket, Key=key, Body=data, **extra)

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.settings.bucket, Key=key)

    def receive(self) -> list[dict]:
        """Everything waiting in the ingest queue (S3's notifications)."""
        messages: list[dict] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.resources.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)

    def deliver(self, messages: list[dict]) -> dict:
        """Call the ingest function with these messages as Lambda's SQS event source would."""
        event = sqs_lambda_event(messages, self.resources.queue_arn, self.settings.region)
        response = self.ingest.invoke(event)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        for message in done:
            self.sqs.delete_message(QueueUrl=self.resources.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return response

    def drain(self) -> dict:
        """Deliver every pending notification in one batch; returns the function's response."""
        return self.deliver(self.receive())

    def request(
        self, method: str, path: str, body: Any = None, groups: list[str] | None = None, user: str = "alice"
    ) -> tuple[int, Any]:
        """Call the query function with the event API Gateway would send after its Cognito authorizer;
        ``path`` may end in a query string."""
        path, _, query = path.partition("?")
        route = match_route(method, path)
        assert route is not None, f"no route {method} {path}"
        resource, parameters, _ = route
        claims = None if groups is None else {"cognito:username": user, "sub": user, "cognito:groups": ",".join(groups)}
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        raw_bytes = raw.encode() if isinstance(raw, str) else (raw or b"")
        event = rest_proxy_event(
            method, path, resource, parameters, query, {"Content-Type": "application/json"}, raw_bytes, claims
        )
        response = self.query.invoke(event)
        return response["statusCode"], json.loads(response["body"])


@dataclass
class MotoAws:
    """moto in-process, and clients of one boto3 session for the tests' own calls."""

    s3: Any
    sqs: Any
    dynamodb: Any

    def reset(self) -> None:
        """Empty every moto backend through moto's reset API (the mock and its HTTP interception stay on)."""
        requests.post("http://motoapi.amazonaws.com/moto-api/reset", timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def boto_session() -> boto3.session.Session:
    """The run's one boto3 session for moto: its service models are parsed once."""
    return boto3.session.Session(region_name=REGION)


@pytest.fixture(scope="package")
def moto_aws(boto_session: boto3.session.Session) -> Iterator[MotoAws]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        install_sequencers()  # as S3's, every notification carries a sequencer
        install_item_rollback()  # as the local stack's moto: transactions cost their items, not their tables
        install_constant_time_retention()  # and a receive costs its messages, not the queue's depth squared
        with mock_aws():
            # moto has set boto3's default session aside, and puts it back when it stops.
            boto3.DEFAULT_SESSION = boto_session
            yield MotoAws(boto_session.client("s3"), boto_session.client("sqs"), boto_session.client("dynamodb"))


@pytest.fixture(autouse=True)
def empty_moto(moto_aws: MotoAws) -> MotoAws:
    """Every component test starts on an empty moto, whatever ran before it on this worker."""
    moto_aws.reset()
    return moto_aws


@pytest.fixture
def stack(empty_moto: MotoAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ComponentStack:
    monkeypatch.setenv("RAGLINE_EMBEDDER", "hash")
    # A file, not ":memory:": the ingest and the query function each open the index, as two Lambdas would.
    monkeypatch.setenv("RAGLINE_INDEX_PATH", str(tmp_path / "index.sqlite3"))
    monkeypatch.setenv("RAGLINE_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))  # made on the first audited request
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    settings = Settings.from_env()
    aws = empty_moto
    resources = provision(aws.s3, aws.sqs, aws.dynamodb, settings)
    # Loaded per test: a handler module caches its services (clients, settings) for the life of the module.
    return ComponentStack(settings, resources, aws.s3, aws.sqs, LocalFunction("ingest"), LocalFunction("query"))
