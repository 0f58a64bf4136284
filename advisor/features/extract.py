"""ONNX model -> ModelFeatures: the one entry point that assembles every feature group."""
from __future__ import annotations

import math
from collections import Counter

from advisor.features.graph import GraphView
from advisor.features.layers import Layer, weighted_layers
from advisor.features.macs import CATEGORIES, MAC_CATEGORIES, QUANT_PARAM_SLOTS, node_cost
from advisor.features.schema import ModelFeatures
from advisor.features.structure import activation_features, input_features, structure_features
from advisor.features.tensors import FP16_TYPES, FP32_TYPES, INT8_TYPES, NON_PARAM_TYPES, tensor_bytes
from advisor.features.weights import BELOW_THRESHOLDS, SQNR_CAP_DB
from advisor.modelio import LoadedModel


def extract_features(lm: LoadedModel) -> ModelFeatures:
    """Features of ``lm`` (deterministic: the same model always gives the same values).

    Reads weights as zero-copy views; statistics of large tensors use a fixed strided subsample.
    """
    view = GraphView(lm)
    costs = [node_cost(n, view) for n in view.compute]
    layers = weighted_layers(view, costs)
    macs_by_op = dict.fromkeys(CATEGORIES, 0)
    for c in costs:
        if c.category:
            macs_by_op[c.category] += c.macs
        macs_by_op["elementwise"] += c.ew_ops
    values: dict[str, float] = {}
    values.update(_size_features(view, layers))
    values.update(_compute_features(macs_by_op, layers))
    values.update(structure_features(view, costs))
    values.update(activation_features(view))
    values.update(input_features(view))
    values.update(_weight_features(layers))
    moved = values["weight_bytes_total"] + values["activation_bytes_total"]
    values["arithmetic_intensity"] = values["flops_total"] / moved if moved else 0.0
    values["opset"] = float(next((o.version for o in lm.model.opset_import if o.domain in ("", "ai.onnx")), 0))
    values["has_dynamic_dims"] = float(view.dynamic)  # last: every shape lookup has been made
    values = {k: _finite(v) for k, v in sorted(values.items())}
    histogram = dict(sorted(Counter(n.op_type for n in view.order).items()))
    return ModelFeatures(values=values, op_histogram=histogram, macs_by_op=macs_by_op,
                         layers=[layer.to_dict() for layer in layers])


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def _size_features(view: GraphView, layers: list[Layer]) -> dict[str, float]:
    by_kind = {"fp32": 0, "fp16": 0, "int8": 0, "other": 0}
    params = 0
    quant_params = {n.input[i] for n in view.order for i in QUANT_PARAM_SLOTS.get(n.op_type, ())
                    if i < len(n.input)}
    for name, t in view.consts.protos.items():
        kind = ("fp32" if t.data_type in FP32_TYPES else "fp16" if t.data_type in FP16_TYPES
                else "int8" if t.data_type in INT8_TYPES else "other")
        by_kind[kind] += tensor_bytes(t)
        if t.data_type not in NON_PARAM_TYPES and name not in quant_params:
            params += int(math.prod(t.dims))
    weight_elems = sum(layer.weight_params for layer in layers)
    out = {f"weight_bytes_{k}": float(v) for k, v in by_kind.items()}
    out.update({
        "weight_bytes_total": float(sum(by_kind.values())),
        "params_total": float(params),
        "quantized_weight_share": _ratio(sum(layer.quantized_params for layer in layers), weight_elems),
        "n_weighted_layers": float(len(layers)),
        "max_layer_params": float(max((layer.params for layer in layers), default=0)),
        "last_layer_params_share": min(1.0, _ratio(layers[-1].params, params)) if layers else 0.0,
    })
    return out


def _compute_features(macs_by_op: dict[str, int], layers: list[Layer]) -> dict[str, float]:
    macs = sum(macs_by_op[c] for c in MAC_CATEGORIES)
    ew = macs_by_op["elementwise"]
    flops = 2 * macs + ew
    convs = macs_by_op["conv"] + macs_by_op["conv_grouped"]
    out = {f"macs_{c}": float(macs_by_op[c]) for c in MAC_CATEGORIES}
    out.update({f"share_{c}": _ratio(macs_by_op[c], macs) for c in MAC_CATEGORIES})
    out.update({
        "macs_total": float(macs), "elementwise_ops_total": float(ew), "flops_total": float(flops),
        "share_elementwise_flops": _ratio(ew, flops),
        "first_layer_macs_share": _ratio(layers[0].macs, macs) if layers else 0.0,
        "prunable_conv_share": _ratio(convs, convs + macs_by_op["conv_depthwise"]),
    })
    return out


def _weight_features(layers: list[Layer]) -> dict[str, float]:
    stats = [layer.stats for layer in layers if layer.stats is not None]
    n = sum(s.n for s in stats)

    def mean(values: list[float]) -> float:
        return sum(v * s.n for v, s in zip(values, stats, strict=True)) / n if n else 0.0

    def sqnr(attr: str) -> tuple[float, float]:
        vals = [getattr(s, attr) for s in stats]
        return (min(vals), mean(vals)) if n else (SQNR_CAP_DB, SQNR_CAP_DB)

    out = {
        "weight_range_max": max((s.absmax for s in stats), default=0.0),
        "weight_outlier_ratio_mean": mean([s.outlier_ratio for s in stats]),
        "weight_outlier_ratio_max": max((s.outlier_ratio for s in stats), default=0.0),
        "sparsity_existing": _ratio(sum(s.zeros for s in stats), n),
    }
    for key, attr in (("int8", "int8_db"), ("int8_pc", "int8_pc_db"), ("int4", "int4_pc_db")):
        out[f"{key}_sqnr_db_min"], out[f"{key}_sqnr_db_mean"] = sqnr(attr)
    for i, t in enumerate(BELOW_THRESHOLDS):
        out[f"weight_share_below_{t}"] = _ratio(sum(s.below[i] for s in stats), n)
    return out


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0
