"""The CLI's side of the local stack: upload through S3, watch the registry, call the HTTP API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from ragline.access import is_sidecar
from ragline.ids import document_id
from ragline.local.endpoints import Endpoints
from ragline.local.tokens import issue_token
from ragline.models import DocumentRecord
from ragline.registries.dynamodb import DynamoRegistry


@dataclass(frozen=True)
class Upload:
    path: Path
    key: str
    doc_id: str
    version: str


def keys_for(paths: Iterable[Path], prefix: str = "") -> list[tuple[Path, str]]:
    """Files to upload with their keys: a file keeps its name, a folder's files their relative paths."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            found.extend((file, prefix + file.relative_to(path).as_posix()) for file in files)
        elif path.is_file():
            found.append((path, prefix + path.name))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    # Sidecars first, so that a document's own ingest already reads its roles from them.
    return sorted(found, key=lambda item: not is_sidecar(item[1]))


class StackClient:
    """Talks to a running ``ragline up`` through its endpoints file."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.endpoints = Endpoints.read(home)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.endpoints.region
        )
        self.s3 = session.client("s3", endpoint_url=self.endpoints.s3_endpoint)
        dynamodb_endpoint = self.endpoints.dynamodb_endpoint or self.endpoints.s3_endpoint
        table = session.resource("dynamodb", endpoint_url=dynamodb_endpoint).Table(self.endpoints.registry_table)
        self.registry = DynamoRegistry(table)

    # -- documents ------------------------------------------------------------------------------

    def upload(self, path: Path, key: str, roles: list[str] | None) -> Upload:
        extra: dict[str, Any] = {"Metadata": {"roles": ",".join(roles)}} if roles else {}
        response = self.s3.put_object(Bucket=self.endpoints.bucket, Key=key, Body=path.read_bytes(), **extra)
        version = response.get("VersionId") or response["ETag"].strip('"')
        return Upload(path, key, document_id(self.endpoints.bucket, key), version)

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.endpoints.bucket, Key=key)

    def settled(self, upload: Upload) -> DocumentRecord | None:
        """The registry record once this upload's version is indexed or failed; None while pending."""
        record = self.registry.get(upload.doc_id)
        if record is None or record.version != upload.version or record.status not in ("indexed", "failed"):
            return None
        return record

    def wait(
        self,
        uploads: list[Upload],
        timeout: float = 300.0,
        on_settled: Callable[[Upload, DocumentRecord], None] = lambda upload, record: None,
    ) -> dict[str, DocumentRecord | None]:
        """Poll the registry until every upload is indexed or failed, or the timeout passes (None then)."""
        pending = {upload.key: upload for upload in uploads}
        results: dict[str, DocumentRecord | None] = {upload.key: None for upload in uploads}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for key, upload in list(pending.items()):
                record = self.settled(upload)
                if record is not None:
                    results[key] = record
                    del pending[key]
                    on_settled(upload, record)
            if pending:
                time.sleep(0.1)
        return results

    # -- HTTP API -------------------------------------------------------------------------------

    def token(self, user: str, groups: list[str]) -> str:
        return issue_token(self.home, user, groups)

    def call(
        self, method: str, route: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, Any]:
        """Calls the local API; returns the status and the decoded JSON body."""
        request = urllib.request.Request(
            self.endpoints.api_url + route,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")
