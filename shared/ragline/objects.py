"""The S3 adapter of the ObjectStore port."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ragline.models import StoredObject

_MISSING = {"NoSuchKey", "404", "NotFound"}  # what S3 answers for an absent key (GET and HEAD)


class S3ObjectStore:
    """Reads documents and their user metadata from S3.

    Example:
        >>> store = S3ObjectStore(boto3.client("s3"))  # doctest: +SKIP
        >>> store.get("ragline-documents", "reports/q3.pdf").metadata["roles"]  # doctest: +SKIP
        'finance'
    """

    def __init__(self, client: Any) -> None:
        self._s3 = client

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> StoredObject | None:
        """The object with its metadata (only its first ``max_bytes`` when given), or None when it is absent."""
        extra = {"Range": f"bytes=0-{max_bytes - 1}"} if max_bytes else {}
        response = self._call(self._s3.get_object, Bucket=bucket, Key=key, **extra)
        return None if response is None else _stored(bucket, key, response, response["Body"].read())

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """The object's metadata and ETag without its body (``data`` is empty), or None when it is absent."""
        response = self._call(self._s3.head_object, Bucket=bucket, Key=key)
        return None if response is None else _stored(bucket, key, response, b"")

    @staticmethod
    def _call(operation: Any, **params: Any) -> dict[str, Any] | None:
        try:
            return operation(**params)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise


def _stored(bucket: str, key: str, response: dict[str, Any], data: bytes) -> StoredObject:
    return StoredObject(
        bucket=bucket,
        key=key,
        data=data,
        metadata={name.lower(): value for name, value in response.get("Metadata", {}).items()},
        etag=response.get("ETag", "").strip('"'),
        version_id=response.get("VersionId") if response.get("VersionId") not in (None, "null") else None,
    )
