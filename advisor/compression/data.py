"""Inputs for calibration and accuracy: a user's .npz file, or seeded synthetic inputs."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx

from advisor.compression.base import CalibrationData
from advisor.errors import DataError
from advisor.modelio import LoadedModel

_ONNX_TO_NP = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.FLOAT16: np.float16,
               onnx.TensorProto.DOUBLE: np.float64, onnx.TensorProto.INT64: np.int64,
               onnx.TensorProto.INT32: np.int32, onnx.TensorProto.BOOL: np.bool_,
               onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.INT8: np.int8}


def input_specs(lm: LoadedModel) -> dict:
    """Graph inputs that are not initializers: name -> (shape list with 1 for unknown dims, numpy dtype)."""
    inits = {t.name for t in lm.model.graph.initializer}
    specs = {}
    for vi in lm.model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim]
        specs[vi.name] = (shape, _ONNX_TO_NP.get(tt.elem_type, np.float32))
    return specs


def synthetic(lm: LoadedModel, n_samples: int = 16, seed: int = 0) -> CalibrationData:
    """Seeded random inputs: N(0,1) floats; integer inputs (token ids) uniform in [0, vocab)."""
    rng = np.random.default_rng(seed)
    vocab = embedding_rows(lm)
    inputs = {}
    for name, (shape, dtype) in input_specs(lm).items():
        full = [n_samples] + shape[1:]
        if np.issubdtype(dtype, np.integer):
            inputs[name] = rng.integers(0, vocab, size=full).astype(dtype)
        elif dtype == np.bool_:
            inputs[name] = np.ones(full, dtype=bool)
        else:
            inputs[name] = rng.standard_normal(full).astype(dtype)
    return CalibrationData(inputs=inputs, source=f"synthetic(seed={seed})")


def embedding_rows(lm: LoadedModel) -> int:
    """Smallest row count of a Gather table (a safe id range for token inputs); 2 if none."""
    inits = {t.name: t for t in lm.model.graph.initializer}
    rows = [int(inits[n.input[0]].dims[0]) for n in lm.model.graph.node
            if n.op_type == "Gather" and n.input[0] in inits and len(inits[n.input[0]].dims) == 2]
    return min(rows) if rows else 2


def load_npz(path: str | Path, lm: LoadedModel) -> CalibrationData:
    """Load ``path`` (.npz; never pickles). Keys: the model's input names (or ``inputs`` for a
    single-input model) and optional ``labels``. Arrays are [n_samples, *input_shape[1:]]."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"Data file '{p}' does not exist or is not a file. Give an .npz file.")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"Data file '{p}' is not a readable .npz without pickles ({str(exc)[:120]}). "
                        "Save it with numpy.savez.") from exc
    specs = input_specs(lm)
    labels = arrays.pop("labels", None)
    if len(specs) == 1 and "inputs" in arrays:
        arrays = {next(iter(specs)): arrays.pop("inputs")}
    missing = [n for n in specs if n not in arrays]
    if missing:
        raise DataError(f"Data file '{p}' lacks input(s) {', '.join(missing)}; it has "
                        f"{', '.join(sorted(arrays)) or 'nothing'}. Use the model's input names as keys.")
    inputs = {n: _conform(p, n, arrays[n], *specs[n]) for n in specs}
    counts = {len(v) for v in inputs.values()}
    if len(counts) != 1 or (labels is not None and len(labels) not in counts):
        raise DataError(f"Data file '{p}': inputs and labels must have the same number of samples.")
    return CalibrationData(inputs=inputs, source=f"data:{p}", labels=labels)


def _conform(path: Path, name: str, arr: np.ndarray, shape: list, dtype) -> np.ndarray:
    if arr.ndim != len(shape) or list(arr.shape[1:]) != shape[1:]:
        raise DataError(f"Data file '{path}': input '{name}' has shape {list(arr.shape)}; the model "
                        f"wants [n, {', '.join(map(str, shape[1:]))}].")
    if len(arr) == 0:
        raise DataError(f"Data file '{path}': input '{name}' has no samples.")
    return arr.astype(dtype, copy=False)
