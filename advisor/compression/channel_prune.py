"""Structured channel pruning that really removes Conv output channels from an ONNX graph.

Hand-written on purpose: no library prunes channels of an ONNX graph (torch-pruning works on torch
modules; torch.nn.utils.prune and onnx tooling only mask or zero weights, which a dense runtime
still computes). channel_trace finds which channels may go together (dependency-aware: residual
Adds, squeeze-excite gates, Concat, depthwise convs, BatchNorm, Flatten->Gemm); this module scores
channels, picks the ones to keep, and slices every affected initializer.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import onnx
from onnx import numpy_helper

from advisor.compression.base import CalibrationData, CompressionResult, Setting
from advisor.compression.channel_groups import (
    ChannelGraph,
    attr,
    constant_tensors,
    kept_indices,
    subgraph_names,
)
from advisor.compression.channel_trace import trace
from advisor.errors import ModelError, SettingError
from advisor.modelio import LoadedModel, from_proto

# Fidelity floors per ratio (mean output cosine; measurements in ChannelPruning's docstring), set a
# little below the worst value over the tiny CNN zoo built with seeds 0-4. A ratio between entries
# uses the next larger ratio's floor; above 0.5 nothing was measured, so no floor is promised.
_FLOORS = {0.1: 0.90, 0.25: 0.75, 0.5: 0.75}


class ChannelPruning(Setting):
    """Remove the ``ratio`` share of output channels (lowest L1 filter norm) of every Conv group.

    A group is a set of Conv outputs that must keep the same channel indices (a residual trunk,
    a squeeze-excite gate and its trunk). Each group keeps ``max(1, ceil((1 - ratio) * C))``
    channels ranked by the sum over its source Convs of the filter L1 norm, each Conv's norms divided
    by their mean so every source votes equally, times ``|gamma| / sqrt(var + eps)`` where a
    BatchNormalization follows. No fine-tuning: accuracy loss must be recovered by retraining.

    ``min_cosine`` (per ratio, from ``_FLOORS``) was measured as the mean cosine similarity between
    pruned and original outputs on ``synthetic(lm, n_samples=4)``, over the six tiny CNNs
    (random weights, so far below what a trained net keeps). Worst model, seed-0 zoo / seeds 0-4:
    ratio 0.1: 0.986 (residual_cnn) / 0.919 (depthwise_cnn, seed 1) -> floor 0.90;
    ratio 0.25: 0.802 (bn_cnn) / 0.769 (multibranch_cnn, seed 4) -> floor 0.75;
    ratio 0.5: 0.817 (bn_cnn) / 0.772 (multibranch_cnn, seed 4) -> floor 0.75.
    """

    family = "structured-pruning"
    touches = ("Conv", "BatchNormalization", "Gemm", "MatMul")

    def __init__(self, name: str, ratio: float, align: int = 1):
        if not 0 < ratio < 1:
            raise SettingError(f"Channel-pruning ratio {ratio!r} is out of range; give a share between 0 and 1 "
                               "(0.5 removes half of each Conv group's channels).")
        if int(align) < 1:
            raise SettingError(f"Channel-pruning alignment {align!r} must be a positive channel count (e.g. 8).")
        self.name = name
        self.ratio = float(ratio)
        self.align = int(align)
        aligned = (f"; each group keeps a multiple of {self.align} channels (the nearest to {1 - self.ratio:.0%}), "
                   "so blocked convolution kernels still apply") if self.align > 1 else ""
        self.description = (f"Remove {self.ratio:.0%} of the output channels of every prunable Conv group "
                            f"(lowest L1 norm, dependency-aware), so dense runtimes compute less{aligned}.")
        self.min_cosine = _floor(self.ratio)

    @property
    def params(self) -> dict:
        return {"ratio": self.ratio, "align": self.align} if self.align > 1 else {"ratio": self.ratio}

    def check(self, lm: LoadedModel) -> str | None:
        return _refusal(trace(lm), self.ratio, self.align)

    def _apply(self, lm: LoadedModel, data: CalibrationData | None) -> CompressionResult:
        cg = trace(lm)
        keep = choose_channels(lm.model, cg, self.ratio, self.align)
        model = rewrite(lm.model, cg, keep)
        try:
            from_proto(model)
        except ModelError as exc:
            raise SettingError(f"Channel pruning produced an invalid graph ({exc}). Please report this "
                               "model; use another setting meanwhile.") from exc
        return CompressionResult(self.name, model, notes=_notes(cg, keep, self.ratio))


def _floor(ratio: float) -> float:
    larger = [r for r in _FLOORS if r >= ratio - 1e-9]
    return _FLOORS[min(larger)] if larger else 0.0


def n_keep(channels: int, ratio: float, align: int = 1) -> int:
    """Channels a group of ``channels`` keeps at ``ratio`` (at least 1). With ``align`` > 1 and a group of
    at least ``align`` channels: the multiple of ``align`` nearest to ``(1 - ratio) * channels``, between
    ``align`` and the largest multiple not above ``channels`` (a 12-channel group keeps 8 at any ratio
    with align 8; a 6-channel group is left to the plain rule)."""
    if align > 1 and channels >= align:
        k = align * round((1 - ratio) * channels / align)
        return int(min(max(k, align), align * (channels // align)))
    return max(1, math.ceil(round((1 - ratio) * channels, 6)))


def _reason_summary(cg: ChannelGraph) -> dict:
    return dict(sorted(Counter(r for reasons in cg.reasons.values() for r in reasons).items()))


def _refusal(cg: ChannelGraph, ratio: float, align: int = 1) -> str | None:
    if not cg.sizes:
        return "no prunable Conv channels (model has no ordinary Conv with constant weights)"
    free = [root for root in cg.groups() if root not in cg.reasons]
    if not free:
        why = ", ".join(f"{r} x{n}" for r, n in _reason_summary(cg).items())
        return f"no prunable Conv channels (every channel group is frozen: {why})"
    if all(n_keep(cg.sizes[r], ratio, align) == cg.sizes[r] for r in free):
        biggest = max(cg.sizes[r] for r in free)
        return f"ratio {ratio:g} removes no channel (largest prunable group has {biggest} channels)"
    return None


def choose_channels(model: onnx.ModelProto, cg: ChannelGraph, ratio: float, align: int = 1) -> dict:
    """Root space -> sorted kept channel indices, for every unfrozen group that loses channels."""
    consts = constant_tensors(model.graph)
    bn = _bn_scales(model, cg, consts)
    keep = {}
    for root, spaces in cg.groups().items():
        n = cg.sizes[root]
        k = n_keep(n, ratio, align)
        if root in cg.reasons or k == n:
            continue
        score = sum(_space_score(model, cg, s, consts, bn) for s in spaces)
        keep[root] = np.sort(np.argsort(-score, kind="stable")[:k])
    return keep


def _space_score(model, cg: ChannelGraph, s: int, consts: dict, bn: dict) -> np.ndarray:
    """Per-channel importance of space ``s``: its source filters' L1 norms (times BN scale), mean 1."""
    w = numpy_helper.to_array(consts[model.graph.node[cg.sources[s]].input[1]]).astype(np.float64)
    score = np.abs(w).reshape(w.shape[0], -1).sum(axis=1) * bn.get(s, 1.0)
    return score / (score.mean() + 1e-12)


