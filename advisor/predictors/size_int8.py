"""Size-model replays of onnxruntime's quantize_dynamic and quantize_static (QDQ), on hollow copies.

Both read the graph size_ort's quant_pre_process replay writes. See advisor.predictors.size.
"""
from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper

from advisor.predictors.size_proto import (
    _dims,
    _drop_unused_initializers,
    _hollow_tensor,
    _is_float,
    _is_hollow,
    _raw_tensor,
    _rename,
    _set_nodes,
    _vlen,
    payload_bytes,
)


def _finish_quant(p: onnx.ModelProto, new_inits: list, new_nodes: list, removed: set, replaced=()) -> onnx.ModelProto:
    """Swap in the quantizer's nodes and tensors, drop what nothing reads (and ``replaced``), stamp the producer."""
    g = p.graph
    _set_nodes(g, [n for i, n in enumerate(g.node) if i not in removed] + new_nodes)
    g.initializer.extend(new_inits)
    _drop_unused_initializers(g, also=replaced)
    p.producer_name, p.producer_version = "onnx.quantize", "0.1.0"
    return p


def _scale_zero_point(name: str, dims: list, zero_point: int = 0) -> list:
    """Stand-ins, byte for byte, for the ``{name}_scale`` (float32) and ``{name}_zero_point`` (int8)
    tensors helper.make_tensor writes: packed float_data / int32_data cost what raw_data of the same
    length costs (4 bytes a scale; a zero point's varint: 1 byte, 10 when negative)."""
    n = math.prod(dims)
    scale, zp = _hollow_tensor(f"{name}_scale", TensorProto.FLOAT, dims), \
        _hollow_tensor(f"{name}_zero_point", TensorProto.INT8, dims)
    scale.raw_data, zp.raw_data = bytes(4 * n), bytes(n * (10 if zero_point < 0 else _vlen(zero_point)))
    return [scale, zp]


def _dynamic(p: onnx.ModelProto, infos: dict) -> onnx.ModelProto:
    """quantize_dynamic(op_types_to_quantize=[MatMul, Attention, LSTM], QInt8): Gemm becomes MatMul + Add,
    MatMul with a constant B becomes DynamicQuantizeLinear + MatMulInteger + Cast + 2 Mul, LSTM becomes
    DynamicQuantizeLSTM; int8 weights, one scale each."""
    g = p.graph
    _gemm_to_matmul(g, infos)
    for t in g.initializer:  # saved as external data and read back: data_location becomes explicit
        if (t.HasField("raw_data") or _is_hollow(t)) and payload_bytes(t) + 33 >= 1024:
            t.data_location = TensorProto.DEFAULT  # (onnx's threshold: sys.getsizeof(raw_data) >= 1024)
    inits = {t.name: t for t in g.initializer}
    new_inits, nodes, done = [], [], set()
    for node in g.node:
        if node.op_type == "MatMul" and node.input[1] in inits and node.input[0] not in inits and \
                _is_float(infos.get(node.input[0])):
            nodes += _matmul_integer(node, inits, new_inits, done)
        elif node.op_type == "LSTM" and all(x in inits and len(inits[x].dims) == 3 for x in node.input[1:3]):
            nodes.append(_dynamic_lstm(node, inits, new_inits))
        else:
            nodes.append(node)
    return _finish_quant(p, new_inits, nodes, set(range(len(g.node))))


