"""Protobuf length arithmetic and hollow models for the size model (advisor.predictors.size).

A hollow initializer keeps its name, dims and type but no payload; ``serialized_bytes`` adds back what
the payload would cost as raw_data. Also the small graph edits every setting's replay shares.
"""
from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper

from advisor.errors import ModelError

_HOLLOW_MIN_BYTES = 1024  # smaller tensors keep their values (shape constants feed shape rules)
_HALF_BYTE = {TensorProto.INT4, TensorProto.UINT4, getattr(TensorProto, "FLOAT4E2M1", -1)}
_HEADER_FIELDS = [fd for fd in TensorProto.DESCRIPTOR.fields if fd.name not in (
    "raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")]


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
    return n * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize  # types checked at load (modelio)


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
        try:
            setattr(msg, fd.name, value)
        except UnicodeDecodeError:  # a string field whose bytes are not UTF-8 (a corrupt or hand-edited file)
            raise ModelError(f"The model's '{fd.name}' field holds text that is not valid UTF-8.") from None


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
