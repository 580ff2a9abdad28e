"""Vector stores: adapters of the :class:`ragline.ports.VectorStore` port.

- :mod:`ragline.stores.embedded`: :class:`EmbeddedStore`, one SQLite file with FTS5 for BM25 and exact
  k-NN in numpy. For the local stack, tests and small deployments.
"""
