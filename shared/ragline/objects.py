"""The S3 adapter of the ObjectStore port."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ragline.models import StoredObject

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3ObjectStore:
    """Reads documents and their user metadata from S3.

    Example:
        >>> store = S3ObjectStore(boto3.client("s3"))  # doctest: +SKIP
        >>> store.get("ragline-documents", "reports/q3.pdf").metadata["roles"]  # doctest: +SKIP
        'finance'
    """

    def __init__(self, client: Any) -> None:
        self._s3 = client

    def get(self, bucket: str, key: str) -> StoredObject | None:
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        return StoredObject(
            bucket=bucket,
            key=key,
            data=response["Body"].read(),
            metadata={name.lower(): value for name, value in response.get("Metadata", {}).items()},
            etag=response.get("ETag", "").strip('"'),
            version_id=response.get("VersionId") if response.get("VersionId") not in (None, "null") else None,
        )