def _gemm_to_matmul(g, infos: dict) -> None:
    """onnx_model.replace_gemm_with_matmul: Gemm (alpha = beta = 1, no transA) -> MatMul (+ Add)."""
    inits = {t.name: t for t in g.initializer}
    nodes = []
    for node in g.node:
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        if node.op_type != "Gemm" or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
            nodes.append(node)
            continue
        b = node.input[1]
        if a.get("transB", 0) and b in inits:
            g.initializer.append(_raw_tensor(f"{b}_Transposed", inits[b].data_type, inits[b].dims[::-1]))
        elif a.get("transB", 0):
            nodes.append(helper.make_node("Transpose", [b], [f"{b}_Transposed"], name=f"{node.name}_Transpose"))
        b = f"{b}_Transposed" if a.get("transB", 0) else b
        out = node.output[0] + ("_MatMul" if len(node.input) > 2 else "")
        nodes.append(helper.make_node("MatMul", [node.input[0], b], [out], name=f"{node.name}_MatMul"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [out, node.input[2]], [node.output[0]], name=f"{node.name}_Add"))
            infos[out] = helper.make_tensor_value_info(out, TensorProto.FLOAT, _dims(infos.get(node.output[0])))
            g.value_info.append(infos[out])
    _set_nodes(g, nodes)


def _matmul_integer(node, inits: dict, new_inits: list, done: set) -> list:
    a, b, out, name = node.input[0], node.input[1], node.output[0], node.name
    nodes = []
    if a not in done:
        nodes.append(helper.make_node("DynamicQuantizeLinear", [a], [f"{a}_quantized", f"{a}_scale", f"{a}_zero_point"],
                                      name=f"{a}_QuantizeLinear"))
        done.add(a)
    if b not in done:
        new_inits += [_raw_tensor(f"{b}_quantized", TensorProto.INT8, inits[b].dims), *_scale_zero_point(b, [])]
        done.add(b)
    q = f"{out}_output_quantized"
    return nodes + [
        helper.make_node("MatMulInteger", [f"{a}_quantized", f"{b}_quantized", f"{a}_zero_point", f"{b}_zero_point"],
                         [q], name=f"{name}_quant"),
        helper.make_node("Cast", [q], [f"{q}_cast_output"], name=f"{q}_cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", [f"{a}_scale", f"{b}_scale"], [f"{name}_quant_scales_mul:0"],
                         name=f"{name}_quant_scales_mul"),
        helper.make_node("Mul", [f"{q}_cast_output", f"{name}_quant_scales_mul:0"], [out],
                         name=f"{name}_quant_output_scale_mul")]


def _dynamic_lstm(node, inits: dict, new_inits: list):
    inputs = [node.input[0]]
    for x in node.input[1:3]:
        d, gates, size = inits[x].dims
        new_inits += [_raw_tensor(f"{x}_quantized", TensorProto.INT8, [d, size, gates]), *_scale_zero_point(x, [d])]
        inputs.append(f"{x}_quantized")
    inputs += [node.input[i] if len(node.input) > i else "" for i in range(3, 8)]
    inputs += [f"{x}_{k}" for x in node.input[1:3] for k in ("scale", "zero_point")]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "layout"}
    return helper.make_node("DynamicQuantizeLSTM", inputs, node.output, name=f"{node.name}_quant",
                            domain="com.microsoft", **attrs)


# Op types quantize_static's QDQ pass visits (onnxruntime's QLinear and QDQ registries), by handler.
_QDQ_SHARED = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "AveragePool", "Slice", "TopK", "MaxPool",
               "Resize"}
_QDQ_OTHER = {"ArgMax", "Add", "Mul", "LeakyRelu", "Sigmoid", "GlobalAveragePool", "Concat", "Softmax", "CumSum",
              "EmbedLayerNormalization", "Pad", "Split", "Where", "Gather", "GatherElements", "Relu", "Clip",
              "InstanceNormalization", "LayerNormalization", "BatchNormalization"}
_WEIGHT_AXIS = {"Conv": 0, "ConvTranspose": 1}
_ACT_ZERO_POINT = -128  # unknown before calibration; ReLU outputs get -128 (a 10-byte varint)


