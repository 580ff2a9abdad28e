"""The FTS5 side of BM25: the question as a safe MATCH expression, and roles as tokens FTS5 can filter on.

``chunks_fts`` has two columns: ``body``, the chunk's :meth:`~ragline.models.Chunk.indexed_text`, and
``role_tokens``, one token per role of the chunk (:func:`role_token`). A search's MATCH expression
(:func:`match_expression`) confines the question's terms to ``{body}`` and ANDs them with any of the
caller's role tokens in ``{role_tokens}``, so FTS5 only ever considers rows the caller may see.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ragline.words import terms


def fts_query(text: str) -> str:
    """A safe FTS5 MATCH expression for free text: each distinct term quoted, ORed; "" if none.

    The terms are :func:`ragline.words.terms` (lower-cased words without stopwords), each quoted as an
    FTS5 string, so operators, column filters, ``NEAR``, ``*`` and ``^`` in the input stay plain text.

    >>> fts_query('What is "foo" OR roles:* NEAR(')
    '"foo" OR "roles" OR "near"'
    >>> fts_query("the of ?!")
    ''
    """
    unique = dict.fromkeys(terms(text))
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in unique)


def role_token(role: str) -> str:
    """A role as the one FTS5 token that stands for it in ``role_tokens``: a decimal digest.

    Decimal digits because the tokenizer keeps them as they are: ``unicode61`` makes one token of a run
    of digits, and ``porter`` only strips letter suffixes, so the token indexed is the token queried,
    whatever the role's spelling (spaces, quotes, ``OR``, non-ASCII); two roles share a token only if
    the first 64 bits of their SHA-256 do. The role column is only ever addressed by the store's own
    ``{role_tokens} :`` filter, and the question's terms are confined to ``{body}``, so a question
    that happens to contain such a number matches no role.

    >>> role_token("finance")
    '16913095366018693536'
    """
    digest = hashlib.sha256(role.encode("utf-8", "surrogatepass")).digest()
    return str(int.from_bytes(digest[:8], "big"))


def role_tokens(roles: Iterable[str]) -> str:
    """The ``role_tokens`` column of a chunk with these roles."""
    return " ".join(role_token(role) for role in dict.fromkeys(roles))


def match_expression(text: str, roles: frozenset[str]) -> str:
    """The MATCH expression of a BM25 search: the question's terms in ``body``, ANDed with any of the
    caller's role tokens in ``role_tokens``; "" when the question has no terms or there are no roles.

    >>> match_expression("revenue", frozenset({"finance"}))
    '{body} : ("revenue") AND {role_tokens} : ("16913095366018693536")'
    """
    question = fts_query(text)
    if not question or not roles:
        return ""
    allowed = " OR ".join(f'"{role_token(role)}"' for role in sorted(roles))
    return f"{{body}} : ({question}) AND {{role_tokens}} : ({allowed})"
