"""BM25 on OpenSearch, weighed with the statistics of the chunks the caller may see.

OpenSearch's own BM25 counts a term's document frequency and the average length per shard, over every
document, before any filter: chunks a caller cannot read would move the scores and order of those it can
(docs/security.md, "BM25 statistics"). So the store does not ask OpenSearch's similarity for BM25; it
assembles the same formula from parts that carry no statistic of other chunks:

- **At write time** each chunk stores, in the ``terms`` field (``rank_features``), every term of its
  :meth:`~ragline.models.Chunk.indexed_text` (:mod:`ragline.stores.terms`, the embedded store's tokens)
  with its length-normalised frequency ``s = tf / (1 - b + b * length / AVERAGE_LENGTH)``.
- **At query time** one ``_msearch`` counts, with the caller's role filter, how many chunks it may see and
  how many of them hold each term of the question (:func:`frequency_searches`), so
  ``idf = ln(1 + (N - n + 0.5) / (n + 0.5))`` is the caller's own.
- **The search** (:func:`ragline.stores.opensearch.search.bm25_body`) adds, per term, a ``rank_feature``
  clause with the ``saturation`` function, pivot ``k1`` and boost ``idf * (k1 + 1)``: ``boost * s / (s +
  k1)``, which is BM25's ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))`` term for term.

The one difference from the embedded store: the average length is a constant (:data:`AVERAGE_LENGTH`, the
size chunking aims at), not the visible chunks' mean, because a chunk's stored value cannot depend on who
asks. OpenSearch keeps feature values to 9 significant bits (about 0.4 %), so scores are that close to
the formula's.

    >>> features = term_features("Revenue grew; revenue fell.")
    >>> sorted(features), round(features["revenu"], 3)
    (['fell', 'grew', 'revenu'], 7.603)
    >>> round(idf(documents=100, holding=10), 4)
    2.2637
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ragline.stores.terms import B, term_counts

TERMS_FIELD = "terms"

#: The chunk length BM25's length normalisation compares with, in terms: about the size chunking aims at
#: (220 word tokens and a title line).
AVERAGE_LENGTH = 230.0


def term_features(text: str) -> dict[str, float]:
    """The ``terms`` field of a chunk whose indexed text is ``text``: each term's normalised frequency."""
    (counts,) = term_counts([text])
    length = sum(counts.values())
    norm = 1 - B + B * length / AVERAGE_LENGTH
    return {term: count / norm for term, count in counts.items()}


def idf(documents: int, holding: int) -> float:
    """Lucene's BM25 inverse document frequency of a term ``holding`` of ``documents`` chunks hold."""
    return math.log(1 + (documents - holding + 0.5) / (holding + 0.5))


def frequency_searches(terms: Sequence[str], role_filter: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``_msearch`` body that counts the visible chunks, then those holding each of ``terms``: a header
    and a body per search, each counting exactly (``track_total_hits``) and returning no hit."""
    searches: list[dict[str, Any]] = []
    for term in [None, *terms]:
        filters = [role_filter] if term is None else [role_filter, {"rank_feature": {"field": f"{TERMS_FIELD}.{term}"}}]
        searches += [{}, {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": filters}}}]
    return searches


def counts_of(response: dict[str, Any], expected: int) -> list[int]:
    """The exact hit counts of an ``_msearch`` response of ``expected`` searches; ``RuntimeError`` when a
    search failed or its count is a lower bound, so a search never runs on a wrong statistic."""
    results = response.get("responses", [])
    if len(results) != expected:
        raise RuntimeError(f"_msearch answered {len(results)} searches of {expected}")
    counts = []
    for result in results:
        if "error" in result:
            raise RuntimeError(f"a count of the BM25 statistics failed: {result['error']}")
        total = result["hits"]["total"]
        if isinstance(total, dict):
            if total.get("relation", "eq") != "eq":
                raise RuntimeError("a count of the BM25 statistics came back as a lower bound")
            total = total["value"]
        counts.append(int(total))
    return counts
