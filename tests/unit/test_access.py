"""Who may see what: claims, document roles, the visibility rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragline.access import (
    InvalidSidecar,
    can_see,
    can_write,
    resolve_document_roles,
    roles_from_claims,
    roles_from_sidecar,
)

role = st.text(alphabet="abcdefghij", min_size=1, max_size=4)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"cognito:groups": "finance"}, {"finance"}),
        ({"cognito:groups": "finance,research"}, {"finance", "research"}),  # REST API authorizer
        ({"cognito:groups": "[finance research]"}, {"finance", "research"}),  # HTTP API authorizer
        ({"cognito:groups": ["finance", "research"]}, {"finance", "research"}),  # a decoded JWT
        ({"cognito:groups": ""}, set()),
        ({"sub": "abc"}, set()),
        ({}, set()),
        (None, set()),
        ({"cognito:groups": 7}, set()),
        # A list-typed claim keeps a group whole: one whose name would split in a string claim grants nothing.
        ({"cognito:groups": ["contractors,admin"]}, set()),
        ({"cognito:groups": ["contractors", "[admin]"]}, {"contractors"}),
        ({"cognito:groups": "[[admin]]"}, set()),  # only one pair of brackets is the list's
        ({"cognito:groups": ["finance", "fin ance"]}, {"finance"}),
    ],
)
def test_roles_from_claims(claims, expected):
    assert roles_from_claims(claims) == frozenset(expected)


@pytest.mark.parametrize(
    ("owner", "writers", "user", "roles", "expected"),
    [
        ("u-1", (), "u-1", {"staff"}, True),  # the owner
        ("u-1", (), "u-2", {"staff"}, False),  # a reader is not a writer
        ("u-1", ("editors",), "u-2", {"editors"}, True),  # a writer role
        ("", (), "", {"staff"}, False),  # put straight into S3, no writers: admins only
        ("", (), "", {"admin"}, True),
        ("u-1", (), "", {"staff"}, False),  # no user id never matches an owner
    ],
)
def test_who_may_write(owner, writers, user, roles, expected):
    assert can_write(owner, writers, user, frozenset(roles), "admin") is expected


@given(st.sets(role), st.sets(role))
def test_visibility_is_exactly_a_non_empty_intersection(document_roles, caller_roles):
    assert can_see(document_roles, frozenset(caller_roles)) == bool(document_roles & caller_roles)


@given(st.sets(role))
def test_a_document_without_roles_is_visible_to_nobody(caller_roles):
    assert not can_see((), frozenset(caller_roles))


def test_sidecar_wins_over_metadata_and_prefix():
    roles = resolve_document_roles("public/a.md", {"roles": "staff"}, ("finance",), {"public/": ("everyone",)})
    assert roles == ("finance",)


def test_metadata_wins_over_prefix():
    assert resolve_document_roles("public/a.md", {"roles": "staff, hr"}, None, {"public/": ("everyone",)}) == (
        "hr",
        "staff",
    )


def test_the_longest_matching_prefix_applies():
    policy = {"public/": ("everyone",), "public/finance/": ("finance",)}
    assert resolve_document_roles("public/finance/q3.md", {}, None, policy) == ("finance",)
    assert resolve_document_roles("public/news.md", {}, None, policy) == ("everyone",)


def test_default_roles_apply_last_and_none_means_nobody():
    assert resolve_document_roles("x.md", {}, None, {}, ("staff",)) == ("staff",)
    assert resolve_document_roles("x.md", {}, None, {}) == ()


@pytest.mark.parametrize(
    ("sidecar", "expected"),
    [
        (b'{"metadataAttributes": {"roles": ["finance", "hr"]}}', ("finance", "hr")),
        (b'{"metadataAttributes": {"roles": "finance,hr"}}', ("finance", "hr")),
        (b'{"metadataAttributes": {"roles": {"value": ["finance"], "type": "STRING_LIST"}}}', ("finance",)),
        (b'{"metadataAttributes": {"roles": []}}', ()),
        (b'{"metadataAttributes": {"year": 2026}}', None),
    ],
)
def test_sidecar_formats(sidecar, expected):
    assert roles_from_sidecar(sidecar) == expected


@pytest.mark.parametrize("sidecar", [b"not json", b"[]", b'{"roles": ["x"]}', b'{"metadataAttributes": {"roles": 5}}'])
def test_a_malformed_sidecar_is_rejected(sidecar):
    with pytest.raises(InvalidSidecar):
        roles_from_sidecar(sidecar)
