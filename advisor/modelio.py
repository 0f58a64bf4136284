"""Reading and writing ONNX models robustly: every failure becomes a one-line ModelError.

Large weights are never copied needlessly: validation and shape inference run on a "skeleton"
of the model whose big initializers keep their dims but not their bytes. Model files are untrusted
(see SECURITY.md): external data is read only from inside the model's folder, declared sizes are
checked against the bytes present before anything is read, and models over protobuf's 2 GB limit
are written with their weights in an external data file.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import shape_inference

from advisor import external_data
from advisor.errors import AdvisorError, ModelError, OutputError

# Initializers above this many bytes are blanked in the skeleton used for checks.
_SKELETON_MIN_BYTES = 1024
# Standard domains onnxruntime implements; anything else is an unknown op domain.
KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"}
# A serialized ModelProto above this is refused by protobuf (2 GiB); keep a margin for the graph.
MAX_INLINE_BYTES = 2 ** 31 - 2 ** 24


@dataclass(frozen=True)
class LoadedModel:
    """A validated model plus its shape-inferred skeleton (value_info for every tensor)."""

    path: Path | None
    model: onnx.ModelProto
    inferred: onnx.ModelProto


def load_model(path: str | os.PathLike, check: bool = True, input_shapes: dict | None = None,
               require_static: bool = False) -> LoadedModel:
    """Load, validate and shape-infer the ONNX file at ``path``; raise ModelError on any problem.

    ``input_shapes`` ({input name: dims}) fixes dynamic input dims before shape inference;
    ``require_static`` then refuses (UsageError) a model whose inputs still have dynamic dims.
    """
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
    try:
        external_data.load(model, p)
    except (KeyError, ValueError, TypeError, RuntimeError, OSError) as exc:  # NUL in a location, symlink loop
        raise ModelError(f"'{p}' has unreadable external data references ({_short(exc)}). "
                         "Re-export the model.") from exc
    return from_proto(model, path=p, check=check, input_shapes=input_shapes, require_static=require_static)


def from_proto(model: onnx.ModelProto, path: Path | None = None, check: bool = True,
               input_shapes: dict | None = None, require_static: bool = False) -> LoadedModel:
    """Validate an in-memory model; ``path`` only labels error messages. ``input_shapes`` (applied to
    ``model`` in place) and ``require_static`` as for ``load_model``."""
    from advisor import shapes

    label = f"'{path}'" if path else "the model"
    if not isinstance(model, onnx.ModelProto) or len(model.graph.node) == 0:
        raise ModelError(f"{label} holds no ONNX graph (no nodes). Give a model exported to ONNX.")
    try:  # a corrupt proto can hold invalid UTF-8 names or unknown enum values: KeyError, ValueError
        _check_domains(model, label)
        _check_data_types(model, label)
        _check_opsets(model, label)
        if check:
            _check_dataflow(model.graph, label)
        if input_shapes:
            shapes.apply_input_shapes(model, input_shapes, label)
        if require_static:
            shapes.require_static(model, label)
        skel = skeleton(model)
    except AdvisorError:
        raise
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ModelError(f"{label} is malformed ONNX: {_short(exc)}. Re-export the model.") from exc
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
    skel, inits = external_data.copy_without_initializers(model)
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
        need = external_data.payload_bytes(t)
        if need is not None and len(t.raw_data) != need:
            raise ModelError(f"Tensor '{t.name}' holds {len(t.raw_data)} bytes but its shape "
                             f"{list(t.dims)} needs {need}: the file is truncated or corrupt.")


def _check_data_types(model: onnx.ModelProto, label: str) -> None:
    """Every initializer's data type is one this onnx version defines (a corrupt or newer file can
    carry others, which nothing downstream can size or read)."""
    known = set(onnx.TensorProto.DataType.values()) - {onnx.TensorProto.UNDEFINED}
    for t in model.graph.initializer:
        if t.data_type not in known:
            raise ModelError(f"{label}: initializer '{t.name}' has data type {t.data_type}, which the installed "
                             f"onnx {onnx.__version__} does not define. Re-export the model, or upgrade onnx.")


def _check_domains(model: onnx.ModelProto, label: str) -> None:
    local = {f.domain for f in model.functions}
    for node in model.graph.node:
        if node.domain not in KNOWN_DOMAINS and node.domain not in local:
            raise ModelError(f"{label} uses op '{node.op_type}' from unknown domain '{node.domain}'. "
                             f"Supported domains: {', '.join(sorted(d or 'ai.onnx' for d in KNOWN_DOMAINS))}.")


def _check_opsets(model: onnx.ModelProto, label: str) -> None:
    """Refuse an opset newer than the installed onnx knows (e.g. 99): its ops have no schema to check."""
    known = onnx.defs.C.schema_version_map()
    for o in model.opset_import:
        domain = "" if o.domain == "ai.onnx" else o.domain
        if domain in known and not known[domain][0] <= o.version <= known[domain][1]:
            name = domain or "ai.onnx"
            raise ModelError(f"{label} imports opset {o.version} of domain '{name}', which the installed onnx "
                             f"{onnx.__version__} does not know (it knows {known[domain][0]} to {known[domain][1]}). "
                             "Re-export the model with a released opset, e.g. 17.")


def _check_dataflow(graph: onnx.GraphProto, label: str) -> None:
    """Every node input is produced by something, and the graph has no cycle (clearer than the checker)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    available |= {t.values.name for t in graph.sparse_initializer}
    producer = {o: n for n in graph.node for o in n.output if o}
    for n in graph.node:
        for x in n.input:
            if x and x not in available and x not in producer:
                raise ModelError(f"{label}: node '{n.name or n.op_type}' ({n.op_type}) reads '{x}', which no node, "
                                 "initializer or graph input produces. Re-export the model.")
    for o in graph.output:
        if o.name not in available and o.name not in producer:
            raise ModelError(f"{label}: graph output '{o.name}' is produced by nothing. Re-export the model.")
    pending = [{x for x in n.input if x in producer and x not in available} for n in graph.node]
    readers: dict[str, list[int]] = {}
    for i, need in enumerate(pending):
        for x in need:
            readers.setdefault(x, []).append(i)
    ready = [i for i, need in enumerate(pending) if not need]
    done = 0
    while ready:
        n = graph.node[ready.pop()]
        done += 1
        for o in n.output:
            for i in readers.pop(o, ()):
                pending[i].discard(o)
                if not pending[i]:
                    ready.append(i)
    if done < len(graph.node):
        stuck = graph.node[next(i for i, need in enumerate(pending) if need)]
        raise ModelError(f"{label} has a cycle through node '{stuck.name or stuck.op_type}' ({stuck.op_type}): "
                         "ONNX graphs must be acyclic. Re-export the model.")


