"""FakeObjectStore: the ObjectStore port as an in-memory bucket, with S3's ETags and version ids."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

from ragline.errors import ObjectChanged
from ragline.models import ListedObject, StoredObject


class FakeObjectStore:
    """The ObjectStore port in memory, held to the object-store contract
    (tests/contract/test_object_store_contract.py).

    As S3 does: an ETag is the MD5 of the bytes, metadata names are lower case, a ``versioned`` store gives
    every write a new version id (else there is none, and the ETag names the version); a bounded
    :meth:`get` reads the first ``max_bytes`` and tells the whole ``size``; a :meth:`delete` bound to an ETag
    deletes only that object, and raises :class:`ObjectChanged` for any other, or for none. :meth:`put`
    stands in for a client's upload (not a port method: the core never writes documents).

    >>> objects = FakeObjectStore()
    >>> written = objects.put("docs", "a.md", b"0123456789", {"Roles": "staff"})
    >>> stored = objects.get("docs", "a.md", max_bytes=4)
    >>> stored.data, stored.size, stored.metadata
    (b'0123', 10, {'roles': 'staff'})
    >>> objects.delete("docs", "a.md", etag="another")
    Traceback (most recent call last):
    ...
    ragline.errors.ObjectChanged: a.md
    """

    def __init__(self, versioned: bool = False) -> None:
        self.versioned = versioned
        self._objects: dict[tuple[str, str], StoredObject] = {}
        self._versions = itertools.count(1)
        self._written: dict[tuple[str, str], datetime] = {}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(microsecond=0)  # S3: to the second

    def put(self, bucket: str, key: str, data: bytes | str, metadata: Mapping[str, str] | None = None) -> StoredObject:
        """Write the object, as a PUT to S3 would; returns it as :meth:`head` will."""
        body = data.encode() if isinstance(data, str) else data
        stored = StoredObject(
            bucket=bucket,
            key=key,
            data=body,
            metadata={name.lower(): value for name, value in (metadata or {}).items()},
            etag=hashlib.md5(body, usedforsecurity=False).hexdigest(),
            version_id=f"version-{next(self._versions)}" if self.versioned else None,
            size=len(body),
        )
        self._objects[(bucket, key)] = stored
        self._written[(bucket, key)] = self.clock()
        return self._without_body(stored)

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> StoredObject | None:
        stored = self._objects.get((bucket, key))
        if stored is None or not max_bytes:
            return stored
        return StoredObject(
            bucket, key, stored.data[:max_bytes], dict(stored.metadata), stored.etag, stored.version_id, stored.size
        )

    def head(self, bucket: str, key: str) -> StoredObject | None:
        stored = self._objects.get((bucket, key))
        return None if stored is None else self._without_body(stored)

    def delete(self, bucket: str, key: str, etag: str | None = None) -> None:
        stored = self._objects.get((bucket, key))
        if etag and (stored is None or stored.etag != etag):
            raise ObjectChanged(key)
        self._objects.pop((bucket, key), None)

    def list(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ListedObject]:
        for (stored_bucket, key), stored in sorted(self._objects.items(), key=lambda item: item[0][1].encode()):
            if stored_bucket == bucket and key.startswith(prefix) and key.encode() > start_after.encode():
                yield ListedObject(key, stored.etag, self._written[(bucket, key)], len(stored.data))

    @staticmethod
    def _without_body(stored: StoredObject) -> StoredObject:
        return StoredObject(
            stored.bucket, stored.key, b"", dict(stored.metadata), stored.etag, stored.version_id, stored.size
        )
