"""Weight-only quantization (the 2018 study's scheme): weights stored narrow, widened at run time.

Each large float32 weight of a Conv/ConvTranspose/Gemm/MatMul/LSTM/GRU/RNN becomes a narrow
initializer plus a node that restores float32 under the weight's original name, so every consumer
is unchanged and all compute stays float32. Written by hand: onnxruntime's weight-only tooling
(MatMulNBitsQuantizer, which also needs the onnx_ir package) covers only MatMul and Gather with
blocked scales, not Conv, Gemm or recurrent weights, so one scheme here serves every op.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from advisor.compression.base import CompressionResult, Setting
from advisor.compression.graph_utils import (
    MIN_WEIGHT_ELEMENTS,
    copy_model,
    default_opset,
    find_weights,
    fresh_name,
    replace_initializers,
    share,
    tensor_names,
    upgrade_opset,
)

_OPSET_NEEDED = {16: 0, 8: 13, 4: 21}  # per-axis DequantizeLinear: 13; INT4 inputs: 21
_QMAX = {8: 127, 4: 7}  # symmetric range [-qmax, qmax]
_FP16_MAX = 65504.0


class WeightOnly(Setting):
    """Weights of >= 1024 elements stored as fp16 (+Cast), or int8/int4 symmetric per output channel
    (+DequantizeLinear with ``axis``); biases, norms and small kernels stay float32. 4-bit storage
    needs opset 21, so the default-domain opset is raised with onnx's version converter.

    Fidelity (mean output cosine vs FP32, tiny zoo, 4 seeded synthetic samples, random weights):
    wq16 worst 0.9999999 (mlp); wq8 worst 0.99995 (mlp); wq4 worst 0.9902 (mlp), CNNs >= 0.9989.
    Floors set to 0.9999 / 0.999 / 0.98. multibranch_cnn is refused (no weight reaches 1024 elements).
    """

    family = "weight-only"
    touches = ("Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN")
    _FLOORS = {16: 0.9999, 8: 0.999, 4: 0.98}

    def __init__(self, name: str, bits: int):
        if bits not in _OPSET_NEEDED:
            raise ValueError(f"bits must be one of {sorted(_OPSET_NEEDED)}, got {bits}")
        self.name = name
        self.bits = bits
        self.min_cosine = self._FLOORS[bits]
        kind = "fp16 + Cast" if bits == 16 else f"int{bits} per-channel + DequantizeLinear"
        self.description = f"Weight-only {bits}-bit storage ({kind}); compute stays FP32."

    @property
    def params(self) -> dict:
        return {"bits": self.bits}

    def check(self, lm) -> str | None:
        if not find_weights(lm.model):
            return (f"no float32 Conv/Gemm/MatMul/recurrent weight with >= {MIN_WEIGHT_ELEMENTS} elements "
                    "to store narrow")
        need = _OPSET_NEEDED[self.bits]
        if default_opset(lm.model) < need:
            try:  # the skeleton has the same ops without the weight bytes: a cheap dry run
                upgrade_opset(lm.inferred, need)
            except Exception as exc:  # onnx's converter raises RuntimeError/ConvertError
                return (f"{self.bits}-bit storage needs opset {need} but the model's opset "
                        f"{default_opset(lm.model)} does not convert ({str(exc).splitlines()[0][:100]})")
        return None

    def _apply(self, lm, data) -> CompressionResult:
        model = upgrade_opset(copy_model(lm.model), _OPSET_NEEDED[self.bits])
        if self.bits == 4:
            model.ir_version = max(model.ir_version, 10)  # INT4 tensors need IR version 10
        weights = find_weights(model)
        total = sum(int(np.prod(t.dims)) for t in model.graph.initializer
                    if t.data_type == onnx.TensorProto.FLOAT)
        by_op: dict = {}
        inits = {t.name: t for t in model.graph.initializer}
        taken = tensor_names(model)
        swaps = []
        for w in weights:
            tensors, node = _encode(numpy_helper.to_array(inits[w.name]), w.name, w.axis, self.bits, taken)
            swaps.append((w.name, tensors, node))
            for op in w.op_types:
                by_op[op] = by_op.get(op, 0) + 1
        replace_initializers(model, swaps)
        converted = sum(w.n_elements for w in weights)
        notes = {"storage": self.description, "weights_converted": len(weights), "weights_by_op": by_op,
                 "converted_elements_share": share(converted, total), "opset": default_opset(model),
                 "compute": "float32"}
        return CompressionResult(setting=self.name, model=model, notes=notes)


def _encode(w: np.ndarray, name: str, axis: int, bits: int, taken: set) -> tuple:
    """Narrow tensors for weight ``w`` and the node that rebuilds float32 ``name`` from them; new
    names avoid those in ``taken``."""
    if bits == 16:
        half = numpy_helper.from_array(np.clip(w, -_FP16_MAX, _FP16_MAX).astype(np.float16),
                                       fresh_name(taken, f"{name}_fp16"))
        return [half], helper.make_node("Cast", [half.name], [name], name=fresh_name(taken, f"{name}_Cast"),
                                        to=onnx.TensorProto.FLOAT)
    qmax = _QMAX[bits]
    reduce_axes = tuple(i for i in range(w.ndim) if i != axis)
    absmax = np.max(np.abs(w), axis=reduce_axes) if reduce_axes else np.abs(w)
    scale = np.where(absmax > 0, absmax / qmax, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -qmax, qmax).astype(np.int8)
    if bits == 4:
        import ml_dtypes  # a dependency of onnx >= 1.17; gives numpy an int4 dtype onnx packs 2 per byte

        q = q.astype(ml_dtypes.int4)
    qt = numpy_helper.from_array(q, fresh_name(taken, f"{name}_q{bits}"))
    st = numpy_helper.from_array(scale, fresh_name(taken, f"{name}_scale"))
    node = helper.make_node("DequantizeLinear", [qt.name, st.name], [name],
                            name=fresh_name(taken, f"{name}_DequantizeLinear"), axis=axis)
    return [qt, st], node
