"""Who may see what: the access-control rules of DESIGN.md in one place.

A caller's roles come only from the authorizer's claims; a document's roles come from its sidecar, its
object metadata or the prefix policy, first match wins; and a chunk is visible when the two intersect.

Example:
    >>> sorted(roles_from_claims({"cognito:groups": "finance,research"}))
    ['finance', 'research']
    >>> can_see(("finance",), frozenset({"research"}))
    False
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragline.ports import ObjectStore

SIDECAR_SUFFIX = ".metadata.json"
MAX_SIDECAR_BYTES = 64 * 1024  # a sidecar is a few hundred bytes; a larger one is not read whole
_ROLE_SEPARATORS = re.compile(r"[,\s]+")
# What a role (a Cognito group) may be called. Commas, spaces and brackets are excluded: API Gateway's REST
# authorizer hands the groups over as one string ("a,b" or "[a b]"), where they would split one group in two.
ROLE_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
OWNER_METADATA = "owner"  # x-amz-meta-owner: the uploader's ``sub``
WRITERS_METADATA = "writers"  # x-amz-meta-writers: comma-separated roles that may replace or delete


def _clean(roles: Iterable[object]) -> tuple[str, ...]:
    return tuple(sorted({str(role).strip() for role in roles if str(role).strip()}))


def roles_from_claims(claims: Mapping[str, object] | None) -> frozenset[str]:
    """The caller's roles from the Cognito authorizer's claims (``cognito:groups``).

    API Gateway's REST Cognito authorizer passes every claim as a string ("a,b"); HTTP APIs pass
    "[a b]"; a JWT decoded directly gives a list. All three are accepted.
    """
    if not claims:
        return frozenset()
    groups = claims.get("cognito:groups")
    if groups is None:
        return frozenset()
    if isinstance(groups, str):
        text = groups.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        groups = _ROLE_SEPARATORS.split(text)
    elif not isinstance(groups, (list, tuple)):
        return frozenset()
    # A name outside ROLE_PATTERN cannot be told apart from two groups (or from a list): it grants nothing.
    return frozenset(role for role in _clean(groups) if ROLE_PATTERN.fullmatch(role))


def user_from_claims(claims: Mapping[str, object] | None) -> str:
    """The caller's immutable user id: Cognito's ``sub`` ("" when absent). Usernames can be reused; subs
    cannot, so ownership is recorded by ``sub``."""
    user = (claims or {}).get("sub")
    return user if isinstance(user, str) else ""


def can_see(document_roles: Iterable[str], caller_roles: frozenset[str]) -> bool:
    """A document with no roles is visible to nobody: the intersection is empty."""
    return not caller_roles.isdisjoint(document_roles)


def is_sidecar(key: str) -> bool:
    return key.endswith(SIDECAR_SUFFIX)


def sidecar_key(key: str) -> str:
    return key + SIDECAR_SUFFIX


def document_key_of_sidecar(key: str) -> str:
    return key[: -len(SIDECAR_SUFFIX)]


class InvalidSidecar(ValueError):
    """A sidecar that is not the Bedrock Knowledge Bases metadata format."""


def roles_from_sidecar(data: bytes) -> tuple[str, ...] | None:
    """Roles from a ``<key>.metadata.json`` sidecar, or None when it names none.

    The format is Bedrock Knowledge Bases': ``{"metadataAttributes": {"roles": ["finance"]}}``; a role
    list may also be given as a comma-separated string.
    """
    try:
        document = json.loads(data)
        attributes = document["metadataAttributes"]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidSidecar("sidecar is not JSON with a 'metadataAttributes' object") from error
    if not isinstance(attributes, dict) or "roles" not in attributes:
        return None
    roles = attributes["roles"]
    if isinstance(roles, dict) and "value" in roles:  # the typed form: {"value": ..., "type": ...}
        roles = roles["value"]
    if isinstance(roles, str):
        roles = roles.split(",")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidSidecar("'roles' must be a list of strings")
    return _clean(roles)


def read_sidecar_roles(objects: ObjectStore, bucket: str, key: str) -> tuple[str, ...] | None:
    """The roles the sidecar of ``key`` sets, or None when there is no sidecar or it names none. Reads at
    most :data:`MAX_SIDECAR_BYTES`; a larger, empty or malformed sidecar is :class:`InvalidSidecar`."""
    sidecar = objects.get(bucket, sidecar_key(key), max_bytes=MAX_SIDECAR_BYTES + 1)
    if sidecar is None:
        return None
    if len(sidecar.data) > MAX_SIDECAR_BYTES:
        raise InvalidSidecar(f"sidecar is over {MAX_SIDECAR_BYTES // 1024} KiB")
    return roles_from_sidecar(sidecar.data)


def resolve_document_roles(
    key: str,
    object_metadata: Mapping[str, str],
    sidecar_roles: tuple[str, ...] | None,
    prefix_roles: Mapping[str, tuple[str, ...]],
    default_roles: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """A document's roles, first match wins: sidecar, ``x-amz-meta-roles``, the longest matching prefix
    policy, the configured default, else none (visible to nobody)."""
    if sidecar_roles is not None:
        return sidecar_roles
    if "roles" in object_metadata:
        return _clean(object_metadata["roles"].split(","))
    matching = [prefix for prefix in prefix_roles if key.startswith(prefix)]
    if matching:
        return _clean(prefix_roles[max(matching, key=len)])
    return _clean(default_roles)


def owner_from_metadata(metadata: Mapping[str, str]) -> str:
    """The document's owner from its object metadata; "" for an object put straight into S3."""
    return metadata.get(OWNER_METADATA, "").strip()


def writers_from_metadata(metadata: Mapping[str, str]) -> tuple[str, ...]:
    """The roles that may replace or delete the document, besides its owner and admins."""
    return _clean(metadata.get(WRITERS_METADATA, "").split(","))


def can_write(owner: str, writers: Iterable[str], user: str, caller_roles: frozenset[str], admin_group: str) -> bool:
    """Whether a caller may replace or delete a document: its owner, a holder of one of its writer roles, or
    an admin. Reading never implies writing; a document with no owner and no writers is the admins' alone.

    >>> can_write("u-1", (), "u-1", frozenset({"staff"}), "admin")
    True
    >>> can_write("", (), "u-2", frozenset({"staff"}), "admin")
    False
    """
    if admin_group in caller_roles:
        return True
    if owner and user and owner == user:
        return True
    return not caller_roles.isdisjoint(writers)
