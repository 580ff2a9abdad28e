"""Offline evaluation on BEIR-layout datasets, through the production indexing, query and answer code.

- :mod:`ragline.evaluation.beir`: reads a BEIR folder (corpus, queries, qrels) and splits queries in halves.
- :mod:`ragline.evaluation.metrics`: nDCG@k, recall@k, MRR@k as trec_eval defines them, pure Python.
- :mod:`ragline.evaluation.runner`: :func:`evaluate`, behind ``ragline eval``.
- :mod:`ragline.evaluation.trec`: TREC run files, behind ``ragline eval --run``.
- :mod:`ragline.evaluation.answers`: answers scored against gold answers, behind ``ragline eval --answers``.
"""
