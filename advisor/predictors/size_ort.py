"""Size-model replay of onnxruntime's quant_pre_process, on hollow copies.

What the int8 settings' quantizers are handed: symbolic shapes, onnxruntime's basic graph optimisation
(constant folding, Identity removal, scalar sharing, Conv+BN and MatMul+Add fusion, transposes pushed
through residual sums, chained Reshapes merged) and shape inference.
See advisor.predictors.size.
"""
from __future__ import annotations

import collections
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
    Conv+BatchNormalization and MatMul+Add fused (not the attention projections onnxruntime keeps for
    its attention fusion), Transposes pushed through sums of two Transposes where they then cancel,
    chained Reshapes merged, unused initializers dropped. A graph onnxruntime
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
    _push_transposes(g, infos)
    _merge_reshapes(g, inits, infos)
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
    """MatMul(A, B[K, N]) + Add(bias[N]) -> Gemm; an A of rank > 2 is reshaped to 2-D and back, except in
    what onnxruntime keeps for its attention fusion (``_attention_pairs``)."""
    replace, drop, readers = {}, set(), _readers(g)
    keep = _attention_pairs(g, readers)
    for i, mm in enumerate(g.node):
        if mm.op_type != "MatMul":
            continue
        a, b = (_dims(infos.get(x)) or (list(inits[x].dims) if x in inits else None) for x in mm.input[:2])
        j = _only_reader(g, readers, mm.output[0], "Add")
        add = g.node[j] if j is not None else None
        bias = next((x for x in add.input if x != mm.output[0]), None) if add is not None else None
        if a is None or b is None or len(b) != 2 or len(a) < 2 or bias not in inits or (len(a) > 2 and i in keep) or \
                list(inits[bias].dims) not in ([b[1]], [1, b[1]]):
            continue
        replace[i] = _gemm_nodes(g, mm, add.output[0], bias, a, b[1], len(replace), infos)
        drop.add(j)
    _set_nodes(g, [x for i, n in enumerate(g.node) if i not in drop for x in replace.get(i, [n])])


_PUSHED = frozenset({"Add", "Sub", "Mul", "Div"})


def _push_transposes(g, infos: dict) -> None:
    """onnxruntime's transpose optimizer, for the pattern it rewrites in the zoo's channels-last blocks
    (ConvNeXt: Transpose -> LayerNorm -> ... -> Transpose back, summed with a transposed residual): a
    binary elementwise op whose two inputs are Transposes of one permutation computes on their inputs
    and is transposed after, and a Transpose reading a Transpose of the inverse permutation cancels.
    So a residual stream stays channels-last, and the Transpose into each block is read by the block's
    convolution alone (which then fuses with its quantize / de-quantize pair)."""
    outputs, count = {o.name for o in g.output}, [0]
    tensors = {x for n in g.node for x in [*n.input, *n.output]}  # a new tensor is named after its node
    names = {n.name for n in g.node}
    producer = {o: n for n in g.node for o in n.output}
    readers = {x: [g.node[j] for j in js] for x, js in _readers(g).items()}
    nodes = []
    for node in g.node:
        ts = [producer.get(x) for x in node.input]
        if _pushable(node, ts) and node.output[0] not in outputs and _pays(node, _perm(ts[0]), readers, producer) \
                and _dims(infos.get(ts[0].input[0])) is not None \
                and _dims(infos.get(ts[0].input[0])) == _dims(infos.get(ts[1].input[0])):
            new = _unique(tensors, node.name or node.output[0], count)
            tensors.add(new)
            vi = infos[ts[0].input[0]]
            infos[new] = helper.make_tensor_value_info(new, vi.type.tensor_type.elem_type, _dims(vi))
            out = node.output[0]
            node.input[:] = [t.input[0] for t in ts]
            node.output[0] = new
            name = _unique(names, "Transpose", count)
            names.add(name)
            t = helper.make_node("Transpose", [new], [out], name=name, perm=_perm(ts[0]))
            producer[new], producer[out] = node, t
            nodes += [node, t]
            continue
        nodes.append(node)
    _set_nodes(g, nodes)
    _cancel_transposes(g, outputs)


def _pushable(node, ts: list) -> bool:
    """A binary elementwise op whose two inputs are Transposes of one permutation."""
    return node.op_type in _PUSHED and len(ts) == 2 and all(t is not None and t.op_type == "Transpose" for t in ts) \
        and _perm(ts[0]) is not None and _perm(ts[0]) == _perm(ts[1])


