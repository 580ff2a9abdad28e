"""BM25 in memory, weighed with the statistics of the chunks the caller may see, and nothing else.

BM25 weighs a term by its rarity (``n`` of the ``N`` documents hold it) and a match by the document's
length against the average length. Search engines compute these over the whole index, so chunks a caller
cannot read would still move the scores, and the order, of the chunks it can read: a caller able to write
documents could probe whether a word occurs in documents hidden from it (docs/security.md, "BM25
statistics"). Here ``N``, ``n`` and the average length are counted over the caller's visible rows, at query
time, so a caller's lexical results are exactly those of an index holding only the chunks it may see.

Scoring is Lucene's BM25, as OpenSearch scores by default: per distinct term of the question,
``ln(1 + (N - n + 0.5) / (n + 0.5)) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))``, with
``k1 = 1.2`` and ``b = 0.75``, where ``length`` is the chunk's number of terms.

Terms are SQLite FTS5's tokens (:mod:`ragline.stores.terms`: lower case, Porter stems, no diacritics).
Each chunk's terms and their counts are stored when it is written (``chunk_terms``, with the terms
numbered in ``vocabulary``; :mod:`~ragline.stores.sqlite.schema`) and loaded into a
:class:`LexicalIndex`: posting lists in memory, like the vectors, in segments, so that a write adds the
terms of its own chunks to the index rather than reloading them all.

    >>> segment = Segment.from_rows([(10, encode_terms({7: 2, 8: 1})), (11, encode_terms({7: 1, 9: 3}))])
    >>> rows = ChunkRows(1, np.array([10, 11]), RoleRows.from_roles(['["hr"]', '["finance"]']))
    >>> index = LexicalIndex.of_segments(rows, (segment,))
    >>> rows, scores = index.top_k([7], frozenset({"finance"}), k=5)
    >>> index.ids[rows].tolist(), [round(float(score), 4) for score in scores]
    ([11], [0.2877])
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ragline.stores.sqlite.visibility import ChunkRows, RoleRows
from ragline.stores.terms import K1, B, Tokenizer


def encode_terms(counts: dict[int, int]) -> bytes:
    """A chunk's ``chunk_terms.terms``: its term ids, then their counts, as int32."""
    ids = sorted(counts)
    return np.asarray(ids + [counts[term] for term in ids], dtype=np.int32).tobytes()


def term_blobs(conn: sqlite3.Connection, tokenizer: Tokenizer, texts: Sequence[str]) -> list[bytes]:
    """Each text's :func:`encode_terms`, numbering terms not seen before in ``vocabulary``.

    Call inside a write transaction."""
    counts = tokenizer.counts(texts)
    new = sorted({term for text_counts in counts for term in text_counts})
    conn.executemany("INSERT OR IGNORE INTO vocabulary (term) VALUES (?)", ((term,) for term in new))
    ids = _vocabulary_ids(conn, new)
    return [encode_terms({ids[term]: count for term, count in text_counts.items()}) for text_counts in counts]


def question_term_ids(conn: sqlite3.Connection, tokenizer: Tokenizer, question: str) -> list[int]:
    """The ids of the terms of a question's words (:meth:`Tokenizer.question_terms`), in the order they
    first occur; terms no chunk ever held are left out."""
    wanted = tokenizer.question_terms(question)
    ids = _vocabulary_ids(conn, wanted) if wanted else {}
    return [ids[term] for term in wanted if term in ids]


def _vocabulary_ids(conn: sqlite3.Connection, terms: Sequence[str]) -> dict[str, int]:
    """The ids ``vocabulary`` gives those of ``terms`` it holds."""
    query = "SELECT term, id FROM vocabulary WHERE term IN (SELECT value FROM json_each(?))"
    return dict(conn.execute(query, (json.dumps(list(terms)),)))


#: A reload merges every segment into one when there would be more than this many, or when this share of
#: the chunks the segments hold has been deleted or replaced since: queries then scan few, mostly live lists.
MAX_SEGMENTS = 8
MAX_DEAD_SHARE = 0.25


_READ_BATCH = 8192  # chunk_terms rows decoded at a time when a segment is read


