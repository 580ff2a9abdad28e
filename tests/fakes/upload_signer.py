"""FakeUploadSigner: the UploadSigner port, keeping what it was asked to sign."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class SignedUpload:
    """One upload :meth:`FakeUploadSigner.presign_put` signed: the arguments it was given."""

    bucket: str
    key: str
    metadata: dict[str, str]
    size: int
    if_match: str | None  # None: create only if the key is free
    expires_in: int


class FakeUploadSigner:
    """Signs nothing: returns a URL of its own for every upload and keeps each in :attr:`signed`.

    >>> signer = FakeUploadSigner()
    >>> signer.presign_put("docs", "q3 report.md", {"roles": "finance"}, 10, None, 900)
    'https://fake-upload.invalid/docs/q3%20report.md?upload=1'
    >>> signer.signed[0].metadata
    {'roles': 'finance'}
    """

    def __init__(self) -> None:
        self.signed: list[SignedUpload] = []

    def presign_put(
        self, bucket: str, key: str, metadata: dict[str, str], size: int, if_match: str | None, expires_in: int
    ) -> str:
        self.signed.append(SignedUpload(bucket, key, dict(metadata), size, if_match, expires_in))
        return f"https://fake-upload.invalid/{bucket}/{urllib.parse.quote(key)}?upload={len(self.signed)}"
