"""Vector stores: adapters of the :class:`ragline.ports.VectorStore` port.

- :mod:`ragline.stores.sqlite`: :class:`SqliteStore`, one SQLite file, BM25 and exact k-NN in memory
  (numpy), BM25 weighed with the statistics of the caller's visible chunks only. For the local
  stack, tests and small deployments.
- :mod:`ragline.stores.opensearch`: :class:`OpenSearchStore`, an Amazon OpenSearch Service domain or an
  OpenSearch Serverless vector collection (SigV4), or any OpenSearch cluster. Production.

Both filter by role inside their searches, and the contract suite in ``tests/contract`` holds them to the
same behaviour.
"""
