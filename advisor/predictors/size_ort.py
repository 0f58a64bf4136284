"""Size-model replay of onnxruntime's quant_pre_process, on hollow copies.

What the int8 settings' quantizers are handed: symbolic shapes, onnxruntime's basic graph optimisation
(constant folding, Identity removal, scalar sharing, Conv+BN and MatMul+Add fusion) and shape inference.
See advisor.predictors.size.
"""
from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper

from advisor.predictors.size_proto import (
    _dims,
    _drop_unused_initializers,
    _elements,
    _raw_tensor,
    _rename,
    _set_nodes,
)

# Domains onnxruntime's optimiser writes into opset_import when it saves a model.
_ORT_OPSETS = (("ai.onnx.ml", 5), ("ai.onnx.training", 1), ("ai.onnx.preview", 1), ("com.microsoft", 1),
               ("ai.onnx.preview.training", 1), ("com.microsoft.experimental", 1), ("com.microsoft.nchwc", 1),
               ("org.pytorch.aten", 1))
_NOT_FOLDED = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
               "Bernoulli", "QuantizeLinear", "DequantizeLinear", "If", "Loop", "Scan"}


def _pre_process(h: onnx.ModelProto, infos: dict) -> onnx.ModelProto:
    """The graph quant_pre_process hands the quantizer: Constant nodes as initializers, Identity and
    Dropout removed, constant sub-graphs (static Shape chains) folded, equal scalar constants shared,
    Conv+BatchNormalization and MatMul+Add fused, unused initializers dropped. A graph onnxruntime
    changed is re-serialised with every schema-default attribute written out; value_info keeps every
    tensor shape inference ever named (onnxruntime keeps those of removed tensors too)."""
    from advisor.compression.graph_utils import default_opset

    g = h.graph
    before = g.ByteSize()
    inits = {t.name: t for t in g.initializer}
    not_vi = {*inits, *(i.name for i in g.input)}
    _constants_to_initializers(g, inits)
    _drop_identities(g)
    _fold_constants(g, inits, infos)
    _share_scalars(g)
    _fuse_conv_bn(g, inits)
    _fuse_matmul_add(g, inits, infos)
    _drop_unused_initializers(g)
    if g.ByteSize() != before:
        _write_defaults(g, default_opset(h))
    g.ClearField("value_info")
    g.value_info.extend(vi for name, vi in infos.items() if name not in not_vi)
    have = {o.domain for o in h.opset_import}
    h.opset_import.extend(helper.make_opsetid(d, v) for d, v in _ORT_OPSETS if d not in have)
    helper.set_model_props(h, {"onnx.infer": "onnxruntime.quant", "onnx.quant.pre_process": "onnxruntime.quant"})
    return h


def _constants_to_initializers(g, inits: dict) -> None:
    outputs = {o.name for o in g.output}
    keep = []
    for node in g.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        if node.op_type == "Constant" and value is not None and node.output[0] not in outputs:
            g.initializer.append(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(value), node.output[0]))
            inits[node.output[0]] = g.initializer[-1]
        else:
            keep.append(node)
    _set_nodes(g, keep)


def _drop_identities(g) -> None:
    outputs = {o.name for o in g.output}
    keep, rename = [], {}
    for node in g.node:
        if (node.op_type == "Identity" or (node.op_type == "Dropout" and len(node.output) == 1)) and \
                node.output[0] not in outputs:
            rename[node.output[0]] = rename.get(node.input[0], node.input[0])
        else:
            keep.append(node)
    _set_nodes(g, keep)
    _rename(g, rename)


def _fold_constants(g, inits: dict, infos: dict) -> None:
    """Replace every node whose inputs are all constant (or a Shape of a static tensor) by initializers."""
    outputs = {o.name for o in g.output}
    keep = []
    for node in g.node:
        static_shape = node.op_type == "Shape" and _dims(infos.get(node.input[0])) is not None
        outs = [infos.get(o) for o in node.output]
        if node.op_type in _NOT_FOLDED or node.domain not in ("", "ai.onnx") or not node.input or \
                not (static_shape or all(x in inits for x in node.input if x)) or \
                any(_dims(vi) is None for vi in outs) or any(o in outputs for o in node.output):
            keep.append(node)
            continue
        for vi in outs:
            g.initializer.append(_raw_tensor(vi.name, vi.type.tensor_type.elem_type, _dims(vi)))
            inits[vi.name] = g.initializer[-1]
    _set_nodes(g, keep)


def _share_scalars(g) -> None:
    """onnxruntime's ConstantSharing: one-element initializers of equal type and value become one."""
    first: dict = {}
    rename = {}
    for t in g.initializer:
        if _elements(t) == 1 and t.HasField("raw_data"):
            key = (t.data_type, tuple(t.dims), t.raw_data)
            rename[t.name] = first.setdefault(key, t.name)
    _rename(g, {k: v for k, v in rename.items() if k != v})


