"""Graph helpers shared by the compression settings: copying, weight discovery, naming, opsets.

A "weight" is a float32 initializer read by a weight slot of a compute op (Conv kernel, Gemm/MatMul
B, recurrent W/R). Its "channel axis" is the axis of output channels, along which per-channel
scales are taken.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import onnx

# Weights smaller than this many elements stay untouched (biases, tiny first layers, depthwise kernels).
MIN_WEIGHT_ELEMENTS = 1024
RECURRENT = ("LSTM", "GRU", "RNN")


@dataclass(frozen=True)
class Weight:
    """One float32 weight initializer, the op types reading it, and its output-channel axis."""

    name: str
    op_types: tuple
    axis: int
    n_elements: int


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy of ``model`` (settings never touch their input)."""
    new = onnx.ModelProto()
    new.CopyFrom(model)
    return new


def default_opset(model: onnx.ModelProto) -> int:
    """Version of the default ("" / "ai.onnx") opset import; 0 if absent."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _slot_axis(node: onnx.NodeProto, index: int, rank: int) -> int | None:
    """Output-channel axis of input ``index`` of ``node`` if that input is a weight slot, else None."""
    op = node.op_type
    if op == "Conv" and index == 1:
        return 0
    if op == "ConvTranspose" and index == 1:
        return 1
    if op == "Gemm" and index == 1:
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if op == "MatMul" and index == 1 and rank >= 2:
        return rank - 1
    if op in RECURRENT and index in (1, 2):
        return 1  # W/R are [directions, gates*hidden, in]: rows are gate outputs
    return None


def consumers(model: onnx.ModelProto) -> dict:
    """Tensor name -> list of (node, input index) in the main graph."""
    out: dict = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name:
                out.setdefault(name, []).append((node, i))
    return out


def find_weights(model: onnx.ModelProto, min_elements: int = MIN_WEIGHT_ELEMENTS,
                 op_types: tuple = ("Conv", "ConvTranspose", "Gemm", "MatMul", *RECURRENT)) -> list:
    """Float32 initializers with >= ``min_elements`` elements whose every consumer reads them through a
    weight slot of an op in ``op_types`` with one common channel axis: list of Weight."""
    uses = consumers(model)
    found = []
    for t in model.graph.initializer:
        n = int(np.prod(t.dims)) if t.dims else 1
        if t.data_type != onnx.TensorProto.FLOAT or n < min_elements or t.name not in uses:
            continue
        axes = {_slot_axis(node, i, len(t.dims)) if node.op_type in op_types else None
                for node, i in uses[t.name]}
        if len(axes) == 1 and None not in axes:
            ops = tuple(sorted({node.op_type for node, _ in uses[t.name]}))
            found.append(Weight(t.name, ops, axes.pop(), n))
    return found


def replace_initializer(model: onnx.ModelProto, name: str, new_tensors: list, node: onnx.NodeProto) -> None:
    """Swap initializer ``name`` for ``new_tensors`` plus ``node``, whose output is ``name``
    (``replace_initializers`` with one swap)."""
    replace_initializers(model, [(name, new_tensors, node)])


def replace_initializers(model: onnx.ModelProto, swaps: list) -> None:
    """For each ``(name, new_tensors, node)`` of ``swaps``, swap initializer ``name`` for ``new_tensors``
    plus ``node``, whose output is ``name``; the initializer list is rebuilt once for all of them.

    Every consumer keeps reading ``name`` unchanged; the nodes go first in the graph (the last swap's
    first, as if inserted one by one) because they read only initializers, so topological order holds.
    Rebuilt once per swap instead, the list was copied as many times as there are weights: ResNet-152's
    wq8 took a minute and more than 21 GB.
    """
    if not swaps:
        return
    graph = model.graph
    gone = {name for name, _, _ in swaps}
    keep = [t for t in graph.initializer if t.name not in gone]
    graph.ClearField("initializer")
    graph.initializer.extend(keep + [t for _, tensors, _ in swaps for t in tensors])
    inputs = [vi for vi in graph.input if vi.name not in gone]  # old IRs list initializers as inputs
    if len(inputs) != len(graph.input):
        graph.ClearField("input")
        graph.input.extend(inputs)
    nodes = [node for _, _, node in reversed(swaps)] + list(graph.node)
    graph.ClearField("node")
    graph.node.extend(nodes)


def fresh_name(taken: set, base: str) -> str:
    """``base`` or ``base_1``, ``base_2``... whichever is not in ``taken``; the result is added to it."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def tensor_names(model: onnx.ModelProto) -> set:
    """Every initializer, graph input/output and node output name of the main graph."""
    g = model.graph
    return {t.name for t in g.initializer} | {v.name for v in [*g.input, *g.output]} | \
        {o for n in g.node for o in n.output} | {n.name for n in g.node}


def op_counts(model: onnx.ModelProto) -> dict:
    """Op type -> number of nodes in the main graph."""
    return dict(Counter(n.op_type for n in model.graph.node))


def share(part: int, whole: int) -> float:
    """part / whole rounded to 4 decimals (0.0 when whole is 0)."""
    return round(part / whole, 4) if whole else 0.0


def upgrade_opset(model: onnx.ModelProto, version: int) -> onnx.ModelProto:
    """``model`` with its default opset raised to at least ``version`` by onnx's version converter
    (which rewrites ops whose signature changed, e.g. Reduce* axes moving to an input)."""
    if default_opset(model) >= version:
        return model
    from onnx import version_converter
    return version_converter.convert_version(model, version)


def topological_sort(model: onnx.ModelProto) -> onnx.ModelProto:
    """Reorder the main graph's nodes topologically, in place, using onnxruntime's own sorter."""
    from onnxruntime.transformers.onnx_model import OnnxModel
    OnnxModel.graph_topological_sort(model.graph, is_deterministic=True)
    return model
