"""Storage size of a model: raw file bytes and bytes under compressed (sparse-aware) storage."""
from __future__ import annotations

import zlib

import onnx


def size_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the serialized model file (what a dense runtime loads)."""
    return model.ByteSize()


def compressed_size_bytes(model: onnx.ModelProto, level: int = 6) -> int:
    """Bytes of the serialized model under zlib (deflate) at ``level``.

    Deflate is the storage a sparse or zipped deployment would pay: runs of zeros left by
    unstructured pruning shrink here even though the raw file does not.
    """
    return len(zlib.compress(model.SerializeToString(), level))


def initializer_bytes(model: onnx.ModelProto) -> int:
    """Bytes of all initializers' payloads at their stored element width (4-bit types: half a byte).

    Counted from dims and data type (advisor.features' ``tensor_bytes``), so it does not depend on
    whether a tensor sits in ``raw_data`` or a typed field: the "weight bytes" a runtime holds.
    """
    from advisor.features.tensors import tensor_bytes

    return sum(tensor_bytes(t) for t in model.graph.initializer)
