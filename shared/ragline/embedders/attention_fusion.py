"""The local model's self-attention as onnxruntime's fused ``MultiHeadAttention`` kernel, same weights.

The ONNX export of all-MiniLM-L6-v2 spells each layer's attention out op by op: reshapes and transposes
of the query, key and value, a matrix product, the padding mask added, a softmax, a NaN check over the
probabilities, another product, and transposes back. At a batch of 32 chunks of 256 tokens every one of
those passes reads and writes a 100 MB tensor of attention scores, six layers over. onnxruntime's fused
``com.microsoft.MultiHeadAttention`` does the same arithmetic in one kernel.

:func:`fuse_attention` rewrites the graph: the model is first constant-folded by onnxruntime (its int8
weights become the float32 weights the session would compute anyway), then each layer's attention
subgraph, from the three projections to the reshape after the second product, becomes one
``MultiHeadAttention`` node over the same projections, with the attention mask as its key padding mask.
Nothing else changes, so the vectors are the model's own to float rounding (``docs/performance.md``,
"Local ingest", has the check). A graph of another shape is left as it is (``None``).

The ``onnx`` package reads and writes the graph; it is imported here only.

    >>> fused = fuse_attention(Path("model.onnx"), heads=12)  # doctest: +SKIP
    >>> fused.layers, len(fused.model_bytes) > 0  # doctest: +SKIP
    (6, True)
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FusedModel", "fuse_attention"]

_MASK = "ragline_key_padding_mask"
# Between a projection's bias Add and the attention's matrix products: the head split and the scaling.
_HEAD_SPLIT_OPS = ("Mul", "Reshape", "Transpose")


@dataclass(frozen=True)
class FusedModel:
    """The rewritten model, serialised, and how many attention layers it fused."""

    model_bytes: bytes
    layers: int


def fuse_attention(source: Path, heads: int) -> FusedModel | None:
    """The model at ``source`` with every self-attention fused (``heads`` heads), or None when its graph
    has no attention of the shape this rewrites, or one it cannot rewrite whole."""
    import onnx
    from onnx import TensorProto, helper

    graph_model = onnx.load_model_from_string(_constant_folded(source))
    graph = graph_model.graph
    producer = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    replacements: dict[str, Any] = {}
    for softmax in (node for node in graph.node if node.op_type == "Softmax"):
        attention = _attention_around(softmax, producer, consumers)
        if attention is None:
            return None
        query, key, value, reshape = attention
        replacements[reshape.name] = helper.make_node(
            "MultiHeadAttention",
            [query, key, value, "", _MASK],
            list(reshape.output),
            name=f"ragline_attention_{len(replacements)}",
            domain="com.microsoft",
            num_heads=heads,
        )
    if not replacements or "attention_mask" not in {graph_input.name for graph_input in graph.input}:
        return None
    mask = helper.make_node("Cast", ["attention_mask"], [_MASK], to=TensorProto.INT32, name="ragline_mask_cast")
    nodes = _needed([mask, *(replacements.get(node.name, node) for node in graph.node)], graph.output)
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    initializers = [initializer for initializer in graph.initializer if initializer.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    if not any(opset.domain == "com.microsoft" for opset in graph_model.opset_import):
        graph_model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    fused = graph_model.SerializeToString()
    if not _agrees(source.read_bytes(), fused, [graph_input.name for graph_input in graph.input]):
        return None
    return FusedModel(fused, len(replacements))


def _constant_folded(source: Path) -> bytes:
    """The model after onnxruntime's basic (hardware-independent) optimisations: constants folded."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="ragline-model-") as folder:
        folded = Path(folder) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
        return folded.read_bytes()


#: How far the fused model's hidden states may stray from the model's own on the probe (float rounding:
#: the scaling is applied once to the scores instead of twice to the query and the key).
TOLERANCE = 1e-4


def _agrees(original: bytes, fused: bytes, input_names: list[str]) -> bool:
    """Whether both models give the same hidden states, within :data:`TOLERANCE`, on a probe batch of two
    sequences, the second padded: the check that the rewrite kept the arithmetic (scale, mask) as it was."""
    import numpy as np
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 20000, size=(2, 48), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 20:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    feeds = {name: value for name, value in feeds.items() if name in input_names}
    outputs = []
    for model in (original, fused):
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        (hidden,) = session.run(None, feeds)[:1]
        outputs.append(hidden * mask[:, :, None])  # padded positions are pooled out: not compared
    return bool(np.abs(outputs[0] - outputs[1]).max() <= TOLERANCE)


def _attention_around(
    softmax: Any, producer: dict[str, Any], consumers: dict[str, list[Any]]
) -> tuple[str, str, str, Any] | None:
    """The query, key and value projections of the attention whose softmax this is, and the reshape its
    output leaves by: ``softmax(Q K^T + mask)``, its NaNs zeroed, times ``V``, transposed, reshaped."""
    scores = producer.get(softmax.input[0])
    if scores is None or scores.op_type != "Add":
        return None
    product = producer.get(scores.input[0])
    if product is None or product.op_type != "MatMul":
        return None
    after = _single_chain(softmax.output[0], consumers, ("IsNaN", "Where", "MatMul", "Transpose", "Reshape"))
    if after is None:
        return None
    _, _, weighted, _, reshape = after
    projections = [_projection(name, producer) for name in (product.input[0], product.input[1], weighted.input[1])]
    if None in projections:
        return None
    query, key, value = (str(name) for name in projections)
    return query, key, value, reshape


def _single_chain(name: str, consumers: dict[str, list[Any]], ops: tuple[str, ...]) -> list[Any] | None:
    """The nodes that follow ``name`` one after the other with these op types (the NaN check's Where
    also reads the softmax: it is followed from the IsNaN)."""
    chain = []
    for op in ops:
        following = [node for node in consumers.get(name, []) if node.op_type == op]
        if len(following) != 1:
            return None
        chain.append(following[0])
        name = following[0].output[0]
    return chain


def _projection(name: str, producer: dict[str, Any]) -> str | None:
    """The output of the bias Add a head split (reshapes, transposes, the scaling) starts from."""
    node = producer.get(name)
    while node is not None and node.op_type in _HEAD_SPLIT_OPS:
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Add":
        return None
    return str(node.output[0])


def _needed(nodes: list[Any], outputs: Any) -> list[Any]:
    """``nodes`` that the graph's outputs depend on, in their order (the replaced attention falls away)."""
    producer = {output: node for node in nodes for output in node.output}
    wanted = [output.name for output in outputs]
    live: set[int] = set()
    while wanted:
        node = producer.get(wanted.pop())
        if node is not None and id(node) not in live:
            live.add(id(node))
            wanted.extend(name for name in node.input if name)
    return [node for node in nodes if id(node) in live]
