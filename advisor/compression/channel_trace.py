"""One forward pass over an ONNX graph that assigns channel Layouts and records pruning edits.

Rules (see channel_groups for the vocabulary): an ordinary Conv (group 1, constant weight) starts a
new space and absorbs pruned input channels; channel-wise ops pass a layout through (slicing their
per-channel parameters); binary ops between two channel tensors union their spaces; Concat on axis
1 concatenates layouts; Flatten/Reshape/Squeeze to ``[N, C*H*W]`` feeding a Gemm/MatMul slice its
weight rows (shape-changing rules live in channel_shape_rules). Any other use of a channel tensor freezes its spaces, so the rewrite is always safe.
"""
from __future__ import annotations

import onnx

from advisor.compression.channel_groups import (
    ChannelGraph,
    Layout,
    attr,
    constant_tensors,
    subgraph_names,
    tensor_shapes,
)
from advisor.compression.channel_shape_rules import ShapeRules
from advisor.modelio import LoadedModel

# Element-wise ops with one data input (extra inputs, like Clip's min/max, are scalars).
_UNARY = frozenset({"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu",
                    "Celu", "Tanh", "Identity", "Dropout", "Softplus", "Softsign", "Gelu", "Erf",
                    "Mish", "Abs", "Neg"})
_POOLS = frozenset({"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
                    "GlobalLpPool"})
_NORMS = {"BatchNormalization": 5, "InstanceNormalization": 3}  # inputs 1.. are per-channel params
_BINARY = frozenset({"Add", "Sub", "Mul", "Div", "PRelu"})
_FLATTENERS = frozenset({"Flatten", "Reshape", "Squeeze"})
_REDUCES = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL1", "ReduceL2"})


def trace(lm: LoadedModel) -> ChannelGraph:
    """Channel spaces, groups, freeze reasons and edits of ``lm`` (reads no weight values)."""
    return _Tracer(lm).run()