def save_model(model: onnx.ModelProto, out: str | os.PathLike, max_inline_bytes: int | None = None) -> Path:
    """Write ``model`` atomically (temp file + rename): on failure nothing partial is left.

    A model over ``max_inline_bytes`` (default MAX_INLINE_BYTES, protobuf's 2 GB limit) is written
    as OUT plus ``OUT.data`` holding its large tensors (ONNX external data next to the model); one
    still over the limit without them is refused with an OutputError.
    """
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"Output '{out}' is a directory. Give a file name such as '{out / 'model.onnx'}'.")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"Output folder '{folder}' does not exist. Create it first.")
    limit = MAX_INLINE_BYTES if max_inline_bytes is None else max_inline_bytes
    if model.ByteSize() <= limit:
        write_bytes_atomic(out, model.SerializeToString())
        return out
    data_path = out.with_name(out.name + ".data")
    proto, payloads = external_data.externalize(model, data_path.name)
    if proto.ByteSize() > limit:
        raise OutputError(f"Cannot write '{out}': {proto.ByteSize()} bytes stay in the graph even with its large "
                          f"tensors moved to '{data_path.name}', over protobuf's limit of {limit} bytes. "
                          "Nothing was written.")
    _commit([(data_path, payloads), (out, [proto.SerializeToString()])])
    return out


def write_bytes_atomic(out: Path, data: bytes) -> None:
    """Write bytes to ``out`` via a temp file in the same folder, then rename."""
    _commit([(out, [data])])


def _commit(files) -> None:
    """Write each (path, byte chunks) to a temp file beside it, fsync, then rename them all in order:
    on any failure every temp file is removed and the targets keep their old content."""
    temps = []
    try:
        for out, chunks in files:
            temps.append((_write_temp(out, chunks), out))
        for tmp, out in temps:
            os.replace(tmp, out)
    except OSError as exc:
        for tmp, _ in temps:
            _unlink_quiet(tmp)
        what = exc.strerror or str(exc)
        raise OutputError(f"Could not write '{files[-1][0]}': {what}. Nothing was written.") from exc
    except BaseException:
        for tmp, _ in temps:
            _unlink_quiet(tmp)
        raise


def _write_temp(out: Path, chunks) -> str:
    """Path of a fsynced temp file in ``out``'s folder holding ``chunks``; removed again on failure."""
    folder = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"Cannot write to '{folder}': {exc.strerror}. Choose a writable folder.") from exc
    try:
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:  # os.write may write less than asked (e.g. a disk filling up)
                    view = view[os.write(fd, view[:1 << 24]):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    return tmp


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:300]
