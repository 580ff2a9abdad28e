"""Which rows of an in-memory index each caller may see: :class:`RoleRows`, and :class:`ChunkRows`, the
chunks' ids and roles as of one generation of the file.

Both in-memory indexes of the store (the vectors, :mod:`~ragline.stores.sqlite.vectors`, and the terms,
:mod:`~ragline.stores.sqlite.lexical`) number their rows in ``chunks.id`` order and ask the same question
of them: which rows have a role in common with the caller's? One :class:`ChunkRows`, read once per
generation, serves both.

    >>> rows = RoleRows.from_roles(['["hr"]', '["finance", "hr"]', '["legal"]'])
    >>> rows.visible_rows(frozenset({"finance", "legal"})).tolist()
    [1, 2]
    >>> rows.visible_rows(frozenset({"hr", "finance", "legal"})) is None  # every row
    True
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoleRows:
    """The rows of each role, for ``count`` rows numbered from 0."""

    count: int
    rows_by_role: dict[str, np.ndarray]  # role -> sorted int64 row numbers whose chunk has that role

    @classmethod
    def from_roles(cls, roles_of_rows: Iterable[str]) -> RoleRows:
        """From each row's roles as JSON (``chunks.roles``), in row order."""
        role_rows: dict[str, list[int]] = {}
        parsed: dict[str, list[str]] = {}  # many chunks share one roles string: parse it once
        count = 0
        for row_number, roles_json in enumerate(roles_of_rows):
            count = row_number + 1
            roles = parsed.get(roles_json)
            if roles is None:
                roles = parsed[roles_json] = list(dict.fromkeys(json.loads(roles_json)))
            for role in roles:
                role_rows.setdefault(role, []).append(row_number)
        return cls(count, {role: np.asarray(rows, dtype=np.int64) for role, rows in role_rows.items()})

    def visible_rows(self, roles: frozenset[str]) -> np.ndarray | None:
        """Rows visible to ``roles``, sorted; ``None`` when every row is."""
        arrays = [self.rows_by_role[role] for role in roles if role in self.rows_by_role]
        if not arrays:
            return np.empty(0, dtype=np.int64)
        if len(arrays) == 1:
            rows = arrays[0]
        else:
            mask = np.zeros(self.count, dtype=bool)
            for array in arrays:
                mask[array] = True
            rows = np.flatnonzero(mask)
        return None if len(rows) == self.count else rows


@dataclass(frozen=True)
class ChunkRows:
    """Every chunk of the file as of one ``generation``, in ``chunks.id`` order: its id and who may see it."""

    generation: int
    ids: np.ndarray  # int64 rowids of ``chunks``, ascending
    visibility: RoleRows

    @classmethod
    def load(cls, conn: sqlite3.Connection, generation: int) -> ChunkRows:
        """The chunks' ids and roles. Call in the read transaction that reads the indexes' rows too."""
        rows = conn.execute("SELECT id, roles FROM chunks ORDER BY id").fetchall()
        ids = np.fromiter((rowid for rowid, _ in rows), dtype=np.int64, count=len(rows))
        return cls(generation, ids, RoleRows.from_roles(roles for _, roles in rows))
