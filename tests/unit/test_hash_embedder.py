"""HashEmbedder: deterministic, normalised, pure-stdlib feature hashing."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragline.embedders.hashing import HashEmbedder
from ragline.ports import Embedder

SHARED = Path(__file__).resolve().parents[2] / "shared"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_implements_the_embedder_port() -> None:
    embedder: Embedder = HashEmbedder()
    assert embedder.name == "hash"
    assert embedder.dimension == 384
    assert len(embedder.embed_query("hello")) == 384


def test_vectors_are_unit_length_and_of_the_requested_dimension() -> None:
    embedder = HashEmbedder(dimension=64)
    vectors = embedder.embed_documents(["Quarterly revenue grew by four percent", "Holiday policy"])
    assert [len(v) for v in vectors] == [64, 64]
    assert all(norm(v) == pytest.approx(1.0) for v in vectors)


def test_empty_and_stopword_only_texts_give_the_zero_vector() -> None:
    embedder = HashEmbedder(dimension=32)
    assert embedder.embed_query("") == [0.0] * 32
    assert embedder.embed_query("the of and ?!") == [0.0] * 32


def test_same_text_same_vector_across_instances() -> None:
    text = "Expense reports are due on the fifth working day"
    assert HashEmbedder().embed_query(text) == HashEmbedder().embed_query(text)


def test_golden_vector_guards_the_hashing_scheme() -> None:
    # Stored vectors depend on this exact scheme: changing it silently would break existing indexes.
    third, two_thirds = 1 / 3, 2 / 3
    expected = [-third, 0.0, 0.0, 0.0, 0.0, -two_thirds, 0.0, two_thirds]
    assert HashEmbedder(dimension=8).embed_query("hello world") == pytest.approx(expected)


def test_vectors_do_not_depend_on_python_hash_seed() -> None:
    code = "from ragline.embedders.hashing import HashEmbedder; print(HashEmbedder(16).embed_query('seed test words'))"
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SHARED)}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_importing_it_loads_no_third_party_module() -> None:
    code = (
        "import sys; import ragline.embedders.hashing; "
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'tokenizers') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(SHARED)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_shared_words_score_higher_than_unrelated_text() -> None:
    embedder = HashEmbedder()
    query = embedder.embed_query("vacation days policy")
    related = embedder.embed_query("The policy on vacation days for new employees")
    unrelated = embedder.embed_query("Quarterly revenue and operating margin")
    assert cosine(query, related) > 0.4
    assert cosine(query, related) > cosine(query, unrelated) + 0.3


def test_bigrams_make_word_order_count() -> None:
    embedder = HashEmbedder()
    a = embedder.embed_query("dog bites man")
    b = embedder.embed_query("man bites dog")
    assert a != b
    assert 0.5 < cosine(a, b) < 0.999


def test_case_and_punctuation_do_not_matter() -> None:
    embedder = HashEmbedder()
    assert embedder.embed_query("Revenue, GREW!") == embedder.embed_query("revenue grew")


def test_documents_and_queries_embed_alike() -> None:
    embedder = HashEmbedder()
    texts = ["alpha beta", "", "gamma delta epsilon"]
    assert embedder.embed_documents(texts) == [embedder.embed_query(t) for t in texts]
    assert embedder.embed_documents([]) == []


@pytest.mark.parametrize("dimension", [0, -1, 2.5, True])
def test_rejects_invalid_dimensions(dimension: object) -> None:
    with pytest.raises(ValueError):
        HashEmbedder(dimension=dimension)  # type: ignore[arg-type]


@given(text=st.text(max_size=200), dimension=st.integers(min_value=1, max_value=512))
def test_any_text_gives_a_finite_zero_or_unit_vector(text: str, dimension: int) -> None:
    vector = HashEmbedder(dimension=dimension).embed_query(text)
    assert len(vector) == dimension
    assert all(math.isfinite(x) for x in vector)
    length = norm(vector)
    assert length == pytest.approx(0.0) or length == pytest.approx(1.0)
