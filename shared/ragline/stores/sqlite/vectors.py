"""Exact k-NN in memory: every vector in one float32 matrix, the rows each role may see, and the top k.

k-NN scans the matrix (a float32 matrix-vector product; its cost at 100k chunks is in
``docs/performance.md``), restricted to the rows whose roles intersect the caller's. A
:class:`VectorIndex` is an immutable snapshot as of one ``generation`` of the file; the store loads one
on the first search and again whenever a write has moved the generation.

    >>> rows = ChunkRows(1, np.array([10, 11]), RoleRows.from_roles(['["hr"]', '["finance"]']))
    >>> blobs = [unit_matrix([[1, 0]], 2).tobytes(), unit_matrix([[3, 4]], 2).tobytes()]
    >>> index = VectorIndex.from_blobs(rows, 2, blobs)
    >>> picked, scores = index.top_k(unit_query([1, 0], 2), frozenset({"finance"}), k=5)
    >>> index.ids[picked].tolist(), [round(float(score), 6) for score in scores]
    ([11], [0.6])
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragline.stores.sqlite.visibility import ChunkRows, RoleRows

# Below this share of visible rows, k-NN copies the visible rows out and scores them; above it, copying
# costs more than scoring every row (measured at 100k x 384 on 2 cores).
_GATHER_SHARE = 0.1


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


# Candidates beyond k scored again row by row, so that a near-tie at the k-th place is settled on the
# row-by-row scores too.
_RESCORED_MARGIN = 16


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


@dataclass(frozen=True)
class VectorIndex:
    """An immutable snapshot of every vector, as of one ``generation``."""

    generation: int
    ids: np.ndarray  # int64 rowids of ``chunks``, one per matrix row
    matrix: np.ndarray  # float32 [rows, dimension], unit-length rows (or zero)
    visibility: RoleRows

    @classmethod
    def load(cls, conn: sqlite3.Connection, rows: ChunkRows, dimension: int) -> VectorIndex:
        """The vectors of ``rows``' chunks. Call in the read transaction ``rows`` were read in."""
        blobs = [blob for (blob,) in conn.execute("SELECT vector FROM chunks ORDER BY id")]
        return cls.from_blobs(rows, dimension, blobs)

    @classmethod
    def from_blobs(cls, rows: ChunkRows, dimension: int, blobs: Sequence[bytes]) -> VectorIndex:
        """The index of one vector blob per chunk of ``rows``, in their order."""
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)
        return cls(rows.generation, rows.ids, matrix, rows.visibility)

    def top_k(self, query: np.ndarray, roles: frozenset[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Matrix rows of the best ``k`` chunks visible to ``roles``, best first, and their scores."""
        visible = self.visibility.visible_rows(roles)
        if visible is None:
            candidates = np.arange(len(self.ids))
            scores = self.matrix @ query
        elif len(visible) < _GATHER_SHARE * len(self.ids):
            candidates = visible
            scores = self.matrix[visible] @ query
        else:
            # Copying many rows costs more than scoring them all: score every row, keep the visible ones.
            candidates = visible
            scores = (self.matrix @ query)[visible]
        pool = min(len(scores), k + _RESCORED_MARGIN)
        best = np.argpartition(-scores, pool - 1)[:pool] if pool < len(scores) else np.arange(len(scores))
        rows = candidates[best]
        # A matrix product rounds a row's score by where the row sits in the matrix (BLAS kernels take the
        # tail rows apart), and so by how many chunks the caller cannot see share it: the best few are
        # scored again row by row, the same way wherever they sit, before they are ranked and reported.
        exact = np.einsum("ij,j->i", self.matrix[rows], query, optimize=False)
        # Best score first; ties broken by insertion order, so results are deterministic.
        order = np.lexsort((rows, -exact))[:k]
        return rows[order], exact[order]
