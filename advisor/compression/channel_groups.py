"""Channel spaces for structured pruning: union-find over Conv output channels, plus slice edits.

A *space* is the output-channel axis of one ordinary Conv (its *source*). Every tensor downstream
carries a ``Layout``: which spaces its channel axis (axis 1) is made of, in order. Spaces that must
keep the same channel indices (the two sides of a residual Add, a squeeze-excite gate and its
trunk) are unioned into one *group*; a group that reaches an op which cannot absorb a change in
channel count is *frozen* and keeps every channel. Edits record, per node input, which axis to
slice by which layout; they are resolved to indices only once the kept channels are chosen, so a
union or freeze found later in the graph still applies to edits recorded earlier.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper


@dataclass(frozen=True)
class Layout:
    """The channel axis of a tensor as consecutive ``(space id, count)`` segments.

    A segment whose space is None holds channels that are never pruned (e.g. a graph input
    concatenated with conv outputs). ``flat`` marks a rank-2 ``[N, channels * inner]`` tensor (after
    Flatten/Reshape/Squeeze), where channel c occupies features ``c*inner ... c*inner + inner - 1``
    and ``inner`` is the number of spatial positions (H*W) that were flattened.
    """

    segments: tuple
    inner: int = 1
    flat: bool = False

    @property
    def channels(self) -> int:
        return sum(n for _, n in self.segments)

    def spaces(self) -> list[int]:
        return [s for s, _ in self.segments if s is not None]


@dataclass
class ChannelGraph:
    """Spaces, their union-find groups, freeze reasons, and the edits that prune them."""

    sizes: list = field(default_factory=list)  # channels of each space
    sources: list = field(default_factory=list)  # node index of the Conv creating each space
    parent: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)  # root space -> set of freeze reasons
    edits: dict = field(default_factory=lambda: defaultdict(list))  # (node, input) -> [(axis, Layout)]
    shape_fixes: dict = field(default_factory=dict)  # (node, input) -> (position, Layout) of a Reshape shape
    group_attrs: dict = field(default_factory=dict)  # node index -> Layout giving a depthwise Conv's group
    norms: list = field(default_factory=list)  # (node index, Layout) of BatchNormalization nodes

    def new_space(self, n: int, node_index: int) -> int:
        self.sizes.append(n)
        self.sources.append(node_index)
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        self.parent[rb] = ra
        merged = self.reasons.pop(ra, set()) | self.reasons.pop(rb, set())
        if merged:
            self.reasons[ra] = merged

    def freeze_space(self, s: int, reason: str) -> None:
        self.reasons.setdefault(self.find(s), set()).add(reason)

    def freeze(self, layout: Layout | None, reason: str) -> None:
        """Freeze every space of ``layout`` (no-op for None)."""
        for s in layout.spaces() if layout else ():
            self.freeze_space(s, reason)

    def is_frozen(self, s: int) -> bool:
        return self.find(s) in self.reasons

    def groups(self) -> dict[int, list[int]]:
        """Root space -> every space in its group, in creation order."""
        out: dict[int, list[int]] = {}
        for s in range(len(self.parent)):
            out.setdefault(self.find(s), []).append(s)
        return out


def kept_indices(cg: ChannelGraph, layout: Layout, keep: dict) -> np.ndarray:
    """Indices (int64) along the axis described by ``layout`` that survive pruning.

    ``keep`` maps a root space to its sorted kept channel indices; roots absent from it keep all.
    For a flat layout each kept channel expands to its ``inner`` consecutive features.
    """
    parts, offset = [], 0
    for s, n in layout.segments:
        idx = np.arange(n) if s is None else keep.get(cg.find(s), np.arange(n))
        parts.append(np.asarray(idx, dtype=np.int64) + offset)
        offset += n
    ch = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if layout.inner > 1:
        ch = (ch[:, None] * layout.inner + np.arange(layout.inner)).ravel()
    return ch


def constant_tensors(graph: onnx.GraphProto) -> dict:
    """Name -> TensorProto for every initializer, ``Constant`` node with a ``value``, and Identity
    of one of these (torch's exporter shares identical BatchNorm tensors through Identity nodes)."""
    consts = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = a.t
        elif node.op_type == "Identity" and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    return consts


def const_values(consts: dict, name: str):
    """The 1-D values of constant ``name`` as a list, or None when it is absent or not a constant."""
    t = consts.get(name) if name else None
    return None if t is None else numpy_helper.to_array(t).reshape(-1).tolist()


def tensor_shapes(inferred: onnx.ModelProto) -> dict:
    """Name -> tuple of dims (int, or None where unknown) from a shape-inferred model."""
    g = inferred.graph
    shapes = {t.name: tuple(int(d) for d in t.dims) for t in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    return shapes


def attr(node: onnx.NodeProto, name: str, default=None):
    """The value of attribute ``name`` of ``node``, or ``default``."""
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def subgraph_names(node: onnx.NodeProto) -> set[str]:
    """Every tensor name read by nodes inside ``node``'s subgraph attributes (If/Loop/Scan bodies)."""
    names: set[str] = set()
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            for inner in g.node:
                names.update(inner.input)
                names |= subgraph_names(inner)
    return names