@dataclass(frozen=True)
class Segment:
    """The posting lists of some chunks in CSR form: for each term, the chunks holding it (as their
    position in ``chunk_ids``) and how often. A chunk's terms never change (a new version of a chunk is a
    new row, with a new id), so a segment stays true for as long as its chunks live.

    Compact, because a million chunks hold over a hundred million postings: five bytes each (an int32
    position and a count in the smallest unsigned type that holds the segment's largest)."""

    chunk_ids: np.ndarray  # int64, sorted: the chunks the segment holds
    lengths: np.ndarray  # float64 number of terms of each of them
    term_ids: np.ndarray  # int32, sorted: the terms with postings
    starts: np.ndarray  # int64: the postings of term_ids[i] are at [starts[i], starts[i + 1])
    posting_rows: np.ndarray  # int32 positions in chunk_ids, ascending within a term
    posting_counts: np.ndarray  # unsigned occurrences of the term in that chunk

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, bytes]]) -> Segment:
        """The segment of ``(chunk id, chunk_terms blob)`` rows, in ascending id order."""
        return cls._build(lambda: iter([rows] if rows else []))

    @classmethod
    def read(cls, conn: sqlite3.Connection, after: int) -> Segment | None:
        """The segment of every chunk in ``chunk_terms`` with an id above ``after``; None when there is none.
        Reads the rows twice, in batches (call in one read transaction), so that memory holds the postings
        and one batch, never every row's terms at once."""
        query = "SELECT id, terms FROM chunk_terms WHERE id > ? ORDER BY id"

        def batches() -> Iterator[list[tuple[int, bytes]]]:
            cursor = conn.execute(query, (after,))
            while batch := cursor.fetchmany(_READ_BATCH):
                yield batch

        segment = cls._build(batches)
        return segment if len(segment.chunk_ids) else None

    @classmethod
    def _build(cls, batches: Callable[[], Iterator[Sequence[tuple[int, bytes]]]]) -> Segment:
        """Two passes over ``batches()``: count each term's postings, then put each posting in its place."""
        id_parts, length_parts = [], []
        per_term = np.zeros(0, dtype=np.int64)
        largest = 0
        for batch in batches():
            ids, terms, counts, rows = _decode(batch)
            id_parts.append(ids)
            length_parts.append(np.bincount(rows, weights=counts, minlength=len(ids)))
            per_term = _added(per_term, np.bincount(terms))
            largest = max(largest, int(counts.max(initial=0)))
        chunk_ids = np.concatenate(id_parts) if id_parts else np.empty(0, dtype=np.int64)
        term_ids = np.flatnonzero(per_term).astype(np.int32)
        starts = np.concatenate(([0], np.cumsum(per_term[term_ids]))).astype(np.int64)
        posting_rows = np.empty(int(starts[-1]), dtype=np.int32)
        posting_counts = np.empty(int(starts[-1]), dtype=np.min_scalar_type(largest))
        cursor = np.zeros(len(per_term), dtype=np.int64)  # where each term's next posting goes
        cursor[term_ids] = starts[:-1]
        first_row = 0
        for batch in batches():
            ids, terms, counts, rows = _decode(batch)
            order = np.argsort(terms, kind="stable")  # stable: rows stay ascending within a term
            sorted_terms = terms[order]
            within = np.arange(len(order)) - np.searchsorted(sorted_terms, sorted_terms)  # rank in its term
            places = cursor[sorted_terms] + within
            posting_rows[places] = rows[order] + first_row
            posting_counts[places] = counts[order]
            placed = np.bincount(terms)
            cursor[: len(placed)] += placed
            first_row += len(ids)
        lengths = np.concatenate(length_parts) if length_parts else np.empty(0, dtype=np.float64)
        return cls(chunk_ids, lengths, term_ids, starts, posting_rows, posting_counts)

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """The positions in ``chunk_ids`` of the chunks holding ``term``, ascending, and how often each holds it."""
        position = int(np.searchsorted(self.term_ids, term))
        if position == len(self.term_ids) or self.term_ids[position] != term:
            return self.posting_rows[:0], self.posting_counts[:0]
        start, end = self.starts[position], self.starts[position + 1]
        return self.posting_rows[start:end], self.posting_counts[start:end]


