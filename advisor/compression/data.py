"""Inputs for calibration and accuracy: a user's .npz file, or seeded synthetic inputs."""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import onnx

from advisor.compression.base import CalibrationData
from advisor.errors import DataError
from advisor.modelio import LoadedModel

# Synthetic inputs above this many elements (all samples of one input) are refused, not allocated:
# a model may declare any shape (1 GiB of float32).
MAX_SYNTHETIC_ELEMENTS = 1 << 28
_NPZ_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}

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
        if math.prod(full) > MAX_SYNTHETIC_ELEMENTS:
            raise DataError(f"Input '{name}' has shape {shape}: {n_samples} synthetic samples would need "
                            f"{math.prod(full)} elements (limit {MAX_SYNTHETIC_ELEMENTS}). Give a smaller shape with "
                            "--input-shape, or your own inputs with --data.")
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
    arrays = _read_npz(p)
    specs = input_specs(lm)
    labels = arrays.pop("labels", None)
    if labels is not None and (labels.ndim != 1 or labels.dtype.kind not in "biu"):
        raise DataError(f"Data file '{p}': 'labels' must be a 1-D integer array, got {labels.dtype} of shape "
                        f"{list(labels.shape)}.")
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


def _read_npz(p: Path) -> dict:
    """Every array of the .npz at ``p``; DataError for anything else: a pickle or object array (never
    unpickled), a member that is not an array, or a header declaring more bytes than the member holds
    (checked before numpy allocates it)."""
    if not p.is_file():
        raise DataError(f"Data file '{p}' does not exist or is not a file. Give an .npz file.")
    try:
        with open(p, "rb") as fh:
            if fh.read(4) not in _NPZ_MAGICS:
                raise DataError(f"Data file '{p}' is not an .npz archive (a single .npy array, a pickle or "
                                "another format). Save it with numpy.savez(path, input_name=array, ...).")
        with np.load(p, allow_pickle=False) as z:
            for info in z.zip.infolist():
                _check_member(z.zip, info, p)
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, MemoryError) as exc:
        raise DataError(f"Data file '{p}' is not a readable .npz without pickles ({_first_line(exc)}). "
                        "Save it with numpy.savez.") from exc


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, p: Path) -> None:
    with archive.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = _NPY_HEADER_READERS[version](fh)
        except (KeyError, ValueError, EOFError):
            raise DataError(f"Data file '{p}': member '{info.filename}' is not a numpy array. "
                            "Save the file with numpy.savez.") from None
    if dtype.hasobject:
        raise DataError(f"Data file '{p}': array '{info.filename}' holds Python objects (pickled); refusing to "
                        "load it. Save plain numeric arrays.")
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise DataError(f"Data file '{p}': array '{info.filename}' declares shape {list(shape)} of {dtype}, more "
                        f"than the {info.file_size} bytes it holds. The file is corrupt.")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:120]


def _conform(path: Path, name: str, arr: np.ndarray, shape: list, dtype) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DataError(f"Data file '{path}': input '{name}' has dtype {arr.dtype}; give numbers (bool, int or float).")
    if arr.ndim != len(shape) or list(arr.shape[1:]) != shape[1:]:
        raise DataError(f"Data file '{path}': input '{name}' has shape {list(arr.shape)}; the model "
                        f"wants [n, {', '.join(map(str, shape[1:]))}].")
    if len(arr) == 0:
        raise DataError(f"Data file '{path}': input '{name}' has no samples.")
    return arr.astype(dtype, copy=False)
