"""Policy inspection for admins: what a set of roles can see, who can see a document, and what looks wrong.

A curator checks a policy before and after changing a sidecar: :meth:`PolicyService.readers_of` shows the
roles a document is indexed with beside the roles ingest gives the object in the bucket now (the sidecar,
the metadata, the prefix policy, the default: ``ragline.access.resolve_document_roles``), so a change shows
at once, and shows as applied once re-indexed. :meth:`PolicyService.visible_to` lists the documents a
caller holding some roles would see, by the same rule the documents API applies to every caller
(:meth:`ragline.documents.DocumentsService.list_documents`). :meth:`PolicyService.warnings` pages through
the registry for documents nobody can see and sensitive documents a broad role can.

Every use case here is for the admin group only (403 ``forbidden`` otherwise): each names other groups.

Example:
    >>> config = PolicyConfig(sensitive_prefixes=("hr/",), broad_roles=("everyone",))
    >>> policy = PolicyService(documents, config)  # doctest: +SKIP
    >>> policy.readers_of(admin, doc_id).indexed_roles  # doctest: +SKIP
    ('finance',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ragline.documents import Caller, DocumentPage, DocumentsService, Refused
from ragline.http_api import ListRequest, encode_cursor
from ragline.models import DocumentRecord
from ragline.settings import Settings, settings_values

FORBIDDEN = Refused(403, "forbidden", "only the admin group may inspect the access policy")

WarningKind = Literal["visible_to_nobody", "sensitive_and_broad"]


@dataclass(frozen=True)
class PolicyConfig:
    """What counts as sensitive: keys under ``sensitive_prefixes`` that a role of ``broad_roles`` (one
    nearly everyone holds) may read are warned about. Defaults: :class:`Settings`'."""

    sensitive_prefixes: tuple[str, ...] = Settings.sensitive_prefixes
    broad_roles: tuple[str, ...] = Settings.broad_roles

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        return cls(**settings_values(settings, cls))


@dataclass(frozen=True)
class Readers:
    """Who may read one document: the roles it is indexed with, and those ingest gives what is in the
    bucket now (None: no object there); ``pending`` when the two differ (a re-index is on its way)."""

    record: DocumentRecord
    indexed_roles: tuple[str, ...]
    bucket_roles: tuple[str, ...] | None
    admin_group: str

    @property
    def pending(self) -> bool:
        return self.bucket_roles is not None and self.bucket_roles != self.indexed_roles


@dataclass(frozen=True)
class PolicyWarning:
    kind: WarningKind
    record: DocumentRecord
    roles: tuple[str, ...]  # the broad roles that reach it (sensitive_and_broad); () for visible_to_nobody


@dataclass(frozen=True)
class WarningPage:
    warnings: list[PolicyWarning]
    next_cursor: str | None


class PolicyService:
    def __init__(self, documents: DocumentsService, config: PolicyConfig) -> None:
        self.documents = documents
        self.config = config

    def visible_to(self, caller: Caller, roles: frozenset[str], request: ListRequest) -> DocumentPage:
        """The documents a caller holding exactly ``roles`` would see, a page at a time."""
        self._refuse_unless_admin(caller)
        as_them = Caller(user="", roles=roles, admin_group=caller.admin_group)
        return self.documents.list_documents(as_them, request)

    def readers_of(self, caller: Caller, doc_id: str) -> Readers:
        """The roles that may read the document, as indexed and as the bucket has it now."""
        self._refuse_unless_admin(caller)
        record = self.documents.status(caller, doc_id)
        return Readers(record, record.roles, self.documents.roles_in_bucket(record.key), caller.admin_group)

    def warnings(self, caller: Caller, after: str | None) -> WarningPage:
        """Documents nobody but admins can see, and documents under a sensitive prefix that a broad role
        can: a bounded part of the registry per page, as ``GET /documents`` reads it."""
        self._refuse_unless_admin(caller)
        found: list[PolicyWarning] = []
        position = after
        for records, next_position in self.documents.registry_pages(after):
            found += [warning for record in records if (warning := self._warning(record)) is not None]
            position = next_position
        return WarningPage(found, None if position is None else encode_cursor(position))

    def _warning(self, record: DocumentRecord) -> PolicyWarning | None:
        if record.status == "deleted":
            return None
        if not record.roles:
            return PolicyWarning("visible_to_nobody", record, ())
        broad = tuple(role for role in record.roles if role in self.config.broad_roles)
        if broad and any(record.key.startswith(prefix) for prefix in self.config.sensitive_prefixes):
            return PolicyWarning("sensitive_and_broad", record, broad)
        return None

    @staticmethod
    def _refuse_unless_admin(caller: Caller) -> None:
        if not caller.is_admin:
            raise FORBIDDEN
