"""Per-node arithmetic cost: multiply-accumulates (MACs) by category, and elementwise operations.

MACs rules (shapes from the inferred graph, unknown dims counted as 1):
Conv = N*Cout*Hout*Wout*(Cin/group)*kh*kw; ConvTranspose = N*Cin*Hin*Win*(Cout/group)*kh*kw;
Gemm/MatMul = elements of the output * K; LSTM/GRU/RNN = seq*batch*dirs*gates*hidden*(input+hidden)
with 4/3/1 gates. Elementwise ops count one operation per output element (pools: per window
element; global pools and reductions: per input element).
"""
from __future__ import annotations

from dataclasses import dataclass

import onnx

from advisor.features.graph import GraphView

CATEGORIES = ("conv", "conv_depthwise", "conv_grouped", "gemm", "matmul_dynamic", "recurrent", "elementwise")
MAC_CATEGORIES = CATEGORIES[:-1]  # "elementwise" holds operations, not multiply-accumulates

# op -> (input positions that may hold a weight, bias position or None)
WEIGHT_SLOTS: dict[str, tuple[tuple[int, ...], int | None]] = {
    "Conv": ((1,), 2), "FusedConv": ((1,), 2), "ConvInteger": ((1,), None), "QLinearConv": ((3,), 8),
    "ConvTranspose": ((1,), 2),
    "Gemm": ((1, 0), 2), "FusedGemm": ((1, 0), 2), "MatMul": ((1, 0), None), "FusedMatMul": ((1, 0), None),
    "MatMulInteger": ((1, 0), None), "QLinearMatMul": ((3, 0), None), "QGemm": ((3, 0), 6),
    "LSTM": ((1, 2), 3), "GRU": ((1, 2), 3), "RNN": ((1, 2), 3),
}
_CONV = frozenset({"Conv", "FusedConv", "ConvInteger", "QLinearConv"})
GEMM_LIKE = frozenset({"Gemm", "FusedGemm", "QGemm"})
_MATMUL = GEMM_LIKE | {"MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul"}
# Operand positions (A, B) where they are not (0, 1).
_AB = {"QLinearMatMul": (0, 3), "QGemm": (0, 3)}
# Inputs that are quantization scales or zero points, not parameters of the model.
QUANT_PARAM_SLOTS: dict[str, tuple[int, ...]] = {
    "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2), "ConvInteger": (2, 3), "MatMulInteger": (2, 3),
    "QLinearConv": (1, 2, 4, 5, 6, 7), "QLinearMatMul": (1, 2, 4, 5, 6, 7), "QGemm": (1, 2, 4, 5, 7, 8),
}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}

ELEMENTWISE = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid",
    "HardSigmoid", "HardSwish", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Clip",
    "Gelu", "FastGelu", "QuickGelu", "BiasGelu", "Softplus", "Softsign", "Mish", "Sin", "Cos", "Floor",
    "Ceil", "Round", "Sign", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Less", "Greater", "LessOrEqual",
    "GreaterOrEqual", "And", "Or", "Not", "Xor", "ThresholdedRelu", "Shrink", "IsNaN", "IsInf", "BiasAdd",
})
NORM = frozenset({
    "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
    "LpNormalization", "MeanVarianceNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization", "RMSNormalization", "LRN",
})
SOFTMAX = frozenset({"Softmax", "LogSoftmax", "Hardmax"})
_WINDOW_POOL = frozenset({"MaxPool", "AveragePool", "LpPool"})
_INPUT_POOL = frozenset({
    "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum",
    "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax",
    "ArgMin",
})
POOL = _WINDOW_POOL | _INPUT_POOL
RESHAPE_LIKE = frozenset({
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Slice", "Split", "Gather",
    "GatherElements", "GatherND", "Expand", "Tile", "Cast", "CastLike", "Pad", "DepthToSpace", "SpaceToDepth",
    "Dropout", "Shape", "Size", "ConstantOfShape", "Resize", "Upsample", "ScatterND", "ScatterElements",
    "Concat", "Range", "NonZero", "TopK",
})
QUANT = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})


@dataclass(frozen=True)
class NodeCost:
    """Cost of one node: ``macs`` in its MAC ``category`` (None if none) and ``ew_ops`` operations."""

    category: str | None = None
    macs: int = 0
    ew_ops: int = 0