class _Tracer(ShapeRules):
    def __init__(self, lm: LoadedModel):
        self.graph = lm.model.graph
        self.consts = constant_tensors(self.graph)
        self.shapes = tensor_shapes(lm.inferred)
        self.layouts: dict[str, Layout] = {}
        self.cg = ChannelGraph()
        self.used = {x for n in self.graph.node for x in n.input} | {o.name for o in self.graph.output}
        for n in self.graph.node:
            self.used |= subgraph_names(n)

    def run(self) -> ChannelGraph:
        for i, node in enumerate(self.graph.node):
            for name in subgraph_names(node):
                self.cg.freeze(self.layouts.get(name), f"used inside {node.op_type} subgraph")
            self._visit(i, node)
        for out in self.graph.output:
            self.cg.freeze(self.layouts.get(out.name), "graph output")
        return self.cg

    def _visit(self, i: int, node: onnx.NodeProto) -> None:
        op = node.op_type
        if op == "Conv":
            self._conv(i, node)
        elif not any(x in self.layouts for x in node.input):
            return
        elif op in _UNARY or op in _POOLS:
            self._pass(node, flat_ok=op in _UNARY)
        elif op in _NORMS:
            self._norm(i, node, _NORMS[op])
        elif op in _BINARY:
            self._binary(i, node)
        elif op == "Concat":
            self._concat(node)
        elif op in _FLATTENERS:
            self._flatten(i, node)
        elif op in _REDUCES:
            self._reduce(i, node)
        elif op in ("Resize", "Upsample"):
            self._resize(i, node)
        elif op == "Pad":
            self._pad(i, node)
        elif op in ("Gemm", "MatMul"):
            self._dense(i, node)
        else:
            self._freeze_inputs(node, f"consumed by {op}")

    # -- helpers ---------------------------------------------------------------------------------
    def _freeze_inputs(self, node: onnx.NodeProto, reason: str, skip: tuple = ()) -> None:
        for k, x in enumerate(node.input):
            if k not in skip:
                self.cg.freeze(self.layouts.get(x), reason)

    def _const_dims(self, name: str):
        t = self.consts.get(name)
        return tuple(int(d) for d in t.dims) if t is not None else None

    def _extra_outputs_used(self, node: onnx.NodeProto) -> bool:
        return any(o and o in self.used for o in node.output[1:])

    def _set(self, node: onnx.NodeProto, layout: Layout) -> None:
        if self._extra_outputs_used(node):
            self.cg.freeze(layout, f"second output of {node.op_type} used")
        self.layouts[node.output[0]] = layout

    # -- rules -----------------------------------------------------------------------------------
    def _conv(self, i: int, node: onnx.NodeProto) -> None:
        lay = self.layouts.get(node.input[0])
        self._freeze_inputs(node, "channel tensor used as Conv weight", skip=(0,))
        wdims = self._const_dims(node.input[1])
        if wdims is None or len(wdims) < 3:
            self.cg.freeze(lay, "Conv weight not constant")
            return
        group = attr(node, "group", 1)
        cout, cin = wdims[0], wdims[1] * group
        has_bias = len(node.input) > 2 and node.input[2] != ""
        if has_bias and node.input[2] not in self.consts:
            self.cg.freeze(lay, "Conv bias not constant")
            return
        if lay is not None and (lay.flat or lay.channels != cin):
            self.cg.freeze(lay, "Conv input shape not understood")
            lay = None
        if group == 1:
            self._source(i, node, lay, cout, has_bias)
        elif lay is not None and group == cin == cout:  # depthwise: channel-preserving
            self.cg.edits[(i, 1)].append((0, lay))
            if has_bias:
                self.cg.edits[(i, 2)].append((0, lay))
            self.cg.group_attrs[i] = lay
            self._set(node, lay)
        else:
            self.cg.freeze(lay, "grouped Conv")

    def _source(self, i: int, node: onnx.NodeProto, lay: Layout | None, cout: int, has_bias: bool) -> None:
        if lay is not None:
            self.cg.edits[(i, 1)].append((1, lay))
        out = Layout(((self.cg.new_space(cout, i), cout),))
        self.cg.edits[(i, 1)].append((0, out))
        if has_bias:
            self.cg.edits[(i, 2)].append((0, out))
        self._set(node, out)

    def _pass(self, node: onnx.NodeProto, flat_ok: bool) -> None:
        lay = self.layouts.get(node.input[0])
        self._freeze_inputs(node, f"non-data input of {node.op_type}", skip=(0,))
        if lay is None:
            return
        if lay.flat and not flat_ok:
            self.cg.freeze(lay, f"flattened channels into {node.op_type}")
            return
        self._set(node, lay)

    def _norm(self, i: int, node: onnx.NodeProto, n_inputs: int) -> None:
        lay = self.layouts.get(node.input[0])
        self._freeze_inputs(node, f"parameter of {node.op_type}", skip=(0,))
        if lay is None:
            return
        params = range(1, min(n_inputs, len(node.input)))
        if lay.flat or any(node.input[k] not in self.consts for k in params):
            self.cg.freeze(lay, f"{node.op_type} parameters not constant")
            return
        for k in params:
            self.cg.edits[(i, k)].append((0, lay))
        if node.op_type == "BatchNormalization":
            self.cg.norms.append((i, lay))
        self._set(node, lay)

    def _binary(self, i: int, node: onnx.NodeProto) -> None:
        a, b = (self.layouts.get(x) for x in node.input[:2])
        if a is not None and b is not None:
            self._join(node, a, b)
        elif a is not None:
            self._broadcast(i, node, a, 1)
        else:
            self._broadcast(i, node, b, 0)

    def _join(self, node: onnx.NodeProto, a: Layout, b: Layout) -> None:
        """Two channel tensors meet element-wise: their spaces must keep identical indices."""
        ranks = {len(self.shapes.get(x, ())) for x in (*node.input[:2], node.output[0])}
        same = (a.inner, a.flat, [n for _, n in a.segments]) == (b.inner, b.flat, [n for _, n in b.segments])
        if not same or len(ranks) != 1:
            self.cg.freeze(a, f"mismatched channel layouts in {node.op_type}")
            self.cg.freeze(b, f"mismatched channel layouts in {node.op_type}")
            return
        segs = []
        for (sa, n), (sb, _) in zip(a.segments, b.segments, strict=True):
            if sa is not None and sb is not None:
                self.cg.union(sa, sb)
            elif sa is not None or sb is not None:
                self.cg.freeze_space(sa if sa is not None else sb, "added to unprunable channels")
            segs.append((sa if sa is not None else sb, n))
        self._set(node, Layout(tuple(segs), a.inner, a.flat))

    def _broadcast(self, i: int, node: onnx.NodeProto, lay: Layout, other_index: int) -> None:
        """A channel tensor meets a tensor without a layout: per-channel constant, or broadcast."""
        other = node.input[other_index]
        dims = self._const_dims(other) or self.shapes.get(other)
        rank = len(self.shapes.get(node.input[1 - other_index], ()))
        out_rank = len(self.shapes.get(node.output[0], ()))
        if dims is None or rank == 0 or out_rank != rank:
            self.cg.freeze(lay, f"unknown broadcast in {node.op_type}")
            return
        axis = 1 - (rank - len(dims))  # the other tensor's axis aligned with the channel axis
        if axis < 0 or dims[axis] == 1:
            self._set(node, lay)
        elif dims[axis] == lay.channels and not lay.flat and other in self.consts:
            self.cg.edits[(i, other_index)].append((axis, lay))
            self._set(node, lay)
        else:
            self.cg.freeze(lay, f"per-channel operand of {node.op_type} not constant")

    def _concat(self, node: onnx.NodeProto) -> None:
        rank = len(self.shapes.get(node.output[0], ()))
        axis = attr(node, "axis", 1)
        axis = axis + rank if axis < 0 else axis
        lays = [self.layouts.get(x) for x in node.input]
        widths = [self.shapes.get(x, (None, None))[1] if len(self.shapes.get(x, ())) > 1 else None
                  for x in node.input]
        bad = any(lay is None and w is None or lay is not None and lay.flat for lay, w in zip(lays, widths, strict=True))
        if axis != 1 or rank < 3 or bad:
            self._freeze_inputs(node, "Concat off the channel axis")
            return
        segs = []
        for lay, w in zip(lays, widths, strict=True):
            segs.extend(lay.segments if lay is not None else ((None, w),))
        self._set(node, Layout(tuple(segs)))

    def _dense(self, i: int, node: onnx.NodeProto) -> None:
        lay = self.layouts.get(node.input[0])
        self._freeze_inputs(node, f"weight of {node.op_type}", skip=(0,))
        wdims = self._const_dims(node.input[1])
        axis = 1 if node.op_type == "Gemm" and attr(node, "transB", 0) else 0
        ok = (lay is not None and lay.flat and wdims is not None and len(wdims) == 2
              and wdims[axis] == lay.channels * lay.inner and attr(node, "transA", 0) == 0)
        if not ok:
            self.cg.freeze(lay, f"{node.op_type} input not a flattened channel tensor")
            return
        self.cg.edits[(i, 1)].append((axis, lay))
