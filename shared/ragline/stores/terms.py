"""The terms BM25 compares in both stores (SQLite FTS5's tokenizer, used as a function), and its parameters.

Both stores count a chunk's terms, and a question's, the same way: FTS5's ``porter unicode61
remove_diacritics 2`` tokenizer (lower case, Unicode word boundaries, Porter stems, no diacritics). The
embedded store keeps them in its file (:mod:`ragline.stores.sqlite.lexical`); the OpenSearch store sends
them with each chunk (:mod:`ragline.stores.opensearch.lexical`), so that both weigh a search with the
statistics of the chunks the caller may see (docs/security.md, "BM25 statistics").

    >>> import sqlite3
    >>> Tokenizer(sqlite3.connect(":memory:")).counts(["Runners were running to the café"])
    [{'cafe': 1, 'run': 1, 'runner': 1, 'the': 1, 'to': 1, 'were': 1}]
    >>> question_terms("What do the runners drink?")
    ['runner', 'drink']
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

from ragline.words import terms

#: BM25's parameters, as Lucene (and so OpenSearch) sets them: term-frequency saturation and length
#: normalisation.
K1 = 1.2
B = 0.75

#: FTS5's tokenizer arguments: the terms of chunks and questions alike.
TOKENIZE = "porter unicode61 remove_diacritics 2"


class Tokenizer:
    """SQLite FTS5's tokenizer as a function: the terms of each text and how often each occurs.

    A contentless FTS5 table in the connection's ``temp`` schema is its scratch pad: the texts go in, its
    ``fts5vocab`` view lists the terms of each, and the table is emptied again. Nothing touches a database
    file. Not thread-safe: callers hold a lock around it.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.tokenizer"
                f" USING fts5 (text, content = '', tokenize = '{TOKENIZE}')"
            )
        except sqlite3.OperationalError as error:
            raise RuntimeError(f"this SQLite ({sqlite3.sqlite_version}) has no FTS5: {error}") from error
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.tokenizer_terms USING fts5vocab (temp, tokenizer, instance)"
        )
        self._conn = conn

    def counts(self, texts: Sequence[str]) -> list[dict[str, int]]:
        """For each text, its terms and their number of occurrences, in the order of the texts."""
        conn = self._conn
        counts: list[dict[str, int]] = [{} for _ in texts]
        try:
            conn.executemany("INSERT INTO temp.tokenizer (rowid, text) VALUES (?, ?)", enumerate(texts))
            query = "SELECT doc, term, count(*) FROM temp.tokenizer_terms GROUP BY doc, term"
            for row, term, count in conn.execute(query):
                counts[row][term] = count
        finally:
            conn.execute("INSERT INTO temp.tokenizer (tokenizer) VALUES ('delete-all')")
        return counts

    def question_terms(self, question: str) -> list[str]:
        """The terms of a question's words (:func:`question_words`), in the order they first occur: what
        both stores look up."""
        words = question_words(question)
        return list(dict.fromkeys(term for counts in self.counts(words) for term in counts)) if words else []


def question_words(question: str) -> list[str]:
    """The words of a question BM25 searches for: :func:`ragline.words.terms` (stopwords left out), once each."""
    return list(dict.fromkeys(terms(question)))


_shared_lock = threading.Lock()
_shared: Tokenizer | None = None


def _shared_tokenizer() -> Tokenizer:
    """One tokenizer on a private in-memory connection, made on first use. Call under ``_shared_lock``."""
    global _shared
    if _shared is None:
        _shared = Tokenizer(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False))
    return _shared


def term_counts(texts: Sequence[str]) -> list[dict[str, int]]:
    """:meth:`Tokenizer.counts` on the shared tokenizer, safe to call from any thread."""
    with _shared_lock:
        return _shared_tokenizer().counts(texts)


def question_terms(question: str) -> list[str]:
    """:meth:`Tokenizer.question_terms` on the shared tokenizer, safe to call from any thread."""
    with _shared_lock:
        return _shared_tokenizer().question_terms(question)
