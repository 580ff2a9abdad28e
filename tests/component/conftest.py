"""The component stack: moto in-process with real S3 -> SQS notifications, and the real handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ragline.ids import document_id
from ragline.local.gateway import match_route, rest_proxy_event
from ragline.local.lambda_runtime import LocalFunction
from ragline.local.provision import Resources, provision
from ragline.local.s3_events import install_sequencers
from ragline.local.worker import sqs_lambda_event
from ragline.models import DocumentRecord
from ragline.settings import Settings


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
        """Call the query function with the event API Gateway would send after its Cognito authorizer."""
        route = match_route(method, path)
        assert route is not None, f"no route {method} {path}"
        resource, parameters, _ = route
        claims = None if groups is None else {"cognito:username": user, "sub": user, "cognito:groups": ",".join(groups)}
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        raw_bytes = raw.encode() if isinstance(raw, str) else (raw or b"")
        event = rest_proxy_event(
            method, path, resource, parameters, "", {"Content-Type": "application/json"}, raw_bytes, claims
        )
        response = self.query.invoke(event)
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ComponentStack]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("RAGLINE_EMBEDDER", "hash")
    monkeypatch.setenv("RAGLINE_INDEX_PATH", str(tmp_path / "index.sqlite3"))
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    install_sequencers()  # as S3's, every notification carries a sequencer
    with mock_aws():
        settings = Settings.from_env()
        session = boto3.session.Session(region_name=settings.region)
        s3, sqs = session.client("s3"), session.client("sqs")
        resources = provision(s3, sqs, session.client("dynamodb"), settings)
        yield ComponentStack(settings, resources, s3, sqs, LocalFunction("ingest"), LocalFunction("query"))
