"""External tensor data of untrusted models: read only from inside the model's folder, never
trusting a declared size before the bytes are there; written beside a model too big to inline.

The byte sizes come from dims and data type by arithmetic alone, so a tensor declaring petabytes
costs nothing to check.
"""
from __future__ import annotations

import os
from pathlib import Path

import onnx

from advisor.errors import ModelError

# Sub-byte element types, stored packed.
_PACKED_BITS = {getattr(onnx.TensorProto, name): bits for name, bits in
                (("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4), ("INT2", 2), ("UINT2", 2))
                if hasattr(onnx.TensorProto, name)}
# Tensors at least this big move to the external data file when a model is too big to inline.
_EXTERNAL_MIN_BYTES = 1024


def payload_bytes(t: onnx.TensorProto) -> int | None:
    """Bytes the dims and data type of ``t`` call for (arithmetic only, nothing allocated);
    None for strings. ModelError for negative dims or an unknown data type."""
    n = 1
    for d in t.dims:
        if d < 0:
            raise ModelError(f"Tensor '{t.name}' has a negative dim in {list(t.dims)}: the file is corrupt.")
        n *= d
    if t.data_type == onnx.TensorProto.STRING:
        return None
    bits = _PACKED_BITS.get(t.data_type)
    if bits:
        return (n * bits + 7) // 8
    try:
        return n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"Tensor '{t.name}' has unknown data type {t.data_type}: the file is corrupt "
                         "or needs a newer onnx.") from None


def all_tensors(model: onnx.ModelProto):
    """Every TensorProto that can carry external data: initializers and node attributes, in
    sub-graphs and functions too."""
    def of_graph(g):
        yield from g.initializer
        for sp in g.sparse_initializer:
            yield sp.values
            yield sp.indices
        yield from of_nodes(g.node)

    def of_nodes(nodes):
        for n in nodes:
            for a in n.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("g"):
                    yield from of_graph(a.g)
                for sub in a.graphs:
                    yield from of_graph(sub)

    yield from of_graph(model.graph)
    for f in model.functions:
        yield from of_nodes(f.node)


def load(model: onnx.ModelProto, path: Path) -> None:
    """Load external tensors, refusing any location outside the model's folder (after resolving
    symlinks) and any declared size the data file cannot hold (so nothing is allocated for it)."""
    base = path.resolve().parent
    external = [t for t in all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    for t in external:
        _check(t, path, base)
    if not external:
        return
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(base))
    except Exception as exc:
        raise ModelError(f"Could not read external data of '{path}': {_short(exc)}") from exc
    left = [t.name for t in all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    if left:  # onnx does not load tensors inside functions; never pass a dangling reference on
        raise ModelError(f"'{path}' keeps tensor '{left[0]}' in external data where onnx cannot load it "
                         "(inside a function). Save the model with its data inline.")


def _check(t: onnx.TensorProto, path: Path, base: Path) -> None:
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location", "")
    target = (base / loc).resolve()
    if not loc or os.path.isabs(loc) or base not in target.parents:
        raise ModelError(f"'{path}' stores tensor '{t.name}' at '{loc}', outside the model's folder; "
                         "refusing to read it. Move the data file next to the model.")
    if not target.is_file():
        raise ModelError(f"'{path}' needs external data file '{loc}', which is missing or not a regular file. "
                         "Copy it next to the model.")
    try:
        offset, length = int(info.get("offset") or 0), info.get("length")
        length = None if length is None else int(length)
    except ValueError:
        raise ModelError(f"'{path}': tensor '{t.name}' has a non-numeric external data offset or length. "
                         "The file is corrupt; re-export the model.") from None
    need = payload_bytes(t)
    have = target.stat().st_size
    if offset < 0 or (length is not None and (length < 0 or (need is not None and length != need))):
        raise ModelError(f"'{path}': tensor '{t.name}' declares external data offset {offset}, length {length}, "
                         f"but its shape {list(t.dims)} needs {need} bytes. The file is corrupt.")
    want = length if length is not None else need
    if want is not None and offset + want > have:
        raise ModelError(f"'{path}': tensor '{t.name}' needs {want} bytes at offset {offset} of '{loc}', which "
                         f"holds {have}: the data file is truncated or does not belong to this model.")


def copy_without_initializers(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list]:
    """(copy of ``model`` with no initializers, the original's initializers): the weights are detached
    while copying so their bytes are not duplicated; ``model`` is left as it was."""
    graph = model.graph
    inits = list(graph.initializer)
    graph.ClearField("initializer")
    proto = onnx.ModelProto()
    try:
        proto.CopyFrom(model)
    finally:
        graph.initializer.extend(inits)
    return proto, inits


def externalize(model: onnx.ModelProto, location: str):
    """(copy of ``model`` whose large raw initializers point into ``location``, generator of their bytes)."""
    proto, inits = copy_without_initializers(model)
    moved, offset = [], 0
    for t in inits:
        size = len(t.raw_data) if t.HasField("raw_data") else 0
        if size < _EXTERNAL_MIN_BYTES:
            proto.graph.initializer.add().CopyFrom(t)
            continue
        e = proto.graph.initializer.add(name=t.name, data_type=t.data_type, dims=t.dims, doc_string=t.doc_string,
                                        data_location=onnx.TensorProto.EXTERNAL)
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(size))):
            e.external_data.add(key=key, value=value)
        moved.append(t)
        offset += size
    return proto, (t.raw_data for t in moved)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