def _pays(node, perm: list, readers: dict, producer: dict) -> bool:
    """Whether the Transpose a push leaves after ``node`` goes on: a reader cancels it (the inverse
    Transpose) or pushes it further (the same kind of op with its other input transposed alike).
    onnxruntime left a MLP-Mixer's token-mixing sum, whose output feeds a LayerNorm and a sum with an
    untransposed input, as it was; it moved every ConvNeXt stage's residual stream."""
    for r in readers.get(node.output[0], []):
        if r.op_type == "Transpose" and _inverse(perm, _perm(r)):
            return True
        other = [producer.get(x) for x in r.input if x != node.output[0]]
        if r.op_type in _PUSHED and len(other) == 1 and other[0] is not None and other[0].op_type == "Transpose" \
                and _perm(other[0]) == perm:
            return True
    return False


def _perm(node) -> list | None:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)


def _inverse(p: list | None, q: list | None) -> bool:
    """Whether transposing by ``p`` and then by ``q`` is the identity (both permutations of one rank)."""
    if p is None or q is None or len(p) != len(q) or sorted(p) != list(range(len(p))) or sorted(q) != sorted(p):
        return False
    return [p[i] for i in q] == list(range(len(p)))


def _cancel_transposes(g, outputs: set) -> None:
    """Transpose(Transpose(x, p), q) with q after p the identity: its readers read x; a Transpose
    nobody reads any more is dropped."""
    producer = {o: n for n in g.node for o in n.output}
    rename = {}
    for node in g.node:
        first = producer.get(node.input[0]) if node.op_type == "Transpose" else None
        if first is None or first.op_type != "Transpose" or node.output[0] in outputs:
            continue
        if _inverse(_perm(first), _perm(node)):
            rename[node.output[0]] = first.input[0]
    if not rename:
        return
    _set_nodes(g, [n for n in g.node if n.output[0] not in rename])
    _rename(g, rename)
    read = {x for n in g.node for x in n.input} | outputs
    _set_nodes(g, [n for n in g.node if n.op_type != "Transpose" or n.output[0] in read])


def _merge_reshapes(g, inits: dict, infos: dict) -> None:
    """onnxruntime's fusion of a Reshape read only by another Reshape whose output shape is known: one
    Reshape (``<first>_new_reshape``) to that shape (``<first>_new_shape``)."""
    outputs = {o.name for o in g.output}
    while True:
        readers = _readers(g)
        pair = None
        for i, a in enumerate(g.node):
            j = _only_reader(g, readers, a.output[0], "Reshape") if a.op_type == "Reshape" else None
            if j is not None and a.output[0] not in outputs and _dims(infos.get(g.node[j].output[0])) is not None \
                    and all(d > 0 for d in _dims(infos[g.node[j].output[0]])):
                pair = (i, j)
                break
        if pair is None:
            return
        a, b = g.node[pair[0]], g.node[pair[1]]
        dims = _dims(infos[b.output[0]])
        shape = _raw_tensor(f"{a.name}_new_shape", TensorProto.INT64, [len(dims)])
        g.initializer.append(shape)
        inits[shape.name] = shape
        merged = helper.make_node("Reshape", [a.input[0], shape.name], [b.output[0]], name=f"{a.name}_new_reshape",
                                  allowzero=0)
        _set_nodes(g, [merged if k == pair[0] else n for k, n in enumerate(g.node) if k != pair[1]])


def _attention_pairs(g, readers: dict) -> set:
    """Indices of the MatMuls whose MatMul+Add onnxruntime leaves for its attention fusion: a
    LayerNormalization read by one Add, three MatMuls (the query, key and value projections) and
    nothing but Shapes besides, marks those three and the MatMul whose bias Add produces the Add's
    other input (the output projection: a post-norm block)."""
    producer = {o: i for i, n in enumerate(g.node) for o in n.output}
    keep = set()
    for ln in g.node:
        if ln.op_type != "LayerNormalization":
            continue
        users = [g.node[j] for o in ln.output if o for j in readers.get(o, [])]
        kinds = collections.Counter(u.op_type for u in users)
        if kinds["Add"] != 1 or kinds["MatMul"] != 3 or kinds["Shape"] != len(users) - 4:
            continue
        add = next(u for u in users if u.op_type == "Add")
        other = next((x for x in add.input if x != ln.output[0]), None)
        attn = producer.get(other)
        if attn is None or g.node[attn].op_type != "Add":
            continue
        keep.update(j for j in readers.get(ln.output[0], []) if g.node[j].op_type == "MatMul")
        keep.update(j for x in g.node[attn].input if (j := producer.get(x)) is not None and g.node[j].op_type == "MatMul")
    return keep


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
