"""CachedEmbedder: computes only what it has not seen, in one call, in order, and keeps it on disk."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from ragline.embedders.cache import CachedEmbedder


class CountingFakeEmbedder:
    """A fake embedder (unit tests only): a vector from each text's length and first letter; counts calls."""

    def __init__(self, name: str = "fake", dimension: int = 3) -> None:
        self.name = name
        self.dimension = dimension
        self.document_calls: list[list[str]] = []
        self.query_calls: list[str] = []

    def _vector(self, text: str) -> list[float]:
        base = [float(len(text)), float(ord(text[0]) if text else 0), 0.1]
        return (base * self.dimension)[: self.dimension]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.document_calls.append(list(texts))
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        self.query_calls.append(text)
        return self._vector(text)


def test_only_misses_reach_the_inner_embedder_in_one_call_and_order_is_kept(tmp_path):
    inner = CountingFakeEmbedder()
    cache = CachedEmbedder(inner, tmp_path / "cache.sqlite3")
    first = cache.embed_documents(["alpha", "beta"])
    assert inner.document_calls == [["alpha", "beta"]]

    mixed = cache.embed_documents(["gamma", "alpha", "delta", "beta", "gamma"])
    assert inner.document_calls[1] == ["gamma", "delta"]  # one call, the new texts once each
    assert mixed[1] == first[0] and mixed[3] == first[1] and mixed[0] == mixed[4]
    assert mixed == [pytest.approx(inner._vector(t)) for t in ["gamma", "alpha", "delta", "beta", "gamma"]]
    assert (cache.hits, cache.misses) == (3, 4)

    cache.embed_documents(["beta", "alpha"])
    assert len(inner.document_calls) == 2  # all hits: no call


def test_vectors_survive_a_new_process_and_are_float32(tmp_path):
    path = tmp_path / "nested" / "cache.sqlite3"
    with CachedEmbedder(CountingFakeEmbedder(), path) as cache:
        cold = cache.embed_documents(["a text with 1/3 in it"])
    inner = CountingFakeEmbedder()
    with CachedEmbedder(inner, path) as cache:
        warm = cache.embed_documents(["a text with 1/3 in it"])
        assert len(cache) == 1
    assert inner.document_calls == []
    assert warm == cold
    assert warm[0][2] == pytest.approx(0.1) and warm[0][2] != 0.1  # float32, the same cold and warm


def test_keys_include_the_model_name_and_dimension(tmp_path):
    path = tmp_path / "cache.sqlite3"
    CachedEmbedder(CountingFakeEmbedder("model-a"), path).embed_documents(["same text"])
    other = CountingFakeEmbedder("model-b")
    CachedEmbedder(other, path).embed_documents(["same text"])
    wider = CountingFakeEmbedder("model-a", dimension=5)
    vectors = CachedEmbedder(wider, path).embed_documents(["same text"])
    assert other.document_calls == [["same text"]] and wider.document_calls == [["same text"]]
    assert len(vectors[0]) == 5


def test_name_and_dimension_come_from_the_inner_embedder_and_queries_are_not_cached():
    inner = CountingFakeEmbedder("fake-x", dimension=4)
    cache = CachedEmbedder(inner, ":memory:")
    assert (cache.name, cache.dimension) == ("fake-x", 4)
    assert cache.embed_query("q") == inner._vector("q")
    cache.embed_query("q")
    assert inner.query_calls == ["q", "q"]


def test_empty_input_and_a_single_string():
    inner = CountingFakeEmbedder()
    cache = CachedEmbedder(inner, ":memory:")
    assert cache.embed_documents([]) == []
    assert inner.document_calls == []
    with pytest.raises(TypeError):
        cache.embed_documents("not a list")


def test_a_wrong_vector_from_the_inner_embedder_is_not_cached():
    class Broken(CountingFakeEmbedder):
        def embed_documents(self, texts):
            return [[1.0]] * len(texts)

    cache = CachedEmbedder(Broken(), ":memory:")
    with pytest.raises(ValueError, match="dimension"):
        cache.embed_documents(["x"])
    assert len(cache) == 0


def test_threads_share_one_cache(tmp_path):
    inner = CountingFakeEmbedder()
    cache = CachedEmbedder(inner, tmp_path / "cache.sqlite3")
    texts = [f"text {i}" for i in range(200)]
    results: list[list[list[float]]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(cache.embed_documents(texts))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(result == results[0] for result in results)
    assert len(cache) == 200
