"""Reading a BEIR-layout dataset folder.

Layout: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
``qrels/<split>.tsv`` (a header ``query-id<TAB>corpus-id<TAB>score``, CRLF line endings as BEIR ships them,
integer scores). ``queries.jsonl`` holds the queries of every split: only those judged in the split's qrels
are kept.

A dataset's queries fall in two fixed halves by a hash of their id (:func:`half_of`), ``"tune"`` and
``"test"``: a setting chosen on one half is reported on the other.

    >>> dataset = load_beir("../shared/data/scifact", limit=5, max_docs=200)  # doctest: +SKIP
    >>> len(dataset.queries), len(dataset.corpus)  # doctest: +SKIP
    (5, 200)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "HALVES",
    "BeirDataset",
    "BeirDocument",
    "BeirQuery",
    "Half",
    "check_bounds",
    "dataset_folder",
    "half_of",
    "id_order",
    "keep_docs",
    "load_beir",
    "read_corpus",
    "read_qrels",
    "read_queries",
]

Half = Literal["tune", "test"]
HALVES: tuple[Half, ...] = get_args(Half)


@dataclass(frozen=True)
class BeirDocument:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirQuery:
    id: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    """The judged queries of one split (sorted by id), their judgements and the corpus (in file order)."""

    name: str
    path: Path
    corpus: list[BeirDocument]
    queries: list[BeirQuery]
    qrels: dict[str, dict[str, int]]  # query id -> document id -> grade


def id_order(query_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then the others in text order: "2" before "10"."""
    return (0, int(query_id), "") if query_id.isdigit() else (1, 0, query_id)


def half_of(query_id: str) -> Half:
    """The half a query belongs to, by the first byte of the SHA-256 of its id: the same on every machine
    and run, unlike a position (``benchmarks/tune_hybrid.py`` splits by the same hash; its "held" half is
    ``"test"`` here).

    >>> half_of("1"), half_of("2")
    ('test', 'tune')
    """
    return "tune" if hashlib.sha256(query_id.encode()).digest()[0] % 2 == 0 else "test"


def _required(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/)")
    return path


def json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """Each record of a JSON-lines file with its line number; ``ValueError`` naming the line for one that is
    not a JSON object with an ``_id``, ``FileNotFoundError`` when the file is missing."""
    with _required(path).open(encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(record, dict) or "_id" not in record:
                raise ValueError(f"{path}:{number}: expected an object with an _id")
            yield number, record


def read_corpus(path: Path) -> Iterator[BeirDocument]:
    """The documents of ``corpus.jsonl``, in file order (a missing title or text reads as "")."""
    for _, record in json_lines(path):
        yield BeirDocument(str(record["_id"]), str(record.get("title") or ""), str(record.get("text") or ""))


def read_queries(path: Path) -> dict[str, str]:
    """Query id -> text, from ``queries.jsonl``."""
    return {str(record["_id"]): str(record.get("text") or "") for _, record in json_lines(path)}


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Query id -> document id -> grade, from a qrels TSV (header optional, LF or CRLF)."""
    qrels: dict[str, dict[str, int]] = {}
    with _required(path).open(encoding="utf-8-sig", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if fields == [""]:
                continue
            if number == 1 and fields[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue  # the header
            if len(fields) != 3:
                raise ValueError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>score, got {line!r}")
            query_id, doc_id, score = (field.strip() for field in fields)
            try:
                grade = int(score)
            except ValueError:
                raise ValueError(f"{path}:{number}: score {score!r} is not an integer") from None
            qrels.setdefault(query_id, {})[doc_id] = grade
    return qrels


def check_bounds(limit: int | None, max_docs: int | None) -> None:
    """``ValueError`` unless each of ``limit`` and ``max_docs`` is None or at least 1."""
    for name, value in (("limit", limit), ("max_docs", max_docs)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def dataset_folder(path: str | Path) -> Path:
    """``path`` as a folder; ``FileNotFoundError`` when it is not one."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    return root


def keep_docs(corpus: Sequence[BeirDocument], needed: Collection[str], max_docs: int | None) -> list[BeirDocument]:
    """Every document of ``needed``, then the first others of the corpus up to ``max_docs`` in all (the
    needed ones are kept even past it), in corpus order; the whole corpus when ``max_docs`` is None."""
    if max_docs is None:
        return list(corpus)
    room = max(max_docs - sum(1 for doc in corpus if doc.id in needed), 0)
    kept = []
    for doc in corpus:
        if doc.id in needed:
            kept.append(doc)
        elif room > 0:
            kept.append(doc)
            room -= 1
    return kept


def load_beir(
    path: str | Path,
    split: str = "test",
    limit: int | None = None,
    max_docs: int | None = None,
    half: Half | None = None,
) -> BeirDataset:
    """The dataset at ``path``, its queries restricted to those judged in ``qrels/<split>.tsv``.

    ``half``: keep only the queries of that half (:func:`half_of`). ``limit``: then keep the first
    ``limit`` judged queries in id order. ``max_docs``: keep every document judged for a kept query, then
    the first other documents of the corpus up to ``max_docs`` in all (the judged ones are kept even past
    it); by default the whole corpus is kept. Judged queries missing from ``queries.jsonl`` raise
    ``ValueError``.
    """
    check_bounds(limit, max_docs)
    root = dataset_folder(path)
    qrels = read_qrels(root / "qrels" / f"{split}.tsv")
    texts = read_queries(root / "queries.jsonl")
    missing = sorted(set(qrels) - set(texts), key=id_order)
    if missing:
        raise ValueError(f"{len(missing)} judged queries are not in queries.jsonl (first: {missing[0]!r})")
    query_ids = [query_id for query_id in sorted(qrels, key=id_order) if half is None or half_of(query_id) == half]
    query_ids = query_ids[:limit]
    queries = [BeirQuery(query_id, texts[query_id]) for query_id in query_ids]
    qrels = {query_id: qrels[query_id] for query_id in query_ids}
    judged = {doc_id for judgements in qrels.values() for doc_id in judgements}
    corpus = keep_docs(list(read_corpus(root / "corpus.jsonl")), judged, max_docs)
    return BeirDataset(name=root.name, path=root, corpus=corpus, queries=queries, qrels=qrels)
