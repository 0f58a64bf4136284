"""Reading and writing ONNX models robustly: every failure becomes a one-line ModelError.

Large weights are never copied needlessly: validation and shape inference run on a "skeleton"
of the model whose big initializers keep their dims but not their bytes.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import shape_inference

from advisor.errors import ModelError, OutputError

# Initializers above this many bytes are blanked in the skeleton used for checks.
_SKELETON_MIN_BYTES = 1024
# Standard domains onnxruntime implements; anything else is an unknown op domain.
KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"}


@dataclass(frozen=True)
class LoadedModel:
    """A validated model plus its shape-inferred skeleton (value_info for every tensor)."""

    path: Path | None
    model: onnx.ModelProto
    inferred: onnx.ModelProto


def load_model(path: str | os.PathLike, check: bool = True) -> LoadedModel:
    """Load, validate and shape-infer the ONNX file at ``path``; raise ModelError on any problem."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"Model file '{p}' does not exist. Give the path of an .onnx file.")
    if p.is_dir():
        raise ModelError(f"'{p}' is a directory, not an ONNX file. Give the path of an .onnx file.")
    if p.stat().st_size == 0:
        raise ModelError(f"Model file '{p}' is empty (0 bytes). Re-export the model.")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, OSError, RuntimeWarning...
        raise ModelError(f"'{p}' is not a readable ONNX model ({_short(exc)}). "
                         "Check the file is complete and was saved by onnx.save or torch.onnx.export.") from exc
    _load_external(model, p)
    return from_proto(model, path=p, check=check)


def from_proto(model: onnx.ModelProto, path: Path | None = None, check: bool = True) -> LoadedModel:
    """Validate an in-memory model; ``path`` only labels error messages."""
    label = f"'{path}'" if path else "the model"
    if not isinstance(model, onnx.ModelProto) or len(model.graph.node) == 0:
        raise ModelError(f"{label} holds no ONNX graph (no nodes). Give a model exported to ONNX.")
    _check_domains(model, label)
    skel = skeleton(model)
    if check:
        try:
            onnx.checker.check_model(skel)
        except Exception as exc:
            raise ModelError(f"{label} is not valid ONNX: {_short(exc)}") from exc
    try:
        inferred = shape_inference.infer_shapes(skel, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise ModelError(f"Shape inference failed on {label}: {_short(exc)}") from exc
    return LoadedModel(path=path, model=model, inferred=inferred)


def skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose large initializers become typed graph inputs (no bytes copied).

    The checker and shape inference need only dims and dtypes of big weights; small initializers
    (shapes, axes) keep their values so data-dependent shapes still infer.
    """
    graph = model.graph
    big = [t for t in graph.initializer
           if t.data_location == onnx.TensorProto.EXTERNAL or t.ByteSize() > _SKELETON_MIN_BYTES]
    _check_payload_sizes(big)
    big_names = {t.name for t in big}
    inits = list(graph.initializer)
    graph.ClearField("initializer")  # detach so CopyFrom does not duplicate the payloads
    skel = onnx.ModelProto()
    try:
        skel.CopyFrom(model)
    finally:
        graph.initializer.extend(inits)
    skel.graph.initializer.extend(t for t in inits if t.name not in big_names)
    existing = {i.name for i in skel.graph.input}
    for t in big:
        if t.name not in existing:
            skel.graph.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return skel


def _check_payload_sizes(tensors) -> None:
    for t in tensors:
        if t.data_location == onnx.TensorProto.EXTERNAL or not t.HasField("raw_data"):
            continue
        n = 1
        for d in t.dims:
            n *= d
        if t.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
            need = (n + 1) // 2
        else:
            need = n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        if len(t.raw_data) != need:
            raise ModelError(f"Tensor '{t.name}' holds {len(t.raw_data)} bytes but its shape "
                             f"{list(t.dims)} needs {need}: the file is truncated or corrupt.")


def _check_domains(model: onnx.ModelProto, label: str) -> None:
    local = {f.domain for f in model.functions}
    for node in model.graph.node:
        if node.domain not in KNOWN_DOMAINS and node.domain not in local:
            raise ModelError(f"{label} uses op '{node.op_type}' from unknown domain '{node.domain}'. "
                             f"Supported domains: {', '.join(sorted(d or 'ai.onnx' for d in KNOWN_DOMAINS))}.")


def _load_external(model: onnx.ModelProto, path: Path) -> None:
    """Load external tensors, refusing any location outside the model's folder."""
    base = path.resolve().parent
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        target = (base / loc).resolve()
        if os.path.isabs(loc) or base not in target.parents:
            raise ModelError(f"'{path}' stores tensor '{t.name}' at '{loc}', outside the model's folder; "
                             "refusing to read it. Move the data file next to the model.")
        if not target.is_file():
            raise ModelError(f"'{path}' needs external data file '{loc}', which is missing. "
                             "Copy it next to the model.")
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(base))
    except Exception as exc:
        raise ModelError(f"Could not read external data of '{path}': {_short(exc)}") from exc


def save_model(model: onnx.ModelProto, out: str | os.PathLike) -> Path:
    """Write ``model`` atomically (temp file + rename): on failure nothing partial is left."""
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"Output '{out}' is a directory. Give a file name such as '{out / 'model.onnx'}'.")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"Output folder '{folder}' does not exist. Create it first.")
    data = model.SerializeToString()
    write_bytes_atomic(out, data)
    return out


def write_bytes_atomic(out: Path, data: bytes) -> None:
    """Write bytes to ``out`` via a temp file in the same folder, then rename."""
    folder = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"Cannot write to '{folder}': {exc.strerror}. Choose a writable folder.") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        _unlink_quiet(tmp)
        raise OutputError(f"Could not write '{out}': {exc.strerror}. Nothing was written.") from exc
    except BaseException:
        _unlink_quiet(tmp)
        raise


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:300]