def _decode(batch: Sequence[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``chunk_terms`` rows as arrays: their ids, and for every (term, count) pair of every row its term,
    count and row (its position in ``batch``)."""
    ids = np.fromiter((rowid for rowid, _ in batch), dtype=np.int64, count=len(batch))
    # Every blob is [term ids..., counts...] as int32: split them all at once, not row by row.
    flat = np.frombuffer(b"".join(blob for _, blob in batch), dtype=np.int32)
    halves = np.fromiter((len(blob) // 8 for _, blob in batch), dtype=np.int64, count=len(batch))
    row_starts = np.cumsum(2 * halves) - 2 * halves
    offset_in_row = np.arange(len(flat), dtype=np.int64) - np.repeat(row_starts, 2 * halves)
    is_term = offset_in_row < np.repeat(halves, 2 * halves)
    rows = np.repeat(np.arange(len(ids), dtype=np.int32), halves)
    return ids, flat[is_term], flat[~is_term], rows


def _added(total: np.ndarray, more: np.ndarray) -> np.ndarray:
    """``total + more`` for arrays of different lengths (the shorter padded with zeros)."""
    if len(more) > len(total):
        total = np.concatenate((total, np.zeros(len(more) - len(total), dtype=total.dtype)))
    total[: len(more)] += more
    return total


@dataclass(frozen=True)
class LexicalIndex:
    """An immutable snapshot of every chunk's terms as of one ``generation``: the live chunks (ids, roles,
    lengths) and the segments of posting lists that hold their terms, oldest first, in ascending id ranges,
    each with the row of the snapshot each of its chunks is (-1 for one deleted since).

    A reload (:meth:`load`) takes every chunk's id and roles (:class:`ChunkRows`, shared with the vectors),
    but reads the terms only of chunks newer than the last segment: ingest appends chunks, so a write costs
    its own chunks' terms, not the whole index's."""

    generation: int
    ids: np.ndarray  # int64 rowids of ``chunks``, one per row, ascending
    lengths: np.ndarray  # float64 number of terms of each row
    visibility: RoleRows
    segments: tuple[Segment, ...]
    rows_of: tuple[np.ndarray, ...]  # per segment: the row of each of its chunks, -1 when gone

    @classmethod
    def load(cls, conn: sqlite3.Connection, rows: ChunkRows, previous: LexicalIndex | None = None) -> LexicalIndex:
        """The index of ``rows``' chunks, keeping ``previous``'s segments when they are few and mostly live.
        Call in the read transaction ``rows`` were read in."""
        ids = rows.ids
        segments = previous.segments if previous is not None else ()
        held = sum(len(segment.chunk_ids) for segment in segments)
        # The segments hold every chunk up to the last one they read (ids only grow), so the live chunks
        # among them are the live ids up to it.
        last = _last_id(segments)
        dead = held - int(np.searchsorted(ids, last, side="right"))
        if len(segments) >= MAX_SEGMENTS or (held and dead / held > MAX_DEAD_SHARE):
            segments, last = (), 0
        new = Segment.read(conn, last)
        return cls.of_segments(rows, (*segments, new) if new is not None else segments)

    @classmethod
    def of_segments(cls, rows: ChunkRows, segments: tuple[Segment, ...]) -> LexicalIndex:
        """The index of ``rows``' chunks whose terms ``segments`` hold (chunks of the segments not among
        ``rows`` are left out)."""
        rows_of = tuple(_rows_in(rows.ids, segment.chunk_ids) for segment in segments)
        lengths = _lengths_of(rows.ids, segments, rows_of)
        return cls(rows.generation, rows.ids, lengths, rows.visibility, segments, rows_of)

    def _postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding ``term``, ascending, and how often each holds it; deleted chunks left out."""
        found_rows, found_counts = [], []
        for segment, rows_of in zip(self.segments, self.rows_of, strict=True):
            positions, counts = segment.postings(term)
            rows = rows_of[positions]
            live = rows >= 0
            found_rows.append(rows[live])
            found_counts.append(counts[live])
        if not found_rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return np.concatenate(found_rows), np.concatenate(found_counts)

    def top_k(self, term_ids: Sequence[int], roles: frozenset[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the best ``k`` chunks visible to ``roles`` holding any of ``term_ids``, best first, and
        their BM25 scores; ties in insertion order. Every statistic is counted over the visible rows."""
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
        visible = self.visibility.visible_rows(roles)
        if visible is None:
            mask, documents, total_length = None, len(self.ids), float(self.lengths.sum())
        else:
            mask = np.zeros(len(self.ids), dtype=bool)
            mask[visible] = True
            documents, total_length = len(visible), float(self.lengths[visible].sum())
        if documents == 0 or total_length == 0 or k <= 0:
            return empty
        average_length = total_length / documents
        scores = np.zeros(len(self.ids), dtype=np.float64)
        for term in dict.fromkeys(term_ids):
            rows, counts = self._postings(term)
            if mask is not None:
                keep = mask[rows]
                rows, counts = rows[keep], counts[keep]
            if not len(rows):
                continue
            idf = math.log(1 + (documents - len(rows) + 0.5) / (len(rows) + 0.5))
            norms = K1 * (1 - B + B * self.lengths[rows] / average_length)
            frequencies = counts.astype(np.float64)
            scores[rows] += idf * frequencies * (K1 + 1) / (frequencies + norms)
        matched = np.flatnonzero(scores > 0)
        if not len(matched):
            return empty
        matched_scores = scores[matched]
        if len(matched) > k:
            # Keep everything tied with the k-th best, then cut in (score, insertion) order.
            kth = np.partition(matched_scores, len(matched) - k)[len(matched) - k]
            keep = matched_scores >= kth
            matched, matched_scores = matched[keep], matched_scores[keep]
        order = np.lexsort((matched, -matched_scores))[:k]
        return matched[order], matched_scores[order]


def _last_id(segments: Sequence[Segment]) -> int:
    """The highest chunk id the segments hold; 0 for none."""
    return max((int(segment.chunk_ids[-1]) for segment in segments if len(segment.chunk_ids)), default=0)


def _rows_in(ids: np.ndarray, chunk_ids: np.ndarray) -> np.ndarray:
    """For each of ``chunk_ids``, its position in ``ids`` (both ascending), or -1 when it is not there."""
    if not len(ids):
        return np.full(len(chunk_ids), -1, dtype=np.int64)
    positions = np.searchsorted(ids, chunk_ids).clip(max=len(ids) - 1)
    return np.where(ids[positions] == chunk_ids, positions, -1)


def _lengths_of(ids: np.ndarray, segments: Sequence[Segment], rows_of: Sequence[np.ndarray]) -> np.ndarray:
    """The number of terms of each chunk of ``ids``, from the segments holding them (0 for none)."""
    lengths = np.zeros(len(ids), dtype=np.float64)
    for segment, rows in zip(segments, rows_of, strict=True):
        live = rows >= 0
        lengths[rows[live]] = segment.lengths[live]
    return lengths