class _QdqMarks:
    """QDQQuantizer.quantize_model's marking pass: tensors that get Q/DQ, weights (with per-channel
    axis), tensors sharing an upstream tensor's scale, int32 biases, Relu/Clip folded upstream."""

    def __init__(self, g, infos: dict, per_channel: bool):
        self.g, self.per_channel = g, per_channel
        self.inits = {t.name: t for t in g.initializer}
        self.floats = {n for n, vi in infos.items() if _is_float(vi)} | \
            {n for n, t in self.inits.items() if t.data_type == TensorProto.FLOAT}
        self.marks: dict = {}  # tensor -> ("act",) | ("weight", axis) | ("share", provider)
        self.bias: dict = {}  # bias -> its weight
        self.removed: set = set()  # node indices
        self.renamed: dict = {}  # producer output -> new name (a removed Relu's output)
        self.io = {v.name for v in [*g.input, *g.output]}
        self.readers: dict = {}
        for node in g.node:
            for x in node.input:
                self.readers[x] = self.readers.get(x, 0) + 1

    def run(self) -> _QdqMarks:
        for i, node in enumerate(self.g.node):
            op = node.op_type
            if op in _WEIGHT_AXIS or op in ("Gemm", "MatMul"):
                self._weighted(node)
            elif op in _QDQ_SHARED:
                if self._quantized(node.input[0]):
                    self._share(node.output[0], node.input[0])
            elif op in _QDQ_OTHER:
                self._other(i, node)
        return self

    def _act(self, name: str) -> None:
        if name in self.floats and name not in self.marks:
            self.marks[name] = ("act",)

    def _weight(self, name: str, axis) -> None:
        if name in self.inits and name in self.floats:
            rank = len(self.inits[name].dims)
            self.marks[name] = ("weight", axis if self.per_channel and axis is not None and axis < rank else None)

    def _share(self, name: str, provider: str) -> None:
        if name in self.floats:
            self.marks[name] = ("share", provider)

    def _bias(self, node, slot: int) -> None:
        """The bias in ``node.input[slot]``, quantized with its node's weight (``node.input[1]``). A bias
        another node already reads is copied first (``<name>0``, ``<name>1``, ...: the quantizer's
        _dup_initializer), since its scale is each reader's own."""
        name = node.input[slot]
        if name in self.bias:
            k = sum(1 for b in self.bias if b[len(name):].isdigit() and b.startswith(name) and b != name)
            dup = onnx.TensorProto()
            dup.CopyFrom(self.inits[name])
            dup.name = f"{name}{k}"
            self.inits[dup.name] = dup
            node.input[slot] = name = dup.name
        self.bias[name] = node.input[1]

    def _quantized(self, name: str) -> bool:
        return name in self.marks or name in self.bias

    def _weighted(self, node) -> None:
        if node.op_type == "MatMul":
            for x in [*node.input, *node.output]:
                self._weight(x, 1) if x in self.inits else self._act(x)
            return
        self._act(node.input[0])
        self._act(node.output[0])
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        self._weight(node.input[1], _WEIGHT_AXIS.get(node.op_type, 0 if trans_b else 1))
        if len(node.input) > 2 and node.input[2] in self.inits and node.input[2] in self.floats:
            self._bias(node, 2)

    def _other(self, i: int, node) -> None:
        op, x, y = node.op_type, node.input[0], node.output[0]
        if op in ("Relu", "Clip"):
            if not self._quantized(x):
                return
            if y in self.floats and x not in self.io and self.readers.get(x) == 1:
                self.removed.add(i)  # the producer now writes y directly
                self.renamed[x] = y
                self.marks.pop(x, None)
            else:
                self._act(x)
            self._act(y)
        elif op in ("Gather", "GatherElements"):
            if x in self.inits:
                self._act(x)
            if self._quantized(x):
                self._share(y, x)
        elif op in ("Split", "Pad"):
            for name in node.input if op == "Pad" else [x]:
                self._act(name)
            for out in node.output:
                self._share(out, x)
        elif op.endswith("Normalization") and op != "EmbedLayerNormalization":
            self._act(x)
            self._weight(node.input[1], 1) if node.input[1] in self.inits else self._act(node.input[1])
            if len(node.input) > 2 and node.input[2] in self.inits:
                self._bias(node, 2)
            for out in node.output:
                self._act(out)
        elif op == "Where":
            if self._quantized(node.input[1]) and self._quantized(node.input[2]):
                self._act(y)
        else:
            for name in [*node.input, *node.output]:
                self._act(name)


