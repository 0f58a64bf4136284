"""Serialized size (bytes) of what each compression setting would produce, computed from the graph.

Nothing is learned and no setting is run. Each estimate replays the setting's *structural* edits on a
"hollow" copy of the model, in which every initializer of >= 1 KiB keeps its name, dims and type but
not its payload, then adds the payloads back with protobuf's exact length arithmetic: a hollow tensor
(one holding no data at all) stands for ``elements x element width`` raw bytes (4-bit types: half).
No weight value is read, no calibration, quantizer, converter session or channel scoring runs.

What each setting's replay mirrors (bytes of names, attributes and small tensors included):

- none / sparse*: the model as is (zeros do not change the raw file).
- fp16: onnxruntime's float16 converter (keep_io_types): its shape inference, I/O Casts, fp16 tensors,
  Casts around ops of its default block list.
- wq16/wq8/wq4: advisor.compression.weight_only (opset raised by onnx's converter, on the hollow copy).
- chprune*: advisor.compression.channel_prune; kept channel *counts* depend on the ratio only.
- int8-*: onnxruntime's quant_pre_process (Constant folding, Identity removal, scalar sharing, Conv+BN
  and MatMul+Add fusion, schema-default attributes, value_info) then quantize_dynamic (MatMulInteger,
  DynamicQuantizeLSTM) or quantize_static's QDQ pass (Q/DQ pairs, removable Relu/Clip, shared scales,
  per-channel or per-tensor weights, int32 biases).
- pipelines: the steps in order, shapes re-inferred between steps.

Measured against really applying each setting (onnx 1.23, onnxruntime 1.32; 54 models: tiny zoo,
generated zoo, tests/test_size_model.py's 1-2 MB models, ResNet-50): exact (0 bytes) for none, sparse*,
fp16, wq*, chprune*; int8 settings and pipelines within 0.45% on models >= 1 MB and 0.6% on smaller
ones. What is not replayed: onnxruntime's common-subexpression elimination, Transpose cancelling and
Reshape merging, and activation zero points (their varint width depends on calibration; -128 assumed).
Estimating all 16 settings of a 100 MB ResNet-50 takes ~0.15-0.25 s (benchmarks/bench_size_model.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper

from advisor.errors import NotApplicableError, SettingError
from advisor.modelio import LoadedModel

_HOLLOW_MIN_BYTES = 1024  # smaller tensors keep their values (shape constants feed shape rules)
_PROTOBUF_LIMIT_BYTES = 2**31 - 1  # advisor.compression.quantize refuses models above this
_HALF_BYTE = {TensorProto.INT4, TensorProto.UINT4, getattr(TensorProto, "FLOAT4E2M1", -1)}
_HEADER_FIELDS = [fd for fd in TensorProto.DESCRIPTOR.fields if fd.name not in (
    "raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")]


# --- public API -----------------------------------------------------------------------------------

def estimate_size_bytes(lm: LoadedModel, setting_name: str) -> int:
    """Predicted ``ByteSize()`` (bytes) of ``get_setting(setting_name).apply(lm).model``.

    Raises NotApplicableError (the setting's own reason) when the setting does not apply, and
    SettingError for a registered setting of a kind this size model does not know.
    """
    return _estimate(_Context.of(lm), setting_name)


def estimate_all(lm: LoadedModel, names=None) -> dict:
    """Setting name -> predicted bytes (``estimate_size_bytes``), or None where the setting does not
    apply; every registered setting when ``names`` is None. Shares one hollow copy across settings."""
    from advisor.compression import setting_names

    ctx = _Context.of(lm)
    out = {}
    for name in names if names is not None else setting_names():
        try:
            out[name] = _estimate(ctx, name)
        except NotApplicableError:
            out[name] = None
    return out


@dataclass
class _Context:
    """One model's hollow copy and tensor types/shapes, shared by every setting's estimate."""

    lm: LoadedModel
    hollow: onnx.ModelProto
    infos: dict
    cache: dict = field(default_factory=dict)

    @classmethod
    def of(cls, lm: LoadedModel) -> _Context:
        return cls(lm, hollow(lm.model), _value_infos(lm.inferred))

    def proxy(self) -> LoadedModel:
        """``lm`` with the hollow model: what every setting's ``check`` reads, minus the weight bytes."""
        return LoadedModel(self.lm.path, self.hollow, self.lm.inferred)

    def trace(self):
        """channel_trace's ChannelGraph of the model (reads the graph and shapes only)."""
        from advisor.compression.channel_trace import trace

        if "trace" not in self.cache:
            self.cache["trace"] = trace(self.proxy())
        return self.cache["trace"]

    def size(self) -> int:
        if "size" not in self.cache:
            self.cache["size"] = serialized_bytes(self.hollow)
        return self.cache["size"]

    def pre_processed(self) -> tuple[onnx.ModelProto, dict]:
        """A copy of the graph quant_pre_process would write, and the types/shapes of its tensors."""
        if "pre" not in self.cache:
            infos = dict(self.infos)
            self.cache["pre"] = (_pre_process(_copy(self.hollow), infos), infos)
        model, infos = self.cache["pre"]
        return _copy(model), dict(infos)


def _estimate(ctx: _Context, setting_name: str) -> int:
    from advisor.compression import get_setting

    setting = get_setting(setting_name)
    reason = setting.check(ctx.proxy())
    if reason is None and _uses_ort_quantizer(setting) and ctx.size() > _PROTOBUF_LIMIT_BYTES:
        reason = "quantizing models over 2 GiB (external data) is not supported"
    if reason:
        raise NotApplicableError(f"Setting '{setting_name}' does not apply: {reason}")
    return serialized_bytes(_structure(ctx, setting))


def _uses_ort_quantizer(setting) -> bool:
    steps = getattr(setting, "steps", ())
    if steps:
        from advisor.compression import get_setting
        return any(_uses_ort_quantizer(get_setting(s)) for s in steps)
    return setting.family == "quantization"


def _structure(ctx: _Context, setting) -> onnx.ModelProto:
    """The hollow model ``setting`` would produce from ``ctx``'s model."""
    from advisor.compression import baseline, channel_prune, combined, fp16, quantize, sparsity, weight_only

    kind = type(setting)
    if kind in (baseline.Baseline, sparsity.MagnitudePruning):  # copies; zeros cost what the values cost
        return _copy(ctx.hollow)
    if kind is fp16.Float16:
        return _fp16(_copy(ctx.hollow))
    if kind is weight_only.WeightOnly:
        return _weight_only(_copy(ctx.hollow), setting.bits)
    if kind is channel_prune.ChannelPruning:
        return _channel_prune(_copy(ctx.hollow), ctx.trace(), setting.ratio)
    if kind is quantize.DynamicInt8:
        return _dynamic(*ctx.pre_processed())
    if kind is quantize.StaticInt8:
        return _static(*ctx.pre_processed(), setting.per_channel)
    if kind is combined.Pipeline:
        return _pipeline(ctx, setting)
    raise SettingError(f"No size model for setting '{setting.name}' ({kind.__name__}). Size models exist for "
                       "the built-in kinds: baseline, sparsity, fp16, weight-only, channel pruning, int8, pipelines.")


def _pipeline(ctx: _Context, setting) -> onnx.ModelProto:
    """Each step on the previous step's result, whose shapes are re-inferred as from_proto does."""
    from advisor.compression import get_setting

    current = ctx
    for i, step in enumerate(setting.steps):
        h = _structure(current, get_setting(step))
        if i + 1 < len(setting.steps):
            inferred = onnx.shape_inference.infer_shapes(h, strict_mode=False, data_prop=True)
            current = _Context(LoadedModel(None, h, inferred), h, _value_infos(inferred))
    return h


# --- protobuf arithmetic and hollow models ---------------------------------------------------------

def _vlen(n: int) -> int:
    """Bytes of ``n`` as a protobuf varint."""
    return max(1, (int(n).bit_length() + 6) // 7)


def _elements(t: TensorProto) -> int:
    return math.prod(t.dims)


def payload_bytes(t: TensorProto) -> int:
    """Bytes of ``t``'s values stored as raw_data (4-bit types: two a byte)."""
    n = _elements(t)
    if t.data_type in _HALF_BYTE:
        return (n + 1) // 2
    return n * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize


def _is_hollow(t: TensorProto) -> bool:
    if t.HasField("raw_data") or t.float_data or t.int32_data or t.int64_data or t.double_data or \
            t.uint64_data or t.string_data or t.data_location == TensorProto.EXTERNAL:
        return False
    return bool(t.dims) and _elements(t) > 0


def _hollow_tensor(name: str, data_type: int, dims) -> TensorProto:
    t = TensorProto(name=name, data_type=data_type)
    t.dims.extend(int(d) for d in dims)
    return t


def _raw_tensor(name: str, data_type: int, dims) -> TensorProto:
    """A tensor as numpy_helper.from_array writes it (raw_data): zero-filled when small, hollow when not."""
    t = _hollow_tensor(name, data_type, dims)
    if payload_bytes(t) < _HOLLOW_MIN_BYTES or not t.dims:
        t.raw_data = bytes(payload_bytes(t))
    return t


def hollow(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose initializers of >= 1 KiB raw payload lose the payload (never copied)."""
    out = onnx.ModelProto()
    for fd, value in model.ListFields():
        if fd.name != "graph":
            _copy_field(out, fd, value)
    for fd, value in model.graph.ListFields():
        if fd.name != "initializer":
            _copy_field(out.graph, fd, value)
    for t in model.graph.initializer:
        new = out.graph.initializer.add()
        if t.HasField("raw_data") and t.data_location != TensorProto.EXTERNAL and \
                payload_bytes(t) >= _HOLLOW_MIN_BYTES:
            for fd in _HEADER_FIELDS:  # ListFields() would copy the payload out of the message
                value = getattr(t, fd.name)
                if len(value) if fd.is_repeated else t.HasField(fd.name):
                    _copy_field(new, fd, value)
        else:
            new.CopyFrom(t)
    return out


def _copy_field(msg, fd, value) -> None:
    if fd.is_repeated:
        getattr(msg, fd.name).extend(value)
    elif fd.type == fd.TYPE_MESSAGE:
        getattr(msg, fd.name).CopyFrom(value)
    else:
        setattr(msg, fd.name, value)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    new = onnx.ModelProto()
    new.CopyFrom(model)
    return new


def serialized_bytes(h: onnx.ModelProto) -> int:
    """``ByteSize()`` the model would have with every hollow initializer of ``h`` filled as raw_data."""
    extra = 0
    for t in h.graph.initializer:
        if _is_hollow(t):
            size = t.ByteSize()
            p = payload_bytes(t)
            full = size + 1 + _vlen(p) + p
            extra += full + _vlen(full) - size - _vlen(size)
    graph = h.graph.ByteSize()
    return h.ByteSize() + extra + _vlen(graph + extra) - _vlen(graph)


def _value_infos(inferred: onnx.ModelProto) -> dict:
    """Tensor name -> ValueInfoProto (type and shape) of every input, output and intermediate tensor."""
    g = inferred.graph
    return {vi.name: vi for vi in [*g.input, *g.value_info, *g.output]}


def _dims(vi) -> list | None:
    """Static dims of a ValueInfoProto, or None when absent or symbolic."""
    if vi is None or not vi.type.tensor_type.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    return None if None in dims else dims


def _is_float(vi) -> bool:
    return vi is not None and vi.type.tensor_type.elem_type == TensorProto.FLOAT


def _set_nodes(g, nodes: list) -> None:
    g.ClearField("node")  # the Python references in ``nodes`` stay valid
    g.node.extend(nodes)


def _rename(g, inputs: dict, outputs: dict | None = None) -> None:
    """Rename node inputs (and outputs) of the main graph by the given old -> new maps, in one pass."""
    for node in g.node:
        if any(x in inputs for x in node.input):
            node.input[:] = [inputs.get(x, x) for x in node.input]
        if outputs and any(x in outputs for x in node.output):
            node.output[:] = [outputs.get(x, x) for x in node.output]


def _drop_unused_initializers(g, also=()) -> None:
    used = {x for n in g.node for x in n.input} | {o.name for o in g.output}
    keep = [t for t in g.initializer if t.name in used and t.name not in also]
    if len(keep) != len(g.initializer):
        g.ClearField("initializer")
        g.initializer.extend(keep)


# --- fp16: onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True) ----------

def _fp16(h: onnx.ModelProto) -> onnx.ModelProto:
    """The converter's edits: value_info from shape inference, Casts behind float graph inputs and
    before float outputs, float tensors to float16, Casts around ops of its default block list."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

    g = h.graph
    g.ClearField("value_info")
    g.value_info.extend(onnx.shape_inference.infer_shapes(h).graph.value_info)
    n_old = len(g.node)
    rename = {}
    for i, vi in enumerate(g.input):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            rename[vi.name] = f"graph_input_cast_{i}"
            _add_cast(g, vi, vi.name, rename[vi.name], f"graph_input_cast{i}", TensorProto.FLOAT16, rename[vi.name])
    for i, vi in enumerate(g.output):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            rename[vi.name] = f"graph_output_cast_{i}"
            _add_cast(g, vi, rename[vi.name], vi.name, f"graph_output_cast{i}", TensorProto.FLOAT, rename[vi.name])
    halves = {vi.name for vi in g.value_info if vi.type.tensor_type.elem_type in (TensorProto.FLOAT,
                                                                                 TensorProto.FLOAT16)}
    blocked, readers = set(DEFAULT_OP_BLOCK_LIST), set()
    for node in list(g.node)[:n_old]:
        node.input[:] = [rename.get(x, x) for x in node.input]
        node.output[:] = [rename.get(x, x) for x in node.output]
        if node.op_type not in blocked:
            readers.update(node.input)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    _to_fp16(a.t)
    for t in g.initializer:
        if t.name in readers and t.data_type == TensorProto.FLOAT:
            _to_fp16(t)
            halves.add(t.name)
    _cast_blocked(g, [n for n in list(g.node)[:n_old] if n.op_type in blocked], halves)
    return h


def _add_cast(g, vi, src: str, dst: str, name: str, to: int, new: str) -> None:
    """A Cast node ``src`` -> ``dst`` plus the converter's value_info for the new tensor ``new``."""
    info = g.value_info.add()
    info.CopyFrom(vi)
    info.name = new
    info.type.tensor_type.elem_type = TensorProto.FLOAT16 if TensorProto.FLOAT16 in (to, info.type.tensor_type.elem_type) \
        else TensorProto.FLOAT  # either way a one-byte enum: the size does not depend on it
    g.node.append(helper.make_node("Cast", [src], [dst], name=name, to=to))


def _cast_blocked(g, nodes: list, halves: set) -> None:
    """float16 -> float32 Casts before, and float32 -> float16 Casts after, each blocked node."""
    vis = {vi.name: vi for vi in g.value_info}
    made: set = set()
    for node in nodes:
        for i, x in enumerate(node.input):
            if x in halves:
                if x not in made:
                    _add_cast(g, vis.get(x, helper.make_empty_tensor_value_info(x)), x, f"{x}_cast_to_fp32",
                              f"{x}_cast_to_fp32_node", TensorProto.FLOAT, f"{x}_cast_to_fp32")
                    made.add(x)
                node.input[i] = f"{x}_cast_to_fp32"
        for i, y in enumerate(node.output):
            if y in halves:
                node.output[i] = f"{y}_cast_to_fp16"
                _add_cast(g, vis.get(y, helper.make_empty_tensor_value_info(y)), f"{y}_cast_to_fp16", y,
                          f"{y}_cast_to_fp16_node", TensorProto.FLOAT16, f"{y}_cast_to_fp16")


def _to_fp16(t: TensorProto) -> None:
    """Convert a float32 tensor as the converter does (raw bytes halve; float_data becomes int32_data)."""
    if t.data_type != TensorProto.FLOAT:
        return
    t.data_type = TensorProto.FLOAT16
    if t.HasField("raw_data"):
        t.raw_data = np.frombuffer(t.raw_data, np.float32).astype(np.float16).tobytes()
    elif len(t.float_data):
        t.int32_data[:] = np.asarray(t.float_data, np.float32).astype(np.float16).view(np.uint16).tolist()
        t.ClearField("float_data")


# --- weight-only (advisor.compression.weight_only) ------------------------------------------------

_WQ_OPSET = {16: 0, 8: 13, 4: 21}
_WQ_TYPE = {16: TensorProto.FLOAT16, 8: TensorProto.INT8, 4: TensorProto.INT4}


def _weight_only(h: onnx.ModelProto, bits: int) -> onnx.ModelProto:
    """WeightOnly._apply's edits: each weight becomes a narrow tensor (+ per-channel float32 scales) read
    by a Cast or DequantizeLinear that restores its name; the opset is raised first (dims suffice)."""
    from advisor.compression.graph_utils import (
        find_weights,
        fresh_name,
        replace_initializer,
        tensor_names,
        upgrade_opset,
    )

    h = upgrade_opset(h, _WQ_OPSET[bits])
    if bits == 4:
        h.ir_version = max(h.ir_version, 10)
    inits = {t.name: t for t in h.graph.initializer}
    taken = tensor_names(h)
    for w in find_weights(h):
        dims = list(inits[w.name].dims)
        narrow = _hollow_tensor(fresh_name(taken, f"{w.name}_{'fp16' if bits == 16 else f'q{bits}'}"),
                                _WQ_TYPE[bits], dims)
        if bits == 16:
            node = helper.make_node("Cast", [narrow.name], [w.name], name=fresh_name(taken, f"{w.name}_Cast"),
                                    to=TensorProto.FLOAT)
            replace_initializer(h, w.name, [narrow], node)
            continue
        scale = _raw_tensor(fresh_name(taken, f"{w.name}_scale"), TensorProto.FLOAT, [dims[w.axis]])
        node = helper.make_node("DequantizeLinear", [narrow.name, scale.name], [w.name],
                                name=fresh_name(taken, f"{w.name}_DequantizeLinear"), axis=w.axis)
        replace_initializer(h, w.name, [narrow, scale], node)
    return h


# --- channel pruning (advisor.compression.channel_prune) ------------------------------------------

def _channel_prune(h: onnx.ModelProto, cg, ratio: float) -> onnx.ModelProto:
    """channel_prune.rewrite's edits (``cg``: the model's ChannelGraph) with sizes only: how many channels
    a group keeps depends on the ratio alone (n_keep), not on which the L1 scores pick."""
    from advisor.compression.channel_groups import constant_tensors, kept_indices
    from advisor.compression.channel_prune import n_keep

    keep = {root: np.arange(n_keep(cg.sizes[root], ratio)) for root in cg.groups()
            if root not in cg.reasons and n_keep(cg.sizes[root], ratio) < cg.sizes[root]}
    g = h.graph
    consts = constant_tensors(g)
    writer = _size_writer()(g)
    for (i, k), edits in cg.edits.items():
        old = consts[g.node[i].input[k]]
        dims = list(old.dims)
        for axis, lay in edits:
            dims[axis] = kept_indices(cg, lay, keep).size
        if dims != list(old.dims):
            writer.put(i, k, _raw_tensor(old.name, old.data_type, dims))
    for (i, k), (pos, lay) in cg.shape_fixes.items():
        shape = onnx.numpy_helper.to_array(consts[g.node[i].input[k]]).copy()
        new = kept_indices(cg, lay, keep).size
        if shape[pos] > 0 and shape[pos] != new:
            shape[pos] = new
            writer.put(i, k, onnx.numpy_helper.from_array(shape))
    for i, lay in cg.group_attrs.items():
        for a in g.node[i].attribute:
            if a.name == "group":
                a.i = int(kept_indices(cg, lay, keep).size)
    writer.drop_replaced()
    g.ClearField("value_info")
    return h


def _size_writer():
    """channel_prune's initializer writer (same naming, sharing and clean-up rules), fed tensors."""
    from advisor.compression.channel_prune import _InitWriter

    class SizeWriter(_InitWriter):
        def put(self, i: int, k: int, tensor: TensorProto) -> None:
            node = self.g.node[i]
            name = tensor.name = node.input[k]
            if name in self.index and self.uses[name] == 1:
                self.g.initializer[self.index[name]].CopyFrom(tensor)
                return
            new = f"{name}_chprune{i}"
            while new in self.index or new in self.uses:
                new += "_"
            tensor.name = node.input[k] = new
            self.g.initializer.append(tensor)
            self.index[new] = len(self.g.initializer) - 1
            self.uses[name] -= 1
            self.uses[new] += 1
            self.replaced.add(name)

    return SizeWriter


# --- onnxruntime quant_pre_process (symbolic shapes + ORT basic optimisation + shape inference) ----

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


# --- int8: onnxruntime quantize_dynamic and quantize_static (QDQ) --------------------------------

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
            self.bias[node.input[2]] = node.input[1]

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
                self.bias[node.input[2]] = node.input[1]
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
