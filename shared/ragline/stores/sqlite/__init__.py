"""A vector store in one SQLite file: FTS5 for BM25, exact k-NN in numpy, roles applied inside both.

:class:`SqliteStore` keeps every chunk in one file (WAL mode, so readers never wait for the writer). The
package, one job a module:

- :mod:`~ragline.stores.sqlite.schema`: the tables, a chunk as a row, and the migration of older files;
- :mod:`~ragline.stores.sqlite.fts`: the FTS5 MATCH expression of a search (:func:`fts_query`,
  :func:`role_token`);
- :mod:`~ragline.stores.sqlite.vectors`: the in-memory matrix of every vector, the rows each role may
  see, and the top k;
- :mod:`~ragline.stores.sqlite.store`: :class:`SqliteStore`, which composes them.

BM25 runs inside FTS5: the MATCH expression is ``{body} : (<the question's terms>) AND {role_tokens} :
(<the caller's role tokens>)``, so FTS5 only ever considers rows the caller may see; it ranks them with
``bm25(chunks_fts, 1.0, 0.0)`` (the role column weighs nothing) and cuts to ``k`` before the ``k``
winners are joined to ``chunks``, since ranking every match of a common word and joining wide rows before
the cut is what made the previous query slow (``docs/performance.md``, "BM25 in the embedded store", has
the numbers before and after). The weights keep role tokens out of the term frequencies, but
FTS5 still counts them in a row's length for BM25's length normalisation (it sums every column), so
scores differ from a body-only index by about the roles' share of the row: well under 1% for chunks of
a hundred words or more, more on chunks of a few words, where near-ties can swap places. Rows read back
are checked against the caller's roles once more in Python.

k-NN scans an in-memory matrix of all vectors (a float32 matrix-vector product; its cost at 100k chunks
is in ``docs/performance.md``), restricted to the rows whose roles intersect the caller's. The matrix is
loaded on the first search and reloaded when the file's ``generation`` has moved, so a write by another
thread, another store object or another process is seen by the next search.

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

from ragline.stores.sqlite.fts import fts_query, role_token
from ragline.stores.sqlite.schema import SCHEMA_VERSION
from ragline.stores.sqlite.store import SqliteStore

__all__ = ["SCHEMA_VERSION", "SqliteStore", "fts_query", "role_token"]