def _static(p: onnx.ModelProto, infos: dict, per_channel: bool) -> onnx.ModelProto:
    """quantize_static(QDQ, int8 weights and activations): Q/DQ pairs on activations, int8 weights with
    float32 scales (per output channel or per tensor), int32 biases with scales shaped like their weight's."""
    g = p.graph
    marks = _QdqMarks(g, infos, per_channel).run()
    new_inits, nodes, ins, outs = [], [], {}, dict(marks.renamed)
    channels = {name: _int8_weight(name, marks.inits[name], mark, new_inits, nodes, ins)
                for name, mark in marks.marks.items() if name in marks.inits}
    for name, mark in marks.marks.items():
        if name in marks.inits:
            continue
        if mark[0] == "act":
            new_inits += _scale_zero_point(name, [], _ACT_ZERO_POINT)
        root = name
        while marks.marks.get(root, ("act",))[0] == "share":
            root = marks.marks[root][1]
        nodes += _qdq_pair(g, name, root, ins, outs)
    _rename(g, ins, outs)
    for bias, weight in marks.bias.items():
        nodes.append(_int32_bias(bias, marks.inits[bias], channels.get(weight, []), new_inits))
    return _finish_quant(p, new_inits, nodes, marks.removed, replaced=set(marks.bias))


def _int8_weight(name: str, t: TensorProto, mark: tuple, new_inits: list, nodes: list, ins: dict) -> list:
    """A weight (or constant input) stored int8 behind a DequantizeLinear; returns its scale's dims."""
    axis = mark[1] if mark[0] == "weight" else None
    dims = [t.dims[axis]] if axis is not None else []
    new_inits += [_raw_tensor(f"{name}_quantized", TensorProto.INT8, t.dims), *_scale_zero_point(name, dims)]
    ins[name] = f"{name}_DequantizeLinear_Output"
    nodes.append(helper.make_node("DequantizeLinear", [f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"],
                                  [ins[name]], name=f"{name}_DequantizeLinear", axis=axis))
    return dims


def _qdq_pair(g, name: str, root: str, ins: dict, outs: dict) -> list:
    """QuantizeLinear + DequantizeLinear on activation ``name`` with ``root``'s scale and zero point;
    records the renames: readers take the DQ output, or a graph output's producer writes the Q input."""
    q_in, dq_out = name, f"{name}_DequantizeLinear_Output"
    if any(o.name == name for o in g.output):
        q_in, dq_out = f"{name}_QuantizeLinear_Input", name
        outs[next((k for k, v in outs.items() if v == name), name)] = q_in
    else:
        ins[name] = dq_out
    scale, zp = f"{root}_scale", f"{root}_zero_point"
    return [helper.make_node("QuantizeLinear", [q_in, scale, zp], [f"{name}_QuantizeLinear_Output"],
                             name=f"{name}_QuantizeLinear"),
            helper.make_node("DequantizeLinear", [f"{name}_QuantizeLinear_Output", scale, zp], [dq_out],
                             name=f"{name}_DequantizeLinear")]


def _int32_bias(name: str, bias: TensorProto, channels: list, new_inits: list):
    """int32 bias, scale input_scale * weight_scale (its weight's scale shape), zero point 0."""
    n = channels[0] if channels else 1
    new_inits.append(_raw_tensor(f"{name}_quantized", TensorProto.INT32, bias.dims))
    new_inits.append(_raw_tensor(f"{name}_quantized_scale", TensorProto.FLOAT, [n]))
    new_inits.append(_raw_tensor(f"{name}_quantized_zero_point", TensorProto.INT32, [n]) if n > 1 else
                     helper.make_tensor(f"{name}_quantized_zero_point", TensorProto.INT32, [], [0]))
    return helper.make_node("DequantizeLinear", [f"{name}_quantized", f"{name}_quantized_scale",
                                                 f"{name}_quantized_zero_point"], [name],
                            name=f"{name}_DequantizeLinear", axis=0 if n > 1 else None)
