"""A read-only view of a loaded model's top-level graph: shapes, constants, order and data flow.

Shapes come from the shape-inferred skeleton (``LoadedModel.inferred``); tensor values from the
real model. Sub-graphs (If/Loop/Scan bodies) are not descended into.
"""
from __future__ import annotations

import heapq

import onnx

from advisor.features.tensors import ConstTable
from advisor.modelio import LoadedModel

# Ops whose output depends only on input *shapes*, so it is known before inference runs.
_SHAPE_OPS = frozenset({"Shape", "Size"})


class GraphView:
    """Shapes, constants, a deterministic topological order and the static/activation split.

    A tensor is *static* when it is a constant or computable from constants and shapes alone
    (e.g. ``Shape -> Gather -> Concat`` chains, or DequantizeLinear of a stored weight); every
    other tensor is an *activation*. A node is a *compute node* when it yields an activation.
    ``dynamic`` becomes True once a shape lookup meets an unknown dimension (counted as 1).
    """

    def __init__(self, lm: LoadedModel) -> None:
        graph = lm.model.graph
        self.model = lm.model
        self.consts = ConstTable(graph)
        self.shapes = _shape_map(lm.inferred, self.consts)
        self.producers: dict[str, onnx.NodeProto] = {o: n for n in graph.node for o in n.output if o}
        self.order: list[onnx.NodeProto] = _topological(list(graph.node))
        self.static = _static_tensors(self.order, self.consts)
        self.compute = [n for n in self.order if not all(o in self.static for o in n.output if o)]
        self.inputs = [i for i in graph.input if i.name not in self.consts]
        self.outputs = [o.name for o in graph.output]
        self.dynamic = any(self.dims(i.name) is None or None in self.dims(i.name) for i in self.inputs)
        self.consumers = _consumers(self.compute)

    def dims(self, name: str) -> list[int | None] | None:
        """Raw dims of ``name`` (None for an unknown dim); None when even the rank is unknown."""
        return self.shapes.get(name)

    def concrete(self, name: str) -> list[int] | None:
        """Dims of ``name`` with unknown dims as 1 (recorded in ``dynamic``); None if rank unknown."""
        dims = self.shapes.get(name)
        if dims is None:
            self.dynamic = True
            return None
        if None in dims:
            self.dynamic = True
        return [1 if d is None else d for d in dims]

    def numel(self, name: str) -> int:
        """Element count of ``name`` (unknown dims and unknown rank count as 1)."""
        n = 1
        for d in self.concrete(name) or []:
            n *= d
        return n

    def is_activation(self, name: str) -> bool:
        return bool(name) and name not in self.static

    def attr(self, node: onnx.NodeProto, name: str, default=None):
        for a in node.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default


def _shape_map(inferred: onnx.ModelProto, consts: ConstTable) -> dict[str, list[int | None]]:
    shapes: dict[str, list[int | None]] = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                               for d in tt.shape.dim]
    for name, t in consts.protos.items():
        shapes[name] = [int(d) for d in t.dims]
    return shapes


def _topological(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """Kahn's order, always taking the earliest-listed ready node (so a sorted graph keeps its order)."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    succ: list[list[int]] = [[] for _ in nodes]
    indeg = [0] * len(nodes)
    for i, n in enumerate(nodes):
        for p in sorted({producer[x] for x in n.input if x in producer and producer[x] != i}):
            succ[p].append(i)
            indeg[i] += 1
    ready = [i for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(ready)
    out: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        out.append(i)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                heapq.heappush(ready, j)
    seen = set(out)
    out.extend(i for i in range(len(nodes)) if i not in seen)  # a cycle: keep the file's order
    return [nodes[i] for i in out]


def _static_tensors(order: list[onnx.NodeProto], consts: ConstTable) -> set[str]:
    static = set(consts.protos)
    for n in order:
        ins = [x for x in n.input if x]
        if n.op_type in _SHAPE_OPS or n.op_type == "Constant" or (ins and all(x in static for x in ins)):
            static.update(o for o in n.output if o)
    return static


def _consumers(compute: list[onnx.NodeProto]) -> dict[str, list[int]]:
    """Activation name -> positions (in ``compute``) of the distinct nodes that read it."""
    out: dict[str, list[int]] = {}
    for i, n in enumerate(compute):
        for x in dict.fromkeys(n.input):
            if x:
                out.setdefault(x, []).append(i)
    return out
