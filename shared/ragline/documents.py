"""The documents API's rules: who may upload, replace, read the status of, and delete a document.

The write model (docs/security.md, "Writers are not readers"): a document uploaded through the API has an
*owner* (the uploader's ``sub``) and optional *writer roles*, kept in the object's metadata
(``x-amz-meta-owner``, ``x-amz-meta-writers``) and copied into the registry by ingest. Replacing or deleting
a document needs its owner, one of its writer roles, or the admin group; reading it never does. A document
put straight into S3 by an operator has no owner: only admins (or its writer roles) may change it. Each
check is made against the registry *and* the object in the bucket now, since either may be ahead.

Example:
    >>> config = DocumentsConfig.from_settings(settings)  # doctest: +SKIP
    >>> service = DocumentsService(registry, objects, signer, config, downloads)  # doctest: +SKIP
    >>> grant = service.create_upload(caller, UploadRequest("finance/q4.md", ("finance",), size=2048))  # doctest: +SKIP
    >>> grant.headers["x-amz-meta-roles"]  # doctest: +SKIP
    'finance'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ragline.access import (
    OWNER_METADATA,
    WRITERS_METADATA,
    InvalidSidecar,
    can_see,
    can_write,
    owner_from_metadata,
    read_sidecar_roles,
    resolve_document_roles,
    sidecar_key,
    writers_from_metadata,
)
from ragline.errors import ObjectChanged
from ragline.http_api import BadRequest, ListRequest, UploadRequest, encode_cursor
from ragline.ids import document_id, is_document_id
from ragline.models import DocumentRecord, StoredObject
from ragline.ports import DownloadSigner, ObjectStore, Registry, UploadSigner
from ragline.settings import Settings, settings_values

UPLOAD_URL_SECONDS = 900
DOWNLOAD_URL_SECONDS = 300
# GET /documents reads the registry in pages of this many items, and at most this many pages per request.
# A caller who may see few of many documents would otherwise have one request scan the whole table: a
# response time (and a read bill) that grows with everyone's documents, up to the function's timeout.
# Bounded, a request reads at most SCAN_PAGE_ITEMS * MAX_SCAN_PAGES items and returns a cursor to go on
# from, even with fewer than ``limit`` documents (or none) on its page.
SCAN_PAGE_ITEMS = 100
MAX_SCAN_PAGES = 10


class Refused(Exception):
    """A request the caller may not make: answered with ``status`` and ``{"message", "code"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


NOT_FOUND = Refused(404, "not_found", "no such document")  # the same for "absent" and "not yours"


@dataclass(frozen=True)
class Caller:
    """Who is asking: the user id (Cognito's ``sub``) and roles from the authorizer's claims only."""

    user: str
    roles: frozenset[str]
    admin_group: str

    @property
    def is_admin(self) -> bool:
        return self.admin_group in self.roles

    def may_see(self, document_roles: tuple[str, ...]) -> bool:
        """Whether the caller may read a document of these roles: admins read every document."""
        return self.is_admin or can_see(document_roles, self.roles)

    def may_write(self, owner: str, writers: tuple[str, ...]) -> bool:
        return can_write(owner, writers, self.user, self.roles, self.admin_group)


@dataclass(frozen=True)
class DocumentsConfig:
    """The settings the documents API works by (README, "Configuration"); the defaults are :class:`Settings`'.

    >>> DocumentsConfig.from_settings(Settings(bucket="docs")).bucket
    'docs'
    """

    bucket: str = Settings.bucket
    max_object_bytes: int = Settings.max_object_bytes  # a larger upload is refused
    # The roles ingest gives an object that names none: they decide who may see what is at a key.
    prefix_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_roles: tuple[str, ...] = Settings.default_roles

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentsConfig:
        return cls(**settings_values(settings, cls))


@dataclass(frozen=True)
class UploadGrant:
    url: str
    headers: dict[str, str]
    key: str
    doc_id: str
    expires_in: int


@dataclass(frozen=True)
class DocumentPage:
    """A page of ``GET /documents``: the documents, and the cursor of the next page (None: the last)."""

    documents: list[DocumentRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class DownloadGrant:
    url: str
    expires_in: int


@dataclass(frozen=True)
class _KeyState:
    """What the bucket and the registry hold at a key, as ingest would read it."""

    record: DocumentRecord | None  # the registry's record, unless deleted
    head: StoredObject | None  # the object now in the bucket
    roles: tuple[str, ...] | None  # the roles ingest gives that object (None: no object)
    sidecar_roles: tuple[str, ...] | None  # roles a sidecar sets (a broken one: (), visible to nobody)


class DocumentsService:
    """The use cases behind ``POST`` and ``GET /documents``, ``GET`` and ``DELETE /documents/{doc_id}`` and
    ``GET /documents/{doc_id}/download``."""

    def __init__(
        self,
        registry: Registry,
        objects: ObjectStore,
        signer: UploadSigner,
        config: DocumentsConfig,
        downloads: DownloadSigner,
    ) -> None:
        self.registry = registry
        self.objects = objects
        self.signer = signer
        self.config = config
        self.downloads = downloads
        # The scan's bounds (above); a test sets smaller ones to reach them with a few documents.
        self.scan_page_items = SCAN_PAGE_ITEMS
        self.max_scan_pages = MAX_SCAN_PAGES

    # -- upload ----------------------------------------------------------------------------------

    def create_upload(self, caller: Caller, request: UploadRequest) -> UploadGrant:
        """A signed upload of ``request.size`` bytes to ``request.key`` carrying the roles, the owner and the
        writers; refused unless the caller may create the key, or may replace what is there now."""
        if request.size > self.config.max_object_bytes:
            raise BadRequest("too_large", f"'size' is over the limit of {self.config.max_object_bytes} bytes")
        if not caller.is_admin:
            not_held = [role for role in (*request.roles, *(request.writers or ())) if role not in caller.roles]
            if not_held:
                # Names only roles the caller asked for: never its other roles, nor anyone else's.
                raise Refused(
                    403, "forbidden_roles", f"you may not assign roles you do not hold: {', '.join(not_held)}"
                )
        state = self._key_state(request.key, self.registry.get(document_id(self.config.bucket, request.key)))
        if not caller.is_admin and any(
            found is not None and not can_see(found, caller.roles)
            for found in (state.record.roles if state.record else None, state.roles, state.sidecar_roles)
        ):
            # Refusing says that something is at this key, which cannot be helped without letting the caller
            # replace a document it cannot see; the answer says nothing more (no roles, status or title).
            raise Refused(403, "forbidden_key", "you may not upload to this key")
        owner, writers = self._authorship(caller, request, state)
        if state.sidecar_roles is not None:
            # The sidecar's roles win over the upload's x-amz-meta-roles: signing these roles would be a lie.
            raise Refused(
                409,
                "sidecar_conflict",
                f"the roles of this key are set by {sidecar_key(request.key)}; change or delete it, then upload",
            )
        metadata = {"roles": request.roles_metadata}
        if owner:
            metadata[OWNER_METADATA] = owner
        if writers:
            metadata[WRITERS_METADATA] = ",".join(writers)
        etag = state.head.etag if state.head else None
        url = self.signer.presign_put(self.config.bucket, request.key, metadata, request.size, etag, UPLOAD_URL_SECONDS)
        headers = {f"x-amz-meta-{name}": value for name, value in metadata.items()}
        headers["Content-Length"] = str(request.size)
        # Bound to what was checked (S3 conditional writes): the URL replaces only the object seen here, or
        # creates the key only if it is still free, so nobody's later upload is overwritten unseen.
        headers.update({"If-Match": f'"{etag}"'} if etag else {"If-None-Match": "*"})
        return UploadGrant(url, headers, request.key, document_id(self.config.bucket, request.key), UPLOAD_URL_SECONDS)

    def _authorship(self, caller: Caller, request: UploadRequest, state: _KeyState) -> tuple[str, tuple[str, ...]]:
        """The owner and writers the upload will carry. A new document is the caller's; a replacement keeps
        its owner and writers, and needs the caller to be allowed to write both what the registry and what
        the bucket hold."""
        if state.head is None and state.record is None:
            return caller.user, request.writers or ()
        existing = [(record.owner, record.writers) for record in (state.record,) if record is not None]
        if state.head is not None:
            existing.append((owner_from_metadata(state.head.metadata), writers_from_metadata(state.head.metadata)))
        if not all(caller.may_write(owner, writers) for owner, writers in existing):
            raise Refused(403, "forbidden_write", "you may read this document but not replace it")
        owner, writers = existing[-1]  # the bucket's, which is the newer when they differ
        if request.writers is not None and request.writers != writers:
            if not (caller.is_admin or (owner and owner == caller.user)):
                raise Refused(403, "forbidden_writers", "only the document's owner or an admin may change its writers")
            writers = request.writers
        return owner or (caller.user if state.head is None else ""), writers

    # -- list, status, download and delete -------------------------------------------------------

    def list_documents(self, caller: Caller, request: ListRequest) -> DocumentPage:
        """The documents the caller may see (as :meth:`status` decides), in the registry's order, from the
        request's position: up to ``request.limit`` of them, of its status and under its prefix. Deleted
        documents are listed only when ``status`` asks for them. The scan is bounded (``MAX_SCAN_PAGES``):
        a page may be short, and only a ``next_cursor`` of None says that nothing follows."""
        found: list[DocumentRecord] = []
        next_after = request.after
        for records, next_after in self.registry_pages(request.after):
            for position, record in enumerate(records):
                if not self._listed(caller, record, request):
                    continue
                found.append(record)
                if len(found) == request.limit:
                    last = position == len(records) - 1 and next_after is None
                    return DocumentPage(found, None if last else encode_cursor(record.doc_id))
        return DocumentPage(found, None if next_after is None else encode_cursor(next_after))

    def registry_pages(self, after: str | None) -> Iterator[tuple[list[DocumentRecord], str | None]]:
        """The registry a page at a time from position ``after``: each page's records and the position that
        follows it (None: the table has ended), at most ``max_scan_pages`` pages, one request's bound."""
        for _ in range(self.max_scan_pages):
            records, after = self.registry.scan(after, self.scan_page_items)
            yield records, after
            if after is None:
                return

    @staticmethod
    def _listed(caller: Caller, record: DocumentRecord, request: ListRequest) -> bool:
        wanted = record.status != "deleted" if request.status is None else record.status == request.status
        return caller.may_see(record.roles) and wanted and request.matches(record.key, record.title)

    def status(self, caller: Caller, doc_id: str) -> DocumentRecord:
        """The document's registry record, if the caller may see it (else 404, as if it did not exist)."""
        record = self.registry.get(doc_id) if is_document_id(doc_id) else None
        if record is None or not caller.may_see(record.roles):
            raise NOT_FOUND
        return record

    def download(self, caller: Caller, doc_id: str) -> DownloadGrant:
        """A short-lived URL of the document's source as it was indexed, for a caller who may see it: 404
        as :meth:`status` answers, and for a deleted document or one never read (queued). Where the bucket
        is versioned the URL names the indexed version; where it is not, the object at the key must still
        be the indexed one."""
        record = self.status(caller, doc_id)
        if record.status == "deleted" or not record.version:
            raise NOT_FOUND
        state = self._key_state(record.key, record)  # the record status() just read: no second read
        if state.head is None or state.roles is None:
            raise NOT_FOUND  # deleted from the bucket: its removal is on its way to the registry
        if not caller.may_see(state.roles):
            raise NOT_FOUND  # the object there now (or its sidecar) is not one the caller may see
        if state.head.version_id is None and state.head.etag != record.version:
            raise Refused(409, "changed", "the document changed since it was indexed; try again once it is re-indexed")
        version_id = record.version if state.head.version_id is not None else None
        url = self.downloads.presign_get(record.bucket, record.key, version_id, DOWNLOAD_URL_SECONDS)
        return DownloadGrant(url, DOWNLOAD_URL_SECONDS)

    def delete(self, caller: Caller, doc_id: str) -> None:
        """Delete the object if the caller may change it, as recorded and as it is in the bucket now; the
        index follows through the ObjectRemoved event."""
        record = self.status(caller, doc_id)
        state = self._key_state(record.key, record)  # the record status() just read: no second read
        if state.roles is not None and not caller.may_see(state.roles):
            raise NOT_FOUND  # the object there now is not one the caller may see
        writable = caller.may_write(record.owner, record.writers)
        if state.head is not None:
            metadata = state.head.metadata
            writable = writable and caller.may_write(owner_from_metadata(metadata), writers_from_metadata(metadata))
        if not writable:
            raise Refused(403, "forbidden_write", "you may read this document but not delete it")
        if state.head is None:
            return  # gone already: its removal is on its way to the index
        try:
            self.objects.delete(record.bucket, record.key, etag=state.head.etag)
        except ObjectChanged:
            raise Refused(409, "changed", "the document changed while being deleted; look again, then retry") from None

    def roles_in_bucket(self, key: str) -> tuple[str, ...] | None:
        """The roles ingest gives the object now at ``key`` (None: there is none), sidecar included."""
        return self._key_state(key, None).roles

    def _key_state(self, key: str, record: DocumentRecord | None) -> _KeyState:
        """What is at ``key``: ``record`` (the registry's record of it) beside what the bucket holds now."""
        if record is not None and record.status == "deleted":
            record = None
        try:
            sidecar_roles = read_sidecar_roles(self.objects, self.config.bucket, key)
        except InvalidSidecar:
            sidecar_roles = ()  # fails closed, as in ingest
        head = self.objects.head(self.config.bucket, key)
        if head is None:
            return _KeyState(record, None, None, sidecar_roles)
        roles = resolve_document_roles(
            key, head.metadata, sidecar_roles, self.config.prefix_roles, self.config.default_roles
        )
        return _KeyState(record, head, roles, sidecar_roles)
