"""Constant tensors of an ONNX graph (initializers and Constant nodes) as zero-copy numpy views.

Weights are never copied needlessly: a tensor stored as ``raw_data`` becomes an
``np.frombuffer`` view of it, built once per tensor and cached.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

# Storage size of one element, in bits, by ONNX data type name (names missing from an older onnx are skipped).
_BITS_BY_NAME = {
    "FLOAT": 32, "FLOAT16": 16, "BFLOAT16": 16, "DOUBLE": 64, "INT8": 8, "UINT8": 8, "INT16": 16,
    "UINT16": 16, "INT32": 32, "UINT32": 32, "INT64": 64, "UINT64": 64, "BOOL": 8, "COMPLEX64": 64,
    "COMPLEX128": 128, "FLOAT8E4M3FN": 8, "FLOAT8E4M3FNUZ": 8, "FLOAT8E5M2": 8, "FLOAT8E5M2FNUZ": 8,
    "FLOAT8E8M0": 8, "INT4": 4, "UINT4": 4, "FLOAT4E2M1": 4, "INT2": 2, "UINT2": 2,
    "FLOAT6E2M3": 6, "FLOAT6E3M2": 6,
}
BITS: dict[int, int] = {getattr(TensorProto, k): v for k, v in _BITS_BY_NAME.items() if hasattr(TensorProto, k)}

# Types whose raw_data is read directly with np.frombuffer (little-endian, as ONNX stores it).
_NUMPY = {
    TensorProto.FLOAT: "<f4", TensorProto.FLOAT16: "<f2", TensorProto.DOUBLE: "<f8",
    TensorProto.INT8: "i1", TensorProto.UINT8: "u1", TensorProto.INT16: "<i2", TensorProto.UINT16: "<u2",
    TensorProto.INT32: "<i4", TensorProto.UINT32: "<u4", TensorProto.INT64: "<i8", TensorProto.UINT64: "<u8",
    TensorProto.BOOL: "?",
}
FP32_TYPES = frozenset({TensorProto.FLOAT})
FP16_TYPES = frozenset({TensorProto.FLOAT16, TensorProto.BFLOAT16})
INT8_TYPES = frozenset({TensorProto.INT8, TensorProto.UINT8})
# Stored weights of these types are already quantized (8 bits or fewer, integer).
QUANTIZED_TYPES = frozenset(getattr(TensorProto, n) for n in ("INT8", "UINT8", "INT4", "UINT4", "INT2", "UINT2")
                            if hasattr(TensorProto, n))
# Index-like types that are never counted as parameters.
NON_PARAM_TYPES = frozenset({TensorProto.INT64, TensorProto.UINT64, TensorProto.BOOL, TensorProto.STRING,
                             TensorProto.UNDEFINED})


def numel(dims) -> int:
    """Number of elements of a tensor with concrete ``dims`` (1 for a scalar)."""
    n = 1
    for d in dims:
        n *= int(d)
    return n


def tensor_bytes(t: TensorProto) -> int:
    """Storage size of ``t`` in bytes, from its dims and dtype (sub-byte types packed)."""
    if t.data_type == TensorProto.STRING:
        return sum(len(s) for s in t.string_data)
    return (numel(t.dims) * BITS.get(t.data_type, 0) + 7) // 8


def tensor_array(t: TensorProto) -> np.ndarray | None:
    """``t`` as a numpy array: a zero-copy view of ``raw_data`` when possible, else a converted copy.

    Returns None when the values are unavailable (external data not loaded) or unreadable.
    """
    if t.data_location == TensorProto.EXTERNAL:
        return None
    dtype = _NUMPY.get(t.data_type)
    try:
        if t.HasField("raw_data") and dtype is not None:
            return np.frombuffer(t.raw_data, dtype=dtype).reshape(tuple(t.dims))
        if t.data_type == TensorProto.FLOAT and len(t.float_data):
            return np.asarray(t.float_data, dtype=np.float32).reshape(tuple(t.dims))
        if t.data_type == TensorProto.FLOAT16 and len(t.int32_data):
            return np.asarray(t.int32_data, dtype=np.uint16).view(np.float16).reshape(tuple(t.dims))
        if t.data_type in INT8_TYPES and len(t.int32_data):
            return np.asarray(t.int32_data, dtype=_NUMPY[t.data_type]).reshape(tuple(t.dims))
        return numpy_helper.to_array(t)  # rare types (bfloat16, float8, int4, double_data...)
    except Exception:  # a malformed tensor must not stop feature extraction
        return None


class ConstTable:
    """Every constant tensor of the top-level graph, by name: initializers and Constant-node values."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.protos: dict[str, TensorProto] = {t.name: t for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
                t = _constant_value(node)
                if t is not None:
                    self.protos[node.output[0]] = t
        self._arrays: dict[str, np.ndarray | None] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.protos

    def array(self, name: str) -> np.ndarray | None:
        """Values of constant ``name`` (cached, read-only view), or None if unavailable."""
        if name not in self._arrays:
            t = self.protos.get(name)
            self._arrays[name] = None if t is None else tensor_array(t)
        return self._arrays[name]


