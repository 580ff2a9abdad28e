"""TREC run files: ``ragline eval --run FILE``, for trec_eval, ir-measures, ranx and the like.

One line per retrieved document of a query, six fields separated by a space::

    qid Q0 docid rank score tag

``Q0`` is the literal the format keeps for a field nobody reads, ``rank`` counts from 1, and ``tag`` names
the run (:func:`run_tag`: ``ragline-hybrid+rerank``). trec_eval orders a query's documents by ``score``
and ignores ``rank``, so the score must tell ragline's order by itself. The scores ragline's hits carry do
not: the reranker scores its shortlist on its own scale and the tail keeps its fused scores, and MMR
reorders by a mix of relevance and novelty. The score written is therefore the rank's reverse, from the
number of the query's documents down to 1: every reader sees the order ragline returned, with no ties.

    >>> import io
    >>> out = io.StringIO()
    >>> write_run(out, {"q1": ["d3", "d1"]}, run_tag("bm25"))
    >>> print(out.getvalue(), end="")
    q1 Q0 d3 1 2 ragline-bm25
    q1 Q0 d1 2 1 ragline-bm25
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TextIO

__all__ = ["run_tag", "write_run"]


def run_tag(mode: str) -> str:
    """The run's name in the file's last column: ``ragline-`` and the retrieval mode."""
    return f"ragline-{mode}"


def _field(value: str, what: str) -> str:
    if not value or any(character.isspace() for character in value):
        raise ValueError(f"{what} {value!r} cannot be written to a TREC run file (empty, or holds whitespace)")
    return value


def write_run(out: TextIO, runs: Mapping[str, Sequence[str]], tag: str) -> None:
    """Write ``runs`` (query id -> document ids, best first, each at most once) in TREC run format.

    Raises ``ValueError`` for an id or tag the format cannot hold (empty, or with whitespace in it) and
    for a document listed twice for a query (trec_eval would count it twice)."""
    _field(tag, "run tag")
    for query_id, doc_ids in runs.items():
        _field(query_id, "query id")
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError(f"query {query_id!r} lists a document more than once")
        for rank, doc_id in enumerate(doc_ids, start=1):
            out.write(f"{query_id} Q0 {_field(doc_id, 'document id')} {rank} {len(doc_ids) - rank + 1} {tag}\n")
