"""INT8 quantization with onnxruntime's own tooling: dynamic (weights int8, activations quantized
per call) and static QDQ (weights and activations int8, activation ranges from calibration).

onnxruntime's quantizers work on files and may rewrite a ModelProto handed to them (e.g. move its
weights to external data), so every call goes through copies in a temporary folder.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import onnx

from advisor.compression import data as cdata
from advisor.compression.base import CompressionResult, Setting
from advisor.compression.graph_utils import op_counts, share
from advisor.errors import SettingError
from advisor.modelio import from_proto

# onnxruntime's IntegerOpsRegistry (quantization/registry.py) minus Conv (ConvInteger is 5-15x
# slower than float Conv on x86 CPUs), Gather and Transpose. Gemm is rewritten to MatMul by the
# dynamic quantizer itself, so listing MatMul covers it. GRU has no dynamic int8 kernel.
_DYNAMIC_OP_TYPES = ["MatMul", "Attention", "LSTM"]
_COMPUTE_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN", "MatMulInteger",
                "DynamicQuantizeLSTM", "DynamicQuantizeMatMul"}
_PROTOBUF_LIMIT_BYTES = 2**31 - 1  # models are handed to onnxruntime's quantizer as single files
_INT_OPS = {"MatMulInteger", "DynamicQuantizeLSTM", "DynamicQuantizeMatMul", "QAttention"}


def _initializer_names(model: onnx.ModelProto) -> set:
    return {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}


def _attr(node: onnx.NodeProto, name: str, default):
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def dynamic_candidates(model: onnx.ModelProto) -> dict:
    """Op type -> count of nodes onnxruntime's dynamic quantizer will turn into integer ops."""
    inits = _initializer_names(model)
    found: dict = {}
    for node in model.graph.node:
        ok = {"MatMul": len(node.input) > 1 and node.input[1] in inits,
              "Gemm": len(node.input) > 1 and node.input[1] in inits and _attr(node, "alpha", 1.0) == 1.0
              and _attr(node, "beta", 1.0) == 1.0 and not _attr(node, "transA", 0),
              "LSTM": len(node.input) > 2 and node.input[1] in inits and node.input[2] in inits,
              "Attention": node.domain == "com.microsoft"}.get(node.op_type, False)
        if ok:
            found[node.op_type] = found.get(node.op_type, 0) + 1
    return found


def static_candidates(model: onnx.ModelProto) -> dict:
    """Op type -> count of Conv/ConvTranspose/Gemm/MatMul nodes with a constant float weight."""
    inits = _initializer_names(model)
    found: dict = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and len(node.input) > 1 \
                and node.input[1] in inits:
            found[node.op_type] = found.get(node.op_type, 0) + 1
    return found


def _mac_share(model: onnx.ModelProto, touched) -> float:
    """Share (0..1) of the model's MACs (advisor.features' counts) in nodes for which
    ``touched(node, producers)``."""
    from advisor.features.graph import GraphView
    from advisor.features.macs import node_cost

    view = GraphView(from_proto(model, check=False))
    done = total = 0
    for node in view.compute:
        macs = node_cost(_as_float_op(node), view).macs
        total += macs
        done += macs if touched(node, view.producers) else 0
    return share(done, total)


def _as_float_op(node: onnx.NodeProto) -> onnx.NodeProto:
    """The float op whose MAC formula a contrib integer op shares (DynamicQuantizeLSTM -> LSTM, ...)."""
    alias = {"DynamicQuantizeMatMul": "MatMul", "DynamicQuantizeLSTM": "LSTM"}
    if node.op_type not in alias:
        return node
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.op_type = alias[node.op_type]
    return copy


def _too_big(lm) -> str | None:
    # ByteSize() walks the whole message (~0.1 s per 100 MB); the weights' declared sizes are a cheap
    # lower bound, so the exact size is computed only for models near the limit.
    declared = sum(_declared_bytes(t) for t in lm.model.graph.initializer)
    if declared < 0.9 * _PROTOBUF_LIMIT_BYTES:
        return None
    size = lm.model.ByteSize()
    if size > _PROTOBUF_LIMIT_BYTES:
        return f"the model is {size / 2**30:.1f} GiB; quantizing models over 2 GiB (external data) is not supported"
    return None


def _declared_bytes(t) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize if t.data_type else 0


