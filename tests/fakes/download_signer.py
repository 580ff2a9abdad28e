"""FakeDownloadSigner: the DownloadSigner port, keeping what it was asked to sign."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class SignedDownload:
    """One download :meth:`FakeDownloadSigner.presign_get` signed: the arguments it was given."""

    bucket: str
    key: str
    version_id: str | None  # None: whatever is at the key
    expires_in: int


class FakeDownloadSigner:
    """Signs nothing: returns a URL of its own for every download and keeps each in :attr:`signed`.

    >>> signer = FakeDownloadSigner()
    >>> signer.presign_get("docs", "q3 report.md", "version-1", 300)
    'https://fake-download.invalid/docs/q3%20report.md?download=1'
    >>> signer.signed[0].version_id
    'version-1'
    """

    def __init__(self) -> None:
        self.signed: list[SignedDownload] = []

    def presign_get(self, bucket: str, key: str, version_id: str | None, expires_in: int) -> str:
        self.signed.append(SignedDownload(bucket, key, version_id, expires_in))
        return f"https://fake-download.invalid/{bucket}/{urllib.parse.quote(key)}?download={len(self.signed)}"
