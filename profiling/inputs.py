"""Inputs for measurement and accuracy on the device: a .npz file or seeded synthetic arrays.

Python 3.6 syntax; numpy only. The npz layout is the advisor's: arrays named after the model's
inputs (or ``inputs`` for a one-input model), shaped [n_samples, ...], optional ``labels``.
"""
import numpy as np

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
              "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


def session_input_specs(session):
    """name -> (shape with unknown dims as 1, numpy dtype) from an onnxruntime session."""
    specs = {}
    for i in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        specs[i.name] = (shape, _ORT_TYPES.get(i.type, np.float32))
    return specs


def load_inputs(specs, data_path=None, n_samples=8, seed=0, int_high=2):
    """(list of feed dicts with batch 1, labels or None, source string)."""
    if data_path:
        with np.load(str(data_path), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        labels = arrays.pop("labels", None)
        if len(specs) == 1 and "inputs" in arrays:
            arrays = {list(specs)[0]: arrays.pop("inputs")}
        missing = [n for n in specs if n not in arrays]
        if missing:
            raise ValueError("data file {} lacks input(s) {}".format(data_path, ", ".join(missing)))
        inputs = {n: arrays[n].astype(specs[n][1], copy=False) for n in specs}
        source = "data:{}".format(data_path)
    else:
        rng = np.random.RandomState(seed)
        inputs = {}
        for name, (shape, dtype) in specs.items():
            full = [n_samples] + shape[1:]
            if np.issubdtype(dtype, np.integer):
                inputs[name] = rng.randint(0, int_high, size=full).astype(dtype)
            elif dtype == np.bool_:
                inputs[name] = np.ones(full, dtype=bool)
            else:
                inputs[name] = rng.standard_normal(full).astype(dtype)
        labels = None
        source = "synthetic(seed={})".format(seed)
    n = len(next(iter(inputs.values()))) if inputs else 0
    feeds = [{k: v[i:i + 1] for k, v in inputs.items()} for i in range(n)]
    return feeds, labels, source
