"""k-NN in memory: every vector as int8 codes for the scan, the best few scored again exactly in float32.

A scan of every vector is bound by memory bandwidth, so the in-memory index keeps each unit-length vector
as int8 codes with one float32 scale per row (``row ~= codes * scale``): a quarter of the bytes of float32,
scored by SimSIMD's int8 dot-product kernels. The scan ranks the rows a caller may see by those codes and
keeps a pool of the best (:func:`pool_size`: about twice k); the store then reads the pool's float32
vectors from the file and :func:`exact_top_k` ranks them by their exact cosine, so every score reported,
and the order, is that of an exact float32 search whenever the pool holds the exact top k. On the
benchmarks it always has (recall 1.0 against exact search at 100k and 1M chunks, and on random vectors,
where scores crowd hardest: ``docs/performance.md``, "Query latency").

A :class:`VectorIndex` is an immutable snapshot as of one ``generation`` of the file: searches read it
without holding the store's lock. The store loads one on the first search and again whenever a write has
moved the generation, keeping the codes of the rows that are still there and reading only newer rows.

    >>> rows = ChunkRows(1, np.array([10, 11]), RoleRows.from_roles(['["hr"]', '["finance"]']))
    >>> index = VectorIndex.from_matrix(rows, unit_matrix([[1, 0], [3, 4]], 2))
    >>> pool = index.pool(unit_query([1, 0], 2), frozenset({"finance"}), k=5)
    >>> index.ids[pool].tolist()
    [11]
    >>> ids, scores = exact_top_k(unit_query([1, 0], 2), index.ids[pool], [unit_matrix([[3, 4]], 2)[0].tobytes()], 5)
    >>> ids.tolist(), [round(float(score), 6) for score in scores]
    ([11], [0.6])
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import simsimd

from ragline.stores.sqlite.visibility import ChunkRows, RoleRows

# Below this share of visible rows, k-NN copies the visible rows' codes out and scores them; above it,
# copying costs more than scoring every row.
_GATHER_SHARE = 0.1
# Rows read from the file at a time when loading: a bounded buffer, not every vector at once.
_LOAD_BATCH = 4096
_CODE_MAX = 127  # int8 codes in [-127, 127]: symmetric, so a row and its negation quantise alike


def unit_matrix(vectors: Sequence[Sequence[float]], dimension: int) -> np.ndarray:
    """``vectors`` as a float32 matrix of unit-length rows (zero rows stay zero).

    ``ValueError`` when a vector has another dimension or a value is not finite.
    """
    for position, vector in enumerate(vectors):
        if len(vector) != dimension:
            raise ValueError(f"vector {position} has dimension {len(vector)}, the store's is {dimension}")
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), dimension)
    if not np.isfinite(matrix).all():
        raise ValueError("vectors must be finite (no NaN or infinity)")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def unit_query(vector: Sequence[float], dimension: int) -> np.ndarray:
    """A query vector as float32 of unit length (the zero vector as it is); ``ValueError`` when its
    dimension is not ``dimension`` or a value is not finite."""
    if len(vector) != dimension:
        raise ValueError(f"query vector has dimension {len(vector)}, the store's is {dimension}")
    query = np.asarray(vector, dtype=np.float32)
    if not np.isfinite(query).all():
        raise ValueError("query vector must be finite")
    norm = float(np.linalg.norm(query))
    return query / norm if norm > 0 else query


def quantise(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row as int8 codes and a float32 scale, ``row ~= codes * scale`` (a zero row: codes 0, scale 0)."""
    scales = (np.abs(matrix).max(axis=1) / _CODE_MAX).astype(np.float32)
    codes = np.rint(matrix / np.where(scales > 0, scales, 1.0)[:, None]).clip(-_CODE_MAX, _CODE_MAX)
    return codes.astype(np.int8), scales


def pool_size(k: int) -> int:
    """How many rows the int8 scan hands to the exact float32 ranking for a search of ``k``."""
    return 2 * k + 16


