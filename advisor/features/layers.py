"""Weighted layers (Conv, Gemm, MatMul with a constant operand, LSTM/GRU/RNN) and their statistics."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import onnx

from advisor.features.graph import GraphView
from advisor.features.macs import GEMM_LIKE, WEIGHT_SLOTS, NodeCost, weight_positions
from advisor.features.tensors import QUANTIZED_TYPES, WeightRef, resolve_weight
from advisor.features.weights import BELOW_THRESHOLDS, TensorStats, sqnr_db, tensor_stats

# (op, weight position) -> positions of that weight's (scale, zero point) inputs (None: no such input).
_INLINE_QUANT: dict[tuple[str, int], tuple[int | None, int]] = {
    ("QLinearConv", 3): (4, 5), ("QLinearMatMul", 3): (4, 5), ("QGemm", 3): (4, 5),
    ("ConvInteger", 1): (None, 3), ("MatMulInteger", 1): (None, 3)}
# Values sampled for statistics over the whole model, shared out by tensor size (each gets at
# least MIN_SAMPLE, at most weights.SAMPLE_MAX): bounds the time on models with many layers.
MODEL_SAMPLE_BUDGET = 2_000_000
MIN_SAMPLE = 4096


@dataclass(frozen=True)
class Layer:
    """One weighted layer: ``params`` (count of weight + bias elements), ``macs`` and weight statistics.

    ``stats`` is None when no weight values could be read (e.g. a weight computed at run time).
    """

    name: str
    op_type: str
    category: str
    params: int
    weight_params: int
    quantized_params: int
    macs: int
    stats: LayerStats | None

    def to_dict(self) -> dict:
        """JSON-able row: weight_range is max|w|; SQNRs in dB; sparsity a fraction of weights."""
        s = self.stats
        return {
            "name": self.name, "op_type": self.op_type, "category": self.category, "params": self.params,
            "macs": self.macs,
            "weight_range": s.absmax if s else 0.0, "outlier_ratio": s.outlier_ratio if s else 0.0,
            "int8_sqnr_db": s.int8_db if s else 0.0, "int8_pc_sqnr_db": s.int8_pc_db if s else 0.0,
            "int4_sqnr_db": s.int4_pc_db if s else 0.0, "sparsity": s.zeros / s.n if s else 0.0,
        }


@dataclass(frozen=True)
class LayerStats:
    """A layer's tensors' statistics pooled: counts and squared sums add, extremes take the max."""

    n: int
    zeros: float
    absmax: float
    outlier_ratio: float
    signal: float
    int8_db: float
    int8_pc_db: float
    int4_pc_db: float
    below: tuple[float, ...]

    @classmethod
    def pool(cls, parts: list[TensorStats]) -> LayerStats:
        signal = sum(p.signal for p in parts)
        return cls(
            n=sum(p.n for p in parts), zeros=sum(p.zeros for p in parts),
            absmax=max(p.absmax for p in parts), outlier_ratio=max(p.outlier_ratio for p in parts),
            signal=signal,
            int8_db=sqnr_db(signal, sum(p.noise_int8 for p in parts)),
            int8_pc_db=sqnr_db(signal, sum(p.noise_int8_pc for p in parts)),
            int4_pc_db=sqnr_db(signal, sum(p.noise_int4_pc for p in parts)),
            below=tuple(sum(p.below[i] for p in parts) for i in range(len(BELOW_THRESHOLDS))))


def weighted_layers(view: GraphView, costs: list[NodeCost]) -> list[Layer]:
    """Layers in topological order; ``costs[k]`` is the cost of ``view.compute[k]``."""
    found = []
    for k, node in enumerate(view.compute):
        positions = weight_positions(node, view)
        if positions:
            refs = [(_inline_dequant(node, i, resolve_weight(node.input[i], view.consts, view.producers), view),
                     _out_axis(node, i, view)) for i in positions]
            found.append((k, node, positions, refs))
    stored = {ref.name for *_, refs in found for ref, _ in refs if ref is not None}
    total = sum(view.numel(name) for name in stored)
    sampler = _Sampler(view, total, {})
    return [_layer(k, node, positions, refs, costs[k], view, sampler) for k, node, positions, refs in found]


@dataclass(frozen=True)
class _Sampler:
    """Splits MODEL_SAMPLE_BUDGET over the model's ``total`` stored weight elements; caches by tensor."""

    view: GraphView
    total: int
    cache: dict  # (tensor name, channel axis) -> TensorStats | None

    def stats(self, ref: WeightRef, axis: int) -> TensorStats | None:
        key = (ref.name, axis)
        if key not in self.cache:
            arr = self.view.consts.array(ref.name)
            limit = max(MIN_SAMPLE, -(-MODEL_SAMPLE_BUDGET * (0 if arr is None else arr.size) // max(1, self.total)))
            self.cache[key] = None if arr is None else tensor_stats(arr, axis, ref, limit)
        return self.cache[key]


def _layer(k: int, node: onnx.NodeProto, positions: list[int], refs: list, cost: NodeCost, view: GraphView,
           sampler: _Sampler) -> Layer:
    parts = [sampler.stats(ref, axis) for ref, axis in refs if ref is not None]
    parts = [p for p in parts if p is not None]
    weight_params = sum(view.numel(node.input[i]) for i in positions)
    quantized = sum(view.numel(node.input[i]) for (ref, _), i in zip(refs, positions, strict=True)
                    if ref is not None and view.consts.protos[ref.name].data_type in QUANTIZED_TYPES)
    return Layer(
        name=node.name or f"{node.op_type}_{k}", op_type=node.op_type, category=cost.category or "other",
        params=weight_params + _bias_params(node, view), weight_params=weight_params,
        quantized_params=quantized, macs=cost.macs, stats=LayerStats.pool(parts) if parts else None)


def _inline_dequant(node: onnx.NodeProto, position: int, ref: WeightRef | None, view: GraphView) -> WeightRef | None:
    """Attach the weight scale/zero point that QLinear*/QGemm/*Integer ops take as inputs."""
    slots = _INLINE_QUANT.get((node.op_type, position))
    if ref is None or ref.scale is not None or slots is None:
        return ref
    scale_at, zp_at = slots
    scale = view.consts.array(node.input[scale_at]) if scale_at is not None and scale_at < len(node.input) else None
    zp = view.consts.array(node.input[zp_at]) if zp_at < len(node.input) and node.input[zp_at] else None
    if scale is None:  # *Integer ops: the scale is applied after the op; keep integer units
        scale = np.ones(1 if zp is None else zp.size, np.float32)
    dims = view.consts.protos[ref.name].dims
    axis = _out_axis(node, position, view) % max(1, len(dims))
    if scale.size == 1 and (zp is None or zp.size == 1):
        return replace(ref, scale=scale.reshape(()), zero_point=None if zp is None else zp.reshape(()))
    if len(dims) > axis and scale.size == dims[axis] and (zp is None or zp.size == scale.size):
        return replace(ref, scale=scale.reshape(-1), zero_point=zp, axis=axis)
    return ref


def _bias_params(node: onnx.NodeProto, view: GraphView) -> int:
    b = WEIGHT_SLOTS[node.op_type][1]
    if b is None or b >= len(node.input) or not node.input[b] or node.input[b] not in view.static:
        return 0
    return view.numel(node.input[b])


def _out_axis(node: onnx.NodeProto, position: int, view: GraphView) -> int:
    """Axis of the weight at input ``position`` along which output channels lie."""
    op = node.op_type
    if op == "ConvTranspose" or op in ("LSTM", "GRU", "RNN"):
        return 1
    if op in GEMM_LIKE:
        if position != 0:
            return 0 if view.attr(node, "transB", 0) else 1
        return 1 if view.attr(node, "transA", 0) else 0
    if op in ("MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul"):
        return -2 if position == 0 else -1
    return 0
