"""A vector store on OpenSearch k-NN: a managed domain (or any OpenSearch 2.9+) or a Serverless collection.

:class:`OpenSearchStore` keeps one document per chunk in one index and applies the caller's roles inside
both searches, as the embedded store does. The package, one job a module:

- :mod:`~ragline.stores.opensearch.index`: the mapping, the document a chunk is stored as, and creating,
  checking and deleting the index;
- :mod:`~ragline.stores.opensearch.writes`: the writes, which differ between managed domains and
  Serverless collections (the table is there);
- :mod:`~ragline.stores.opensearch.bulk`: bulk requests, the items they refuse, and :class:`IndexingError`;
- :mod:`~ragline.stores.opensearch.search`: the k-NN and BM25 request bodies, the hits, the scores;
- :mod:`~ragline.stores.opensearch.connection`: :func:`connect` (SigV4 for ``es`` and ``aoss``, basic
  auth, or none), :func:`is_serverless_url`, and the one client of an index through which every request
  is retried;
- :mod:`~ragline.stores.opensearch.store`: :class:`OpenSearchStore`, which composes them.

Failures: a whole request failing with a connection error, 409, 429 or 5xx is retried with jittered
backoff (:class:`~ragline.retry.RetryPolicy`); so are the items of a bulk request that fail with 429 or
5xx. When the attempts run out, :class:`~ragline.errors.TransientError` (the message goes back to the
queue). An item refused for any other reason (a mapping error: 400) raises :class:`IndexingError`, which
retrying will not fix. Error messages name chunk ids and error types, never the content of a document.

``opensearchpy`` is imported only inside the package's functions, so importing :mod:`ragline` or this
package does not need it.

    >>> store = OpenSearchStore(client, "ragline-chunks", dimension=1024)   # doctest: +SKIP
    >>> store.ensure_index()                                                # doctest: +SKIP
"""

from ragline.stores.opensearch.bulk import IndexingError
from ragline.stores.opensearch.connection import connect, is_retryable, is_serverless_url
from ragline.stores.opensearch.store import DEFAULT_RETRY, OpenSearchStore

__all__ = ["DEFAULT_RETRY", "IndexingError", "OpenSearchStore", "connect", "is_retryable", "is_serverless_url"]
