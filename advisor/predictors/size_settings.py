"""Size-model replays of the fp16, weight-only and channel-pruning settings, on hollow copies.

Each function makes the structural edits its setting makes (names, nodes, attributes, tensor dims and
types) without reading or writing weight values; see advisor.predictors.size.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from advisor.predictors.size_proto import _hollow_tensor, _raw_tensor

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
        replace_initializers,
        tensor_names,
        upgrade_opset,
    )

    h = upgrade_opset(h, _WQ_OPSET[bits])
    if bits == 4:
        h.ir_version = max(h.ir_version, 10)
    inits = {t.name: t for t in h.graph.initializer}
    taken = tensor_names(h)
    swaps = []
    for w in find_weights(h):
        dims = list(inits[w.name].dims)
        narrow = _hollow_tensor(fresh_name(taken, f"{w.name}_{'fp16' if bits == 16 else f'q{bits}'}"),
                                _WQ_TYPE[bits], dims)
        if bits == 16:
            node = helper.make_node("Cast", [narrow.name], [w.name], name=fresh_name(taken, f"{w.name}_Cast"),
                                    to=TensorProto.FLOAT)
            swaps.append((w.name, [narrow], node))
            continue
        scale = _raw_tensor(fresh_name(taken, f"{w.name}_scale"), TensorProto.FLOAT, [dims[w.axis]])
        node = helper.make_node("DequantizeLinear", [narrow.name, scale.name], [w.name],
                                name=fresh_name(taken, f"{w.name}_DequantizeLinear"), axis=w.axis)
        swaps.append((w.name, [narrow, scale], node))
    replace_initializers(h, swaps)
    return h


# --- channel pruning (advisor.compression.channel_prune) ------------------------------------------

def _channel_prune(h: onnx.ModelProto, cg, ratio: float, align: int = 1) -> onnx.ModelProto:
    """channel_prune.rewrite's edits (``cg``: the model's ChannelGraph) with sizes only: how many channels
    a group keeps depends on the ratio alone (n_keep), not on which the L1 scores pick."""
    from advisor.compression.channel_groups import constant_tensors, kept_indices
    from advisor.compression.channel_prune import n_keep

    keep = {root: np.arange(n_keep(cg.sizes[root], ratio, align)) for root in cg.groups()
            if root not in cg.reasons and n_keep(cg.sizes[root], ratio, align) < cg.sizes[root]}
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
