"""A vector store in one SQLite file: BM25 and exact k-NN in memory, roles applied inside both.

:class:`SqliteStore` keeps every chunk in one file (WAL mode, so readers never wait for the writer). The
package, one job a module:

- :mod:`~ragline.stores.sqlite.schema`: the tables, a chunk as a row, and the migration of older files;
- :mod:`~ragline.stores.sqlite.visibility`: which rows of an in-memory index each caller may see;
- :mod:`~ragline.stores.sqlite.lexical`: the terms of every chunk (SQLite FTS5's tokenizer) as posting
  lists in memory, and BM25 weighed with the statistics of the caller's visible chunks only;
- :mod:`~ragline.stores.sqlite.vectors`: the in-memory matrix of every vector and the top k;
- :mod:`~ragline.stores.sqlite.store`: :class:`SqliteStore`, which composes them.

Both searches score only the rows whose roles intersect the caller's, and neither a rank nor a score
depends on any other row: k-NN has no corpus statistic, and BM25 counts its statistics (how many chunks
hold a term, their average length) over the caller's visible chunks (docs/security.md, "BM25
statistics"). The in-memory indexes are loaded on the first search and reloaded when the file's
``generation`` has moved, so a write by another thread, another store object or another process is seen
by the next search; their cost at 100k chunks is in ``docs/performance.md``. Rows read back are checked
against the caller's roles once more in Python.

    >>> from ragline.models import Chunk
    >>> store = SqliteStore(":memory:", dimension=2)
    >>> chunk = Chunk("c1", "d1", "v1", "Revenue grew 4%", "s3://b/k", "Q3", ("finance",), 0)
    >>> store.upsert([chunk], [[3.0, 4.0]])
    >>> [hit.chunk.chunk_id for hit in store.bm25_search("revenue", frozenset({"finance"}), k=5)]
    ['c1']
    >>> round(store.knn_search([3.0, 4.0], frozenset({"finance"}), k=5)[0].score, 6)
    1.0
    >>> store.knn_search([3.0, 4.0], frozenset({"hr"}), k=5)
    []
"""

from ragline.stores.sqlite.schema import SCHEMA_VERSION
from ragline.stores.sqlite.store import SqliteStore

__all__ = ["SCHEMA_VERSION", "SqliteStore"]
