"""The S3 adapters of the ObjectStore, UploadSigner and DownloadSigner ports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from ragline.errors import ObjectChanged
from ragline.models import ListedObject, StoredObject

_MISSING = {"NoSuchKey", "404", "NotFound"}  # what S3 answers for an absent key (GET and HEAD)
_CHANGED = {"PreconditionFailed", "412"}  # a conditional request whose object changed meanwhile


class S3ObjectStore:
    """Reads documents and their user metadata from S3, and deletes them.

    Example:
        >>> store = S3ObjectStore(boto3.client("s3"))  # doctest: +SKIP
        >>> store.get("ragline-documents", "reports/q3.pdf").metadata["roles"]  # doctest: +SKIP
        'finance'
    """

    def __init__(self, client: Any) -> None:
        self._s3 = client

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> StoredObject | None:
        """The object with its metadata, or None when it is absent. With ``max_bytes``, at most that many
        bytes are requested and read, whatever the object's size (``size`` tells the whole size)."""
        extra = {"Range": f"bytes=0-{max_bytes - 1}"} if max_bytes else {}
        try:
            response = self._call(self._s3.get_object, Bucket=bucket, Key=key, **extra)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvalidRange":
                raise
            # A range that starts at 0 is refused only for an empty object.
            response = self._call(self._s3.get_object, Bucket=bucket, Key=key)
        if response is None:
            return None
        body = response["Body"]
        try:
            data = body.read(max_bytes) if max_bytes else body.read()
        finally:
            body.close()
        return _stored(bucket, key, response, data)

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """The object's metadata, ETag and size without its body (``data`` is empty), or None when absent."""
        response = self._call(self._s3.head_object, Bucket=bucket, Key=key)
        return None if response is None else _stored(bucket, key, response, b"")

    def delete(self, bucket: str, key: str, etag: str | None = None) -> None:
        """Delete the object; with ``etag``, only if it is still that object (else :class:`ObjectChanged`)."""
        extra = {"IfMatch": f'"{etag}"'} if etag else {}
        try:
            self._s3.delete_object(Bucket=bucket, Key=key, **extra)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in _CHANGED or (etag and code in _MISSING):
                raise ObjectChanged(key) from None
            raise

    def list(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ListedObject]:
        """ListObjectsV2, 1,000 keys a request, in key order."""
        extra = {"StartAfter": start_after} if start_after else {}
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **extra)
        for page in pages:
            for item in page.get("Contents", []):
                yield ListedObject(
                    key=item["Key"],
                    etag=item["ETag"].strip('"'),
                    last_modified=item["LastModified"],
                    size=int(item["Size"]),
                )

    @staticmethod
    def _call(operation: Any, **params: Any) -> dict[str, Any] | None:
        try:
            return operation(**params)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise


def _size(response: dict[str, Any]) -> int | None:
    content_range = response.get("ContentRange", "")  # "bytes 0-1023/40960" for a ranged GET
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.get("ContentLength")
    return int(length) if length is not None else None


def _stored(bucket: str, key: str, response: dict[str, Any], data: bytes) -> StoredObject:
    return StoredObject(
        bucket=bucket,
        key=key,
        data=data,
        metadata={name.lower(): value for name, value in response.get("Metadata", {}).items()},
        etag=response.get("ETag", "").strip('"'),
        version_id=response.get("VersionId") if response.get("VersionId") not in (None, "null") else None,
        size=_size(response),
    )


class S3UploadSigner:
    """Presigned S3 PUTs whose signature covers the metadata, the length and the write condition, so an
    upload with other roles, another size, or onto another object than the one checked is refused by S3.

    Example:
        >>> signer = S3UploadSigner(boto3.client("s3", config=Config(signature_version="s3v4")))  # doctest: +SKIP
        >>> signer.presign_put("docs", "a.md", {"roles": "staff"}, 2048, None, 900)  # doctest: +SKIP
        'https://docs.s3.amazonaws.com/a.md?X-Amz-Algorithm=...'
    """

    def __init__(self, client: Any) -> None:
        self._s3 = client

    def presign_put(
        self, bucket: str, key: str, metadata: dict[str, str], size: int, if_match: str | None, expires_in: int
    ) -> str:
        params: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Metadata": metadata,
            "ContentLength": size,
        }
        if if_match is None:
            params["IfNoneMatch"] = "*"
        else:
            params["IfMatch"] = f'"{if_match}"'
        return str(self._s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in))


class S3DownloadSigner:
    """Presigned S3 GETs of one object version: a short-lived link to a document's source.

    Example:
        >>> signer = S3DownloadSigner(boto3.client("s3", config=Config(signature_version="s3v4")))  # doctest: +SKIP
        >>> signer.presign_get("docs", "a.md", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", 300)  # doctest: +SKIP
        'https://docs.s3.amazonaws.com/a.md?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY&X-Amz-Algorithm=...'
    """

    def __init__(self, client: Any) -> None:
        self._s3 = client

    def presign_get(self, bucket: str, key: str, version_id: str | None, expires_in: int) -> str:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id is not None:
            params["VersionId"] = version_id
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))