def _bn_scales(model, cg: ChannelGraph, consts: dict) -> dict:
    """Space -> per-channel |gamma| / sqrt(var + eps) of the BatchNormalization nodes it passes."""
    scales: dict = {}
    for i, lay in cg.norms:
        node = model.graph.node[i]
        gamma, var = (numpy_helper.to_array(consts[node.input[k]]).astype(np.float64) for k in (1, 4))
        scale = np.abs(gamma) / np.sqrt(np.maximum(var, 0) + attr(node, "epsilon", 1e-5))
        offset = 0
        for s, n in lay.segments:
            if s is not None:
                scales[s] = scales.get(s, 1.0) * scale[offset:offset + n]
            offset += n
    return scales


def rewrite(model: onnx.ModelProto, cg: ChannelGraph, keep: dict) -> onnx.ModelProto:
    """A copy of ``model`` with every edit of ``cg`` applied for the kept channels ``keep``."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    consts = constant_tensors(g)
    writer = _InitWriter(g)
    for (i, k), edits in cg.edits.items():
        arr = numpy_helper.to_array(consts[g.node[i].input[k]])
        sliced = arr
        for axis, lay in edits:
            sliced = np.take(sliced, kept_indices(cg, lay, keep), axis=axis)
        if sliced.shape != arr.shape:
            writer.set_input(i, k, sliced)
    for (i, k), (pos, lay) in cg.shape_fixes.items():
        shape = numpy_helper.to_array(consts[g.node[i].input[k]]).copy()
        new = kept_indices(cg, lay, keep).size
        if shape[pos] > 0 and shape[pos] != new:
            shape[pos] = new
            writer.set_input(i, k, shape)
    for i, lay in cg.group_attrs.items():
        node = g.node[i]
        for a in node.attribute:
            if a.name == "group":
                a.i = int(kept_indices(cg, lay, keep).size)
    writer.drop_replaced()
    g.ClearField("value_info")  # stale channel counts; shape inference recomputes them
    return out


class _InitWriter:
    """Writes sliced tensors as initializers: in place when only one node input reads the name."""

    def __init__(self, graph: onnx.GraphProto):
        self.g = graph
        self.uses = Counter(x for n in graph.node for x in n.input)
        self.uses.update(o.name for o in graph.output)
        self.index = {t.name: j for j, t in enumerate(graph.initializer)}
        # Old exports list initializers as graph inputs too: such a name is never replaced in place.
        self.input_inits = {i.name for i in graph.input} & set(self.index)
        self.uses.update(self.input_inits)
        self.replaced: set[str] = set()

    def set_input(self, i: int, k: int, arr: np.ndarray) -> None:
        node = self.g.node[i]
        name = node.input[k]
        if name in self.index and self.uses[name] == 1:
            self.g.initializer[self.index[name]].CopyFrom(numpy_helper.from_array(arr, name))
            return
        new = f"{name}_chprune{i}"
        while new in self.index or new in self.uses:
            new += "_"
        self.g.initializer.append(numpy_helper.from_array(arr, new))
        self.index[new] = len(self.g.initializer) - 1
        node.input[k] = new
        self.uses[name] -= 1
        self.uses[new] += 1
        self.replaced.add(name)

    def drop_replaced(self) -> None:
        """Remove the initializers, Constant nodes and Identity-of-constant nodes that no reader needs
        any more because every reader now reads a sliced copy (untouched dead code is left alone)."""
        g, touched = self.g, set(self.replaced)
        while True:
            used = _used_names(g)
            dead = [n for n in g.node if n.op_type in ("Constant", "Identity")
                    and n.output[0] in touched and n.output[0] not in used]
            if not dead:
                break
            touched.update(n.input[0] for n in dead if n.op_type == "Identity")
            kept_nodes = [n for n in g.node if all(n is not d for d in dead)]
            g.ClearField("node")
            g.node.extend(kept_nodes)
        gone = {n for n in touched - used if n in self.index}
        for field, items in (("initializer", [t for t in g.initializer if t.name not in gone]),
                             ("input", [v for v in g.input if v.name not in gone])):
            g.ClearField(field)
            getattr(g, field).extend(items)


def _used_names(g: onnx.GraphProto) -> set[str]:
    used = {x for n in g.node for x in n.input} | {o.name for o in g.output}
    for n in g.node:
        used |= subgraph_names(n)
    return used


def _notes(cg: ChannelGraph, keep: dict, ratio: float) -> dict:
    after = sum(len(keep[cg.find(s)]) if cg.find(s) in keep else n for s, n in enumerate(cg.sizes))
    return {"ratio": ratio, "groups_pruned": len(keep), "groups_frozen": len(cg.reasons),
            "channels_before": int(sum(cg.sizes)), "channels_after": int(after),
            "frozen_reasons": _reason_summary(cg)}
