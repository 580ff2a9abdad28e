"""The CLI's side of the local stack: upload through S3, watch the registry, call the HTTP API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from ragline.access import (
    InvalidSidecar,
    document_key_of_sidecar,
    is_sidecar,
    resolve_document_roles,
    roles_from_sidecar,
)
from ragline.client import RaglineClient
from ragline.ids import document_id
from ragline.local.endpoints import Endpoints
from ragline.local.tokens import issue_token
from ragline.models import DocumentRecord, IndexingProgress
from ragline.registries.dynamodb import DynamoRegistry
from ragline.settings import Settings


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


def keys_without_roles(files: Iterable[tuple[Path, str]], settings: Settings) -> list[str]:
    """The documents among ``files`` that would get no roles when uploaded without ``--roles``: no sidecar
    among the files that names some, and no prefix policy or default roles (ragline.access's order).

    Nobody can see such a document. (A sidecar already in the bucket is not looked at.)"""
    files = list(files)
    sidecars: dict[str, tuple[str, ...] | None] = {}
    for path, key in files:
        if is_sidecar(key):
            try:
                sidecars[document_key_of_sidecar(key)] = roles_from_sidecar(path.read_bytes())
            except InvalidSidecar:
                sidecars[document_key_of_sidecar(key)] = None  # the ingest records it as failed, and says why
    return [
        key
        for _, key in files
        if not is_sidecar(key)
        and not resolve_document_roles(key, {}, sidecars.get(key), settings.prefix_roles, settings.default_roles)
    ]


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
        self._session = requests.Session()  # one connection pool for every API client made here

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
        on_progress: Callable[[Upload, IndexingProgress], None] | None = None,
    ) -> dict[str, DocumentRecord | None]:
        """Poll the registry until every upload is indexed or failed, or the timeout passes (None then);
        ``on_progress`` hears how far the ingest has come through each pending upload that reports it."""
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
                elif on_progress is not None and (progress := self.registry.progress(upload.doc_id)):
                    on_progress(upload, progress)
            if pending:
                time.sleep(0.1)
        return results

    # -- HTTP API -------------------------------------------------------------------------------

    def token(self, user: str, groups: list[str]) -> str:
        """A bearer token for ``user`` in ``groups``, signed with the stack's key (ragline.local.tokens)."""
        return issue_token(self.home, user, groups)

    def api(self, user: str, groups: list[str]) -> RaglineClient:
        """The HTTP API's client, as ``user`` in ``groups``."""
        return RaglineClient(self.endpoints.api_url, self.token(user, groups), session=self._session)

    def call(
        self, method: str, route: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, Any]:
        """Calls the local API; returns the status and the decoded JSON body."""
        return RaglineClient(self.endpoints.api_url, token, session=self._session).call(method, route, body)
