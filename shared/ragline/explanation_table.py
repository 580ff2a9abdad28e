"""``ragline ask --explain`` and ``ragline retrieve --explain``: a result's explanation as a small table.

Example:
    >>> print(highlight("Revenue in Q3 rose.", ((0, 7, "revenue"), (11, 13, "q3"))))
    [Revenue] in [Q3] rose.
"""

from __future__ import annotations

from ragline.client import Explanation, MmrChoice, NearDuplicate, SearchRank, Source

#: How much of the passage the ``matched`` row shows, around its first match.
SHOWN_CHARS = 240


def explanation_table(source: Source) -> str:
    """The rows of ``source``'s explanation, one stage a row; "" when it has none."""
    explanation = source.explanation
    if explanation is None:
        return ""
    rows = [("rank", f"{source.id} (mode {explanation.mode})")]
    if explanation.lexical is not None:
        rows.append(("BM25", _search(explanation.lexical, "normalised score")))
    if explanation.dense is not None:
        rows.append(("k-NN", _search(explanation.dense, "cosine")))
    if explanation.fusion is not None:
        rows.append(("fused", _fusion(explanation)))
    if explanation.rerank is not None:
        move = explanation.rerank
        score = "not reranked (past the shortlist)" if move.score is None else f"score {move.score:.4f}"
        rows.append(("rerank", f"{score}, rank {move.rank_before} -> {move.rank_after}"))
    rows.append(("MMR", _mmr(explanation.mmr)))
    rows.append(("roles", ", ".join(explanation.admitted_by) or "-"))
    rows.append(("matched", highlight(_shown(source.text, explanation), _shifted(source.text, explanation))))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"      {name.ljust(width)}  {value}" for name, value in rows)


def highlight(text: str, matches: tuple[tuple[int, int, str], ...]) -> str:
    """``text`` with each matched span in [brackets]; spans outside the text are left out."""
    pieces: list[str] = []
    position = 0
    for start, end, _ in sorted(matches):
        if start < position or end > len(text):
            continue
        pieces += [text[position:start], "[", text[start:end], "]"]
        position = end
    pieces.append(text[position:])
    return "".join(pieces).replace("\n", " ")


def _search(rank: SearchRank, score_name: str) -> str:
    if rank.rank is None:
        return "not returned by this search"
    return f"rank {rank.rank}, {score_name} {rank.score:.4f}"


def _fusion(explanation: Explanation) -> str:
    fusion = explanation.fusion
    assert fusion is not None
    terms = " + ".join(f"{part.search} {part.weight:g} x {part.value:.4f}" for part in fusion.parts)
    constant = f", k={fusion.rrf_k}" if fusion.rrf_k is not None else ""
    return f"{fusion.method}{constant}: {fusion.score:.4f} = {terms}"


def _mmr(choice: MmrChoice) -> str:
    if not choice.considered:
        return "past the shortlist: kept in order"
    text = f"kept at step {choice.step} (lambda {choice.mmr_lambda:g})"
    if choice.passed_over is not None:
        text += f"; passed over at step {choice.passed_over.step} as near-duplicate of {_name(choice.passed_over)}"
    if choice.displaced:
        text += "; displaced " + ", ".join(_name(duplicate) for duplicate in choice.displaced)
    return text


def _name(duplicate: NearDuplicate) -> str:
    """``[2] Title`` for another result; a passage MMR dropped by its chunk id, since it is not listed."""
    similarity = f"similarity {duplicate.similarity:.2f}"
    if duplicate.result is not None:
        return f"[{duplicate.result}] {duplicate.title} ({similarity})"
    return f"{duplicate.title}, chunk {duplicate.chunk_id} (dropped; {similarity})"


def _window(text: str, explanation: Explanation) -> tuple[int, int]:
    """The part of ``text`` shown: from a little before the first match, at most SHOWN_CHARS long."""
    first = min((start for start, _, _ in explanation.matches), default=0)
    start = max(0, first - 40) if len(text) > SHOWN_CHARS else 0
    return start, min(len(text), start + SHOWN_CHARS)


def _shown(text: str, explanation: Explanation) -> str:
    start, end = _window(text, explanation)
    return ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")


def _shifted(text: str, explanation: Explanation) -> tuple[tuple[int, int, str], ...]:
    """The matches inside the shown window, as offsets into :func:`_shown`'s text."""
    start, end = _window(text, explanation)
    offset = start - (3 if start else 0)
    return tuple((s - offset, e - offset, term) for s, e, term in explanation.matches if s >= start and e <= end)