def weight_positions(node: onnx.NodeProto, view: GraphView) -> list[int]:
    """Positions of ``node``'s inputs that hold static weights (empty when it has none)."""
    slots = WEIGHT_SLOTS.get(node.op_type)
    if slots is None:
        return []
    found = [i for i in slots[0] if i < len(node.input) and node.input[i] and node.input[i] in view.static]
    if node.op_type in _MATMUL:
        return found[:1]  # one operand of a product is its weight; B preferred
    return found


def node_cost(node: onnx.NodeProto, view: GraphView) -> NodeCost:
    """MACs and elementwise operations of a compute node (static nodes are folded: cost them nothing)."""
    op = node.op_type
    try:
        if op in _CONV:
            w_idx = WEIGHT_SLOTS[op][0][0]
            return _conv(node, view, w_idx)
        if op == "ConvTranspose":
            return _conv_transpose(node, view)
        if op in _MATMUL:
            return _matmul(node, view)
        if op in _GATES:
            return _recurrent(node, view)
        return NodeCost(None, 0, _ew_ops(node, view))
    except (IndexError, ValueError, TypeError):  # a malformed node costs nothing rather than failing
        view.dynamic = True
        return NodeCost()


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n


def _conv_category(group: int, w: list[int]) -> str:
    if group > 1 and len(w) > 1 and w[1] == 1:
        return "conv_depthwise"
    return "conv_grouped" if group > 1 else "conv"


def _conv(node: onnx.NodeProto, view: GraphView, w_idx: int) -> NodeCost:
    w = view.concrete(node.input[w_idx]) or [1, 1]
    out = view.concrete(node.output[0]) or [1, w[0]]
    group = int(view.attr(node, "group", 1))
    return NodeCost(_conv_category(group, w), _prod(out) * _prod(w[1:]))


def _conv_transpose(node: onnx.NodeProto, view: GraphView) -> NodeCost:
    w = view.concrete(node.input[1]) or [1, 1]
    x = view.concrete(node.input[0]) or [1, w[0]]
    group = int(view.attr(node, "group", 1))
    return NodeCost(_conv_category(group, w), _prod(x) * _prod(w[1:]))


def _matmul(node: onnx.NodeProto, view: GraphView) -> NodeCost:
    a_idx, b_idx = _AB.get(node.op_type, (0, 1))
    a, b = view.concrete(node.input[a_idx]), view.concrete(node.input[b_idx])
    if node.op_type in GEMM_LIKE:
        a = a[::-1] if a and len(a) == 2 and view.attr(node, "transA", 0) else a
        b = b[::-1] if b and len(b) == 2 and view.attr(node, "transB", 0) else b
    if a:
        k = a[-1]
    else:
        k = (b[-2] if len(b) >= 2 else b[0]) if b else 1
    out = view.concrete(node.output[0])
    if out is not None:
        n_out = _prod(out)
    else:  # no inferred output shape (e.g. com.microsoft ops): rows of A times columns of B
        n_out = _prod((a or [1])[:-1]) * ((b or [1])[-1] if b and len(b) >= 2 else 1)
    static = view.static
    category = "gemm" if node.input[a_idx] in static or node.input[b_idx] in static else "matmul_dynamic"
    return NodeCost(category, n_out * k)


def _recurrent(node: onnx.NodeProto, view: GraphView) -> NodeCost:
    x = view.concrete(node.input[0]) or [1, 1, 1]
    seq, batch = (x[1], x[0]) if view.attr(node, "layout", 0) else (x[0], x[1])
    w, r = view.concrete(node.input[1]), view.concrete(node.input[2])
    if w is not None and r is not None and len(w) == 3 and len(r) == 3:
        dirs, gates_hidden, n_in, hidden = w[0], w[1], w[2], r[2]
    else:
        hidden = int(view.attr(node, "hidden_size", 1))
        dirs = 2 if view.attr(node, "direction", b"forward") in (b"bidirectional", "bidirectional") else 1
        gates_hidden, n_in = _GATES[node.op_type] * hidden, x[-1]
    return NodeCost("recurrent", seq * batch * dirs * gates_hidden * (n_in + hidden))


def _ew_ops(node: onnx.NodeProto, view: GraphView) -> int:
    op = node.op_type
    if op in ELEMENTWISE or op in NORM or op in SOFTMAX:
        return view.numel(node.output[0]) if node.output else 0
    if op in _WINDOW_POOL:
        return view.numel(node.output[0]) * _prod(view.attr(node, "kernel_shape", []) or [1])
    if op in _INPUT_POOL:
        return view.numel(node.input[0]) if node.input else 0
    return 0