@dataclass(frozen=True)
class VectorIndex:
    """An immutable snapshot of every vector, as of one ``generation``, as int8 codes."""

    generation: int
    ids: np.ndarray  # int64 rowids of ``chunks``, ascending, one per row
    codes: np.ndarray  # int8 [rows, dimension]
    scales: np.ndarray  # float32 [rows]
    visibility: RoleRows

    @classmethod
    def load(
        cls, conn: sqlite3.Connection, rows: ChunkRows, dimension: int, previous: VectorIndex | None = None
    ) -> VectorIndex:
        """The codes of ``rows``' chunks. Call in the read transaction ``rows`` were read in.

        With ``previous``, its codes of the chunks still there are kept and only newer chunks are read:
        ids only grow (a new version of a chunk is a new row), so a write costs its own rows."""
        codes = np.empty((len(rows.ids), dimension), dtype=np.int8)
        scales = np.empty(len(rows.ids), dtype=np.float32)
        at, last = _keep_still_there(previous, rows.ids, codes, scales)
        # Read in batches into the arrays: a million vectors never sit in memory as float32 at once.
        cursor = conn.execute("SELECT vector FROM chunks WHERE id > ? ORDER BY id", (last,))
        while batch := cursor.fetchmany(_LOAD_BATCH):
            if at + len(batch) > len(rows.ids):
                break
            matrix = np.frombuffer(b"".join(blob for (blob,) in batch), dtype=np.float32)
            codes[at : at + len(batch)], scales[at : at + len(batch)] = quantise(matrix.reshape(len(batch), dimension))
            at += len(batch)
        if at != len(rows.ids):
            raise RuntimeError("the chunks changed while their vectors were read: call in one read transaction")
        return cls(rows.generation, rows.ids, codes, scales, rows.visibility)

    @classmethod
    def from_matrix(cls, rows: ChunkRows, matrix: np.ndarray) -> VectorIndex:
        """The index of one unit-length float32 vector per chunk of ``rows``, in their order."""
        codes, scales = quantise(matrix)
        return cls(rows.generation, rows.ids, codes, scales, rows.visibility)

    def pool(self, query: np.ndarray, roles: frozenset[str], k: int) -> np.ndarray:
        """Rows visible to ``roles`` most likely to be the best ``k`` by their int8 codes, ascending: the
        best :func:`pool_size` of them and any tied with the last (every visible row when there are fewer)."""
        visible = self.visibility.visible_rows(roles)
        count = len(self.ids) if visible is None else len(visible)
        if count == 0 or k <= 0:
            return np.empty(0, dtype=np.int64)
        query_codes, _ = quantise(query.reshape(1, -1))  # the query's own scale ranks nothing: left out
        if visible is None:
            candidates = np.arange(len(self.ids))
            scores = self._scores(query_codes, self.codes, self.scales)
        elif len(visible) < _GATHER_SHARE * len(self.ids):
            candidates = visible
            scores = self._scores(query_codes, self.codes[visible], self.scales[visible])
        else:
            candidates = visible
            scores = self._scores(query_codes, self.codes, self.scales)[visible]
        size = pool_size(k)
        if size >= len(scores):
            return candidates
        # Every row tied with the last of the pool too: copies of one vector (a boilerplate paragraph in many
        # documents) share their codes, and the exact ranking breaks their tie by insertion order, as an
        # exact search does, only if it sees them all.
        last = np.partition(scores, len(scores) - size)[len(scores) - size]
        return candidates[scores >= last]

    @staticmethod
    def _scores(query_codes: np.ndarray, codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
        # Integer dot products (exact: at most 384 * 127^2, well inside float32's integers), then each row's scale.
        dots = np.asarray(simsimd.cdist(query_codes, codes, metric="dot", out_dtype="float32"))[0]
        return dots * scales


def exact_top_k(query: np.ndarray, ids: np.ndarray, blobs: Sequence[bytes], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of the chunks ``ids`` by exact cosine, best first, from their float32 ``blobs`` (unit
    length, as stored); ties broken by id (insertion order), so results are deterministic."""
    if not len(ids):
        return ids, np.empty(0, dtype=np.float32)
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), len(query))
    # Row by row, not a matrix product: BLAS kernels round a row's sum by where the row sits in the matrix,
    # and a score must not depend on which other chunks share the pool.
    exact = np.einsum("ij,j->i", matrix, query, optimize=False)
    order = np.lexsort((ids, -exact))[:k]
    return ids[order], exact[order]


def _keep_still_there(
    previous: VectorIndex | None, ids: np.ndarray, codes: np.ndarray, scales: np.ndarray
) -> tuple[int, int]:
    """Copy into ``codes`` and ``scales`` the rows of ``previous`` whose ids are still in ``ids``; return how
    many, and the last id ``previous`` read (0, 0 when ``ids`` is not those rows followed by newer ones)."""
    if previous is None or not len(previous.ids):
        return 0, 0
    last = int(previous.ids[-1])
    alive = np.isin(previous.ids, ids, assume_unique=True)
    older = int(np.searchsorted(ids, last, side="right"))
    if int(alive.sum()) != older or not np.array_equal(previous.ids[alive], ids[:older]):
        return 0, 0
    np.compress(alive, previous.codes, axis=0, out=codes[:older])  # into place: no second copy of the codes
    np.compress(alive, previous.scales, out=scales[:older])
    return older, last