def _run_quantizer(lm, quantize) -> tuple:
    """Save ``lm.model`` to a temp folder, pre-process it, call ``quantize(src, dst)``; return
    (quantized ModelProto, pre-processing note)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="advisor-quant-") as tmp:
        src, pre, dst = (str(Path(tmp) / f) for f in ("in.onnx", "pre.onnx", "out.onnx"))
        onnx.save(lm.model, src)
        try:  # shape inference + basic graph optimisation (BN folding); optional, so it may fail
            quant_pre_process(src, pre)
            note = "quant_pre_process"
        except Exception as exc:  # noqa: BLE001 - any failure just means we quantize the raw graph
            pre, note = src, f"skipped ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
        try:
            quantize(pre, dst)
            model = onnx.load(dst)
        except Exception as exc:  # onnxruntime's quantizer raises many kinds
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise SettingError(f"onnxruntime's quantizer failed on the model: {first}") from exc
    return model, note


class DynamicInt8(Setting):
    """Dynamic INT8 (``onnxruntime.quantization.quantize_dynamic``) of MatMul/Gemm/LSTM/Attention:
    int8 weights, activations quantized to uint8 at run time. Conv and GRU stay float32.

    Notes give the quantized op counts, what stayed float, and ``touched_macs_share``: the share of
    compute MACs now in integer kernels (small for CNNs whose only matrix op is the classifier).

    Fidelity (mean output cosine vs FP32, tiny zoo, 4 seeded synthetic samples, random weights):
    worst 0.99994 (mlp); CNNs >= 0.99999 (only their final Gemm changes). Floor set to 0.999.
    """

    family = "quantization"
    description = "INT8 dynamic quantization of MatMul/Gemm/LSTM/Attention (onnxruntime); Conv untouched."
    touches = ("MatMul", "Gemm", "LSTM", "Attention")
    min_cosine = 0.999

    def __init__(self, name: str = "int8-dynamic"):
        self.name = name

    def check(self, lm) -> str | None:
        if _too_big(lm):
            return _too_big(lm)
        if not dynamic_candidates(lm.model):
            return ("no MatMul/Gemm with constant weights, LSTM or Attention op to quantize "
                    "(dynamic int8 leaves Conv and GRU in float32)")
        return None

    def _apply(self, lm, data) -> CompressionResult:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        def run(src, dst):
            quantize_dynamic(src, dst, op_types_to_quantize=_DYNAMIC_OP_TYPES, weight_type=QuantType.QInt8)

        model, pre = _run_quantizer(lm, run)
        after = op_counts(model)
        notes = {"quantized_ops": dynamic_candidates(lm.model),
                 "integer_ops": {k: v for k, v in after.items() if k in _INT_OPS},
                 "float_compute_ops": {k: v for k, v in after.items() if k in _COMPUTE_OPS - _INT_OPS},
                 "weights": "int8 symmetric per-tensor", "activations": "uint8, range computed per call",
                 "pre_process": pre,
                 "touched_macs_share": _mac_share(model, lambda node, _p: node.op_type in _INT_OPS)}
        return CompressionResult(setting=self.name, model=model, notes=notes)


class _FeedReader:
    """An onnxruntime CalibrationDataReader (duck-typed: ``get_next``) over CalibrationData feeds."""

    def __init__(self, data):
        self._feeds = iter(data.feeds())

    def get_next(self):
        return next(self._feeds, None)


class StaticInt8(Setting):
    """Static INT8 in QDQ format (``onnxruntime.quantization.quantize_static``) after
    ``quant_pre_process``: int8 weights (symmetric, per output channel or per tensor) and int8
    activations (asymmetric, MinMax ranges from calibration inputs). S8S8 QDQ is quantize_static's
    own default and the combination onnxruntime's quantization guide says to try first on x86-64
    CPUs (U8U8 only if accuracy drops).

    Calibrates on the given data or, without data, on ``data.synthetic(lm)`` (16 seeded samples).
    Recurrent ops (LSTM/GRU) are not quantized by onnxruntime's QDQ quantizer and stay float32.

    Fidelity (mean output cosine vs FP32, tiny zoo, 4 seeded synthetic samples, random weights,
    synthetic calibration): per-channel worst 0.99985, per-tensor worst 0.99986 (both transformer);
    every other model >= 0.9999. Floor set to 0.999. Trained weights with outlier channels and
    real activation ranges fare worse than these random-weight figures.
    """

    family = "quantization"
    touches = ("Conv", "ConvTranspose", "Gemm", "MatMul")
    needs_calibration = True
    min_cosine = 0.999

    def __init__(self, name: str, per_channel: bool = True):
        self.name = name
        self.per_channel = per_channel
        self.description = (f"INT8 static QDQ, weights {'per-channel' if per_channel else 'per-tensor'}, "
                            "activations calibrated (onnxruntime quantize_static).")

    @property
    def params(self) -> dict:
        return {"per_channel": self.per_channel}

    def check(self, lm) -> str | None:
        if _too_big(lm):
            return _too_big(lm)
        if not static_candidates(lm.model):
            return "no Conv, ConvTranspose, Gemm or MatMul with constant float weights to quantize"
        return None

    def _apply(self, lm, data) -> CompressionResult:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        calib = data if data is not None else cdata.synthetic(lm)

        def run(src, dst):
            quantize_static(src, dst, _FeedReader(calib), quant_format=QuantFormat.QDQ,
                            per_channel=self.per_channel, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)

        model, pre = _run_quantizer(lm, run)
        notes = {"format": "QDQ", "quantized_ops": _qdq_count(model, True),
                 "float_compute_ops": _qdq_count(model, False),
                 "weights": f"int8 symmetric {'per-channel' if self.per_channel else 'per-tensor'}",
                 "activations": "int8 asymmetric, MinMax calibration", "pre_process": pre,
                 "calibration": calib.source, "calibration_samples": calib.n_samples,
                 "touched_macs_share": _mac_share(model, _weight_from_dq)}
        return CompressionResult(setting=self.name, model=model, notes=notes)


def _weight_from_dq(node: onnx.NodeProto, producers: dict) -> bool:
    src = producers.get(node.input[1]) if len(node.input) > 1 else None
    return src is not None and src.op_type == "DequantizeLinear"


def _qdq_count(model: onnx.ModelProto, quantized: bool) -> dict:
    """Op type -> count of compute nodes whose weight input does (or, with ``quantized`` False,
    does not) come from a DequantizeLinear."""
    producers = {o: n for n in model.graph.node for o in n.output}
    found: dict = {}
    for node in model.graph.node:
        if node.op_type in _COMPUTE_OPS and _weight_from_dq(node, producers) == quantized:
            found[node.op_type] = found.get(node.op_type, 0) + 1
    return found