def _write_defaults(g, opset: int) -> None:
    """Add every attribute the op schema gives a default value and the node leaves out."""
    for node in g.node:
        try:
            schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
        except onnx.defs.SchemaError:
            continue
        have = {a.name for a in node.attribute}
        for name, attr in sorted(schema.attributes.items()):
            if name not in have and attr.default_value.type != onnx.AttributeProto.UNDEFINED:
                node.attribute.append(attr.default_value)


def _only_reader(g, readers: dict, name: str, op_type: str) -> int | None:
    """Index of the only node reading ``name`` (``readers``: name -> node indices) if it is an ``op_type``."""
    users = readers.get(name, [])
    return users[0] if len(users) == 1 and g.node[users[0]].op_type == op_type else None


def _readers(g) -> dict:
    out: dict = {}
    for i, node in enumerate(g.node):
        for x in set(node.input):
            out.setdefault(x, []).append(i)
    return out


def _fuse_conv_bn(g, inits: dict) -> None:
    outputs, readers, count = {o.name for o in g.output}, _readers(g), [0]
    drop = set()
    for conv in g.node:
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in inits or conv.output[0] in outputs:
            continue
        j = _only_reader(g, readers, conv.output[0], "BatchNormalization")
        bn = g.node[j] if j is not None else None
        if bn is None or not all(x in inits for x in bn.input[1:5]) or any(bn.output[1:]):
            continue
        w = inits[conv.input[1]]
        new_w = _raw_tensor(_unique(inits, f"ConvBnFusion_W_{w.name}", count), w.data_type, w.dims)
        new_b = _raw_tensor(_unique(inits, f"ConvBnFusion_BN_B_{bn.input[2]}", count), w.data_type, [w.dims[0]])
        inits[new_w.name], inits[new_b.name] = new_w, new_b
        g.initializer.extend([new_w, new_b])
        conv.input[:] = [conv.input[0], new_w.name, new_b.name]
        conv.output[0] = bn.output[0]
        drop.add(j)
    _set_nodes(g, [n for i, n in enumerate(g.node) if i not in drop])


def _unique(taken, base: str, count: list) -> str:
    """onnxruntime's Graph::GenerateNodeArgName: ``base``, else ``base_token_<n>`` (one counter per graph)."""
    if base not in taken:
        return base
    count[0] += 1
    return f"{base}_token_{count[0] - 1}"


def _fuse_matmul_add(g, inits: dict, infos: dict) -> None:
    """MatMul(A, B[K, N]) + Add(bias[N]) -> Gemm; an A of rank > 2 is reshaped to 2-D and back."""
    replace, drop, readers = {}, set(), _readers(g)
    for i, mm in enumerate(g.node):
        if mm.op_type != "MatMul":
            continue
        a, b = (_dims(infos.get(x)) or (list(inits[x].dims) if x in inits else None) for x in mm.input[:2])
        j = _only_reader(g, readers, mm.output[0], "Add")
        add = g.node[j] if j is not None else None
        bias = next((x for x in add.input if x != mm.output[0]), None) if add is not None else None
        if a is None or b is None or len(b) != 2 or len(a) < 2 or bias not in inits or \
                list(inits[bias].dims) not in ([b[1]], [1, b[1]]):
            continue
        replace[i] = _gemm_nodes(g, mm, add.output[0], bias, a, b[1], len(replace), infos)
        drop.add(j)
    _set_nodes(g, [x for i, n in enumerate(g.node) if i not in drop for x in replace.get(i, [n])])


def _gemm_nodes(g, mm, out: str, bias: str, a: list, n: int, k: int, infos: dict) -> list:
    """The Gemm (plus Reshapes for rank > 2) onnxruntime's MatMulAddFusion writes; k-th fusion's names."""
    def tok(j):  # onnxruntime's unique-name suffixes after the first fusion
        return f"_token_{6 * k + j - 6}" if k else ""

    gemm = {"transA": 0, "alpha": 1.0, "transB": 0, "beta": 1.0}
    if len(a) == 2:
        return [helper.make_node("Gemm", [mm.input[0], mm.input[1], bias], [out], name=f"{mm.name}/MatMulAddFusion",
                                 **gemm)]
    src, dst = f"gemm_input_reshape_arg{tok(1)}", f"gemm_output_reshape_arg{tok(4)}"
    g.initializer.append(_raw_tensor(f"gemm_input_shape{tok(0)}", TensorProto.INT64, [2]))
    g.initializer.append(_raw_tensor(f"gemm_output_shape{tok(3)}", TensorProto.INT64, [len(a)]))
    m = math.prod(a[:-1])
    for name, d in ((src, [m, a[-1]]), (dst, [m, n])):
        infos[name] = helper.make_tensor_value_info(name, TensorProto.FLOAT, d)
    return [helper.make_node("Reshape", [mm.input[0], f"gemm_input_shape{tok(0)}"], [src],
                             name=f"gemm_input_reshape{tok(2)}", allowzero=0),
            helper.make_node("Gemm", [src, mm.input[1], bias], [dst], name=f"{mm.name}/MatMulAddFusion", **gemm),
            helper.make_node("Reshape", [dst, f"gemm_output_shape{tok(3)}"], [out],
                             name=f"gemm_output_reshape{tok(5)}", allowzero=0)]
