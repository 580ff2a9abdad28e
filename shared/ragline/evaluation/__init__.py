"""Offline retrieval evaluation on BEIR-layout datasets, through the production indexing and query code.

- :mod:`ragline.evaluation.beir`: reads a BEIR folder (corpus, queries, qrels).
- :mod:`ragline.evaluation.metrics`: nDCG@k, recall@k, MRR@k as trec_eval defines them, pure Python.
- :mod:`ragline.evaluation.runner`: :func:`evaluate`, behind ``ragline eval``.
"""
