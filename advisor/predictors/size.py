"""Serialized size (bytes) of what each compression setting would produce, computed from the graph.

Nothing is learned and no setting is run. Each estimate replays the setting's *structural* edits on a
"hollow" copy of the model, in which every initializer of >= 1 KiB keeps its name, dims and type but
not its payload, then adds the payloads back with protobuf's exact length arithmetic: a hollow tensor
(one holding no data at all) stands for ``elements x element width`` raw bytes (4-bit types: half).
No weight value is read, no calibration, quantizer, converter session or channel scoring runs.

What each setting's replay mirrors (bytes of names, attributes and small tensors included):

- none / sparse*: the model as is (zeros do not change the raw file).
- fp16: onnxruntime's float16 converter (keep_io_types): its shape inference, I/O Casts, fp16 tensors,
  Casts around ops of its default block list.
- wq16/wq8/wq4: advisor.compression.weight_only (opset raised by onnx's converter, on the hollow copy).
- chprune*: advisor.compression.channel_prune; kept channel *counts* depend on the ratio only.
- int8-*: onnxruntime's quant_pre_process (Constant folding, Identity removal, scalar sharing, Conv+BN
  and MatMul+Add fusion, schema-default attributes, value_info) then quantize_dynamic (MatMulInteger,
  DynamicQuantizeLSTM) or quantize_static's QDQ pass (Q/DQ pairs, removable Relu/Clip, shared scales,
  per-channel or per-tensor weights, int32 biases).
- pipelines: the steps in order, shapes re-inferred between steps.

Measured against really applying each setting (onnx 1.23, onnxruntime 1.32; 54 models: tiny zoo,
generated zoo, tests/test_size_model.py's 1-2 MB models, ResNet-50): exact (0 bytes) for none, sparse*,
fp16, wq*, chprune*; int8 settings and pipelines within 0.45% on models >= 1 MB and 0.6% on smaller
ones. What is not replayed: onnxruntime's common-subexpression elimination, Transpose cancelling and
Reshape merging, and activation zero points (their varint width depends on calibration; -128 assumed).
Estimating all 16 settings of a 100 MB ResNet-50 takes ~0.15-0.25 s (benchmarks/bench_size_model.py).

This module holds the public API and the dispatch; the replays live in size_proto (protobuf length
arithmetic, hollow copies, graph edits), size_settings (fp16, weight-only, channel pruning), size_ort
(quant_pre_process) and size_int8 (quantize_dynamic, quantize_static).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from advisor.errors import NotApplicableError, SettingError
from advisor.modelio import LoadedModel
from advisor.predictors.size_int8 import _dynamic, _static
from advisor.predictors.size_ort import _pre_process
from advisor.predictors.size_proto import _copy, _value_infos, hollow, serialized_bytes
from advisor.predictors.size_settings import _channel_prune, _fp16, _weight_only

__all__ = ["estimate_all", "estimate_size_bytes", "hollow", "serialized_bytes"]

_PROTOBUF_LIMIT_BYTES = 2**31 - 1  # advisor.compression.quantize refuses models above this


# --- public API -----------------------------------------------------------------------------------

def estimate_size_bytes(lm: LoadedModel, setting_name: str) -> int:
    """Predicted ``ByteSize()`` (bytes) of ``get_setting(setting_name).apply(lm).model``.

    Raises NotApplicableError (the setting's own reason) when the setting does not apply, and
    SettingError for a registered setting of a kind this size model does not know.
    """
    return _estimate(_Context.of(lm), setting_name)


def estimate_all(lm: LoadedModel, names=None) -> dict:
    """Setting name -> predicted bytes (``estimate_size_bytes``), or None where the setting does not
    apply; every registered setting when ``names`` is None. Shares one hollow copy across settings."""
    from advisor.compression import setting_names

    ctx = _Context.of(lm)
    out = {}
    for name in names if names is not None else setting_names():
        try:
            out[name] = _estimate(ctx, name)
        except NotApplicableError:
            out[name] = None
    return out


@dataclass
class _Context:
    """One model's hollow copy and tensor types/shapes, shared by every setting's estimate."""

    lm: LoadedModel
    hollow: onnx.ModelProto
    infos: dict
    cache: dict = field(default_factory=dict)

    @classmethod
    def of(cls, lm: LoadedModel) -> _Context:
        return cls(lm, hollow(lm.model), _value_infos(lm.inferred))

    def proxy(self) -> LoadedModel:
        """``lm`` with the hollow model: what every setting's ``check`` reads, minus the weight bytes."""
        return LoadedModel(self.lm.path, self.hollow, self.lm.inferred)

    def trace(self):
        """channel_trace's ChannelGraph of the model (reads the graph and shapes only)."""
        from advisor.compression.channel_trace import trace

        if "trace" not in self.cache:
            self.cache["trace"] = trace(self.proxy())
        return self.cache["trace"]

    def size(self) -> int:
        if "size" not in self.cache:
            self.cache["size"] = serialized_bytes(self.hollow)
        return self.cache["size"]

    def pre_processed(self) -> tuple[onnx.ModelProto, dict]:
        """A copy of the graph quant_pre_process would write, and the types/shapes of its tensors."""
        if "pre" not in self.cache:
            infos = dict(self.infos)
            self.cache["pre"] = (_pre_process(_copy(self.hollow), infos), infos)
        model, infos = self.cache["pre"]
        return _copy(model), dict(infos)


def _estimate(ctx: _Context, setting_name: str) -> int:
    return serialized_bytes(replay(ctx, setting_name))


def replay(ctx: _Context, setting_name: str) -> onnx.ModelProto:
    """The hollow model ``setting_name`` would produce from ``ctx``'s model (NotApplicableError with the
    setting's reason when it does not apply)."""
    from advisor.compression import get_setting

    setting = get_setting(setting_name)
    reason = setting.check(ctx.proxy())
    if reason is None and _uses_ort_quantizer(setting) and ctx.size() > _PROTOBUF_LIMIT_BYTES:
        reason = "quantizing models over 2 GiB (external data) is not supported"
    if reason:
        raise NotApplicableError(f"Setting '{setting_name}' does not apply: {reason}")
    return _structure(ctx, setting)


def _uses_ort_quantizer(setting) -> bool:
    steps = getattr(setting, "steps", ())
    if steps:
        from advisor.compression import get_setting
        return any(_uses_ort_quantizer(get_setting(s)) for s in steps)
    return setting.family == "quantization"


def _structure(ctx: _Context, setting) -> onnx.ModelProto:
    """The hollow model ``setting`` would produce from ``ctx``'s model."""
    from advisor.compression import baseline, channel_prune, combined, fp16, quantize, sparsity, weight_only

    kind = type(setting)
    if kind in (baseline.Baseline, sparsity.MagnitudePruning):  # copies; zeros cost what the values cost
        return _copy(ctx.hollow)
    if kind is fp16.Float16:
        return _fp16(_copy(ctx.hollow))
    if kind is weight_only.WeightOnly:
        return _weight_only(_copy(ctx.hollow), setting.bits)
    if kind is channel_prune.ChannelPruning:
        return _channel_prune(_copy(ctx.hollow), ctx.trace(), setting.ratio, getattr(setting, "align", 1))
    if kind is quantize.DynamicInt8:
        return _dynamic(*ctx.pre_processed())
    if kind is quantize.StaticInt8:
        return _static(*ctx.pre_processed(), setting.per_channel)
    if kind is combined.Pipeline:
        return _pipeline(ctx, setting)
    raise SettingError(f"No size model for setting '{setting.name}' ({kind.__name__}). Size models exist for "
                       "the built-in kinds: baseline, sparsity, fp16, weight-only, channel pruning, int8, pipelines.")


def _pipeline(ctx: _Context, setting) -> onnx.ModelProto:
    """Each step on the previous step's result, whose shapes are re-inferred as from_proto does."""
    from advisor.compression import get_setting

    current = ctx
    for i, step in enumerate(setting.steps):
        h = _structure(current, get_setting(step))
        if i + 1 < len(setting.steps):
            inferred = onnx.shape_inference.infer_shapes(h, strict_mode=False, data_prop=True)
            current = _Context(LoadedModel(None, h, inferred), h, _value_infos(inferred))
    return h