def _constant_value(node: onnx.NodeProto) -> TensorProto | None:
    for a in node.attribute:
        if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
            return a.t
        if a.name in ("value_float", "value_floats", "value_int", "value_ints"):
            value = onnx.helper.get_attribute_value(a)
            is_float = a.name.startswith("value_float")
            dtype = TensorProto.FLOAT if is_float else TensorProto.INT64
            dims = [len(value)] if isinstance(value, list) else []
            vals = value if isinstance(value, list) else [value]
            return onnx.helper.make_tensor(node.output[0], dtype, dims, vals)
    return None


@dataclass(frozen=True)
class WeightRef:
    """A weight input resolved to its stored constant, plus the dequantization that feeds the op.

    ``scale``/``zero_point`` are None for a float weight; ``axis`` is the per-channel axis of the
    DequantizeLinear (None when per-tensor).
    """

    name: str
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int | None = None


# Ops that only move or re-type a weight on its way to the op that uses it.
_PASSTHROUGH = frozenset({"Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose"})


def resolve_weight(name: str, consts: ConstTable, producers: dict[str, onnx.NodeProto]) -> WeightRef | None:
    """Follow ``name`` back through pass-through ops and DequantizeLinear to a stored constant."""
    for _ in range(6):
        if name in consts:
            return WeightRef(name)
        node = producers.get(name)
        if node is None or not node.input:
            return None
        if node.op_type == "DequantizeLinear":
            src = producers.get(node.input[0])
            if node.input[0] not in consts and src is not None and src.op_type == "QuantizeLinear":
                name = src.input[0]  # fake-quantized float weight (Q -> DQ): measure the float values
                continue
            return _dequantized(node, consts)
        if node.op_type not in _PASSTHROUGH:
            return None
        name = node.input[0]
    return None


def _dequantized(node: onnx.NodeProto, consts: ConstTable) -> WeightRef | None:
    src = node.input[0]
    if src not in consts:
        return None
    scale = consts.array(node.input[1]) if len(node.input) > 1 else None
    zp = consts.array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    dims = list(consts.protos[src].dims)
    if scale is None or attrs.get("block_size", 0) or scale.ndim > 1:
        return WeightRef(src)  # blocked or unreadable scales: statistics use the stored integers
    if scale.size == 1:
        return WeightRef(src, scale.reshape(()), None if zp is None else zp.reshape(()), None)
    axis = int(attrs.get("axis", 1))
    axis = axis + len(dims) if axis < 0 else axis
    if axis >= len(dims) or dims[axis] != scale.size or (zp is not None and zp.size != scale.size):
        return WeightRef(src)
    return WeightRef(src, scale, zp, axis)
