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
