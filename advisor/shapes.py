"""Concrete input shapes: ``--input-shape NAME=1x3x224x224`` parsed at the edge, applied to a graph.

Features and compression need every graph-input dimension to be a number. A model exported with
dynamic dims (``batch``, ``seq``) gets them from the user; only dynamic dims may be set, so a
given shape never contradicts what the model states.
"""
from __future__ import annotations

import re

import onnx

from advisor.errors import UsageError

FLAG = "--input-shape"
# One dim above this is a typo, not a tensor (and it keeps products of dims in sane ranges).
MAX_DIM = 2 ** 31 - 1
_DIMS = re.compile(r"\d+(?:[xX,]\d+)*")


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """'input=1x3x224x224' -> ('input', (1, 3, 224, 224)). The name is everything before the last '='."""
    name, sep, dims = str(text).rpartition("=")
    dims = dims.strip()
    if not sep or not name.strip() or not _DIMS.fullmatch(dims):
        raise UsageError(f"Cannot read {FLAG} '{text}'. Write NAME=DIMS with positive integer dims joined by 'x', "
                         f"e.g. '{FLAG} input=1x3x224x224'.")
    values = tuple(int(d) for d in re.split(r"[xX,]", dims))
    if any(not 1 <= d <= MAX_DIM for d in values):
        raise UsageError(f"{FLAG} '{text}': every dim must be between 1 and {MAX_DIM}.")
    return name.strip(), values


def parse_input_shapes(texts: list[str] | None) -> dict[str, tuple[int, ...]] | None:
    """Repeated ``--input-shape`` values -> {name: dims}; None when none were given."""
    if not texts:
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for text in texts:
        name, dims = parse_input_shape(text)
        if name in shapes:
            raise UsageError(f"{FLAG} gives input '{name}' twice. Give each input once.")
        shapes[name] = dims
    return shapes


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are fed at run time (not initializers)."""
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def describe(vi: onnx.ValueInfoProto) -> str:
    """'[batch, 3, 224, 224]' ('?' for an unnamed dynamic dim), or '[unknown rank]'."""
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return "[unknown rank]"
    return "[" + ", ".join(str(d.dim_value) if _static(d) else (d.dim_param or "?") for d in tt.shape.dim) + "]"


def dynamic_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Tensor inputs with an unknown rank or any dimension that is not a positive number."""
    out = []
    for vi in graph_inputs(model):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and (not tt.HasField("shape") or not all(_static(d) for d in tt.shape.dim)):
            out.append(vi)
    return out


def apply_input_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]], label: str) -> None:
    """Set the dynamic dims of the named graph inputs of ``model`` in place.

    Raises UsageError, before changing anything, for an unknown input name, a rank mismatch, or a
    dim that contradicts a static dim of the model.
    """
    inputs = {vi.name: vi for vi in graph_inputs(model)}
    for name, dims in shapes.items():
        _check_fits(inputs, name, dims, label)
    for name, dims in shapes.items():
        tt = inputs[name].type.tensor_type
        if not tt.HasField("shape"):
            tt.shape.dim.extend(onnx.TensorShapeProto.Dimension() for _ in dims)
        for d, want in zip(tt.shape.dim, dims, strict=True):
            d.dim_value = want  # clears dim_param (a oneof)


def _check_fits(inputs: dict, name: str, dims: tuple[int, ...], label: str) -> None:
    vi = inputs.get(name)
    if vi is None or not vi.type.HasField("tensor_type"):
        raise UsageError(f"{FLAG} names input '{name}', but {label} has no such tensor input. Its inputs: "
                         f"{', '.join(f'{n} {describe(v)}' for n, v in inputs.items()) or 'none'}.")
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return
    if len(tt.shape.dim) != len(dims):
        raise UsageError(f"{FLAG} {name}={_text(dims)} has rank {len(dims)}, but input '{name}' of {label} is "
                         f"{describe(vi)} (rank {len(tt.shape.dim)}).")
    for i, (d, want) in enumerate(zip(tt.shape.dim, dims, strict=True)):
        if _static(d) and d.dim_value != want:
            raise UsageError(f"{FLAG} {name}={_text(dims)} contradicts dim {i} of input '{name}' {describe(vi)}; "
                             "only dynamic dims can be set.")


def require_static(model: onnx.ModelProto, label: str) -> None:
    """UsageError naming every dynamic input and showing the flag with the model's own input names."""
    dyn = dynamic_inputs(model)
    if not dyn:
        return
    listed = ", ".join(f"{vi.name} {describe(vi)}" for vi in dyn)
    example = " ".join(f"{FLAG} {vi.name}={_example(vi)}" for vi in dyn)
    raise UsageError(f"{label} has dynamic input dimensions: {listed}. Features and compression need concrete "
                     f"shapes; give them, e.g. {example} (replace each dynamic dim with the size you deploy).")


def _static(d: onnx.TensorShapeProto.Dimension) -> bool:
    return d.HasField("dim_value") and d.dim_value > 0


def _example(vi: onnx.ValueInfoProto) -> str:
    tt = vi.type.tensor_type
    dims = [d.dim_value if _static(d) else 1 for d in tt.shape.dim] if tt.HasField("shape") else [1]
    return _text(dims)


def _text(dims) -> str:
    return "x".join(str(d) for d in dims)
