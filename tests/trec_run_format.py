"""A strict reader of TREC run files, for the tests of ``ragline eval --run``."""

from __future__ import annotations

import itertools

RunLine = tuple[str, int, float, str]  # doc id, rank, score, tag


def parse_run_strictly(text: str) -> dict[str, list[RunLine]]:
    """Query id -> its lines in file order, refusing anything trec_eval, ir-measures or ranx would misread:
    not six space-separated fields, a second field other than ``Q0``, ranks not 1, 2, 3... per query, scores
    not strictly descending (trec_eval orders by score), a document listed twice, or tags that differ."""
    runs: dict[str, list[RunLine]] = {}
    assert text.endswith("\n")
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        fields = line.split(" ")
        assert len(fields) == 6 and all(fields), f"line {number}: {line!r}"
        query_id, q0, doc_id, rank, score, tag = fields
        assert q0 == "Q0", f"line {number}: {line!r}"
        assert rank.isdigit(), f"line {number}: {line!r}"
        runs.setdefault(query_id, []).append((doc_id, int(rank), float(score), tag))
    tags = set()
    for query_id, lines in runs.items():
        assert [rank for _, rank, _, _ in lines] == list(range(1, len(lines) + 1)), query_id
        scores = [score for _, _, score, _ in lines]
        assert all(a > b for a, b in itertools.pairwise(scores)), f"{query_id}: scores not descending"
        assert len({doc_id for doc_id, _, _, _ in lines}) == len(lines), f"{query_id}: a document twice"
        tags |= {tag for _, _, _, tag in lines}
    assert len(tags) <= 1, tags
    return runs
