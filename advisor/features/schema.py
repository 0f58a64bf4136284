"""The feature schema: names, units and meanings, and the ModelFeatures result type."""
from __future__ import annotations

import math
from dataclasses import dataclass

from advisor.errors import DataError

FEATURE_SCHEMA_VERSION = 1

_SQNR = "dB"
_CAP = "; 100 = lossless or no readable weights"
_MEAN = "parameter-weighted mean over weighted layers"
_MACS = {
    "conv": "Conv/ConvTranspose with group == 1 (incl. ConvInteger/QLinearConv)",
    "conv_depthwise": "depthwise Conv (group > 1, one input channel per group)",
    "conv_grouped": "grouped Conv that is not depthwise (group > 1)",
    "gemm": "Gemm, and MatMul with one constant operand (incl. quantized MatMulInteger/QLinearMatMul)",
    "matmul_dynamic": "MatMul of two activations (e.g. attention scores)",
    "recurrent": "LSTM/GRU/RNN: seq*batch*dirs*gates*hidden*(input+hidden)",
}

FEATURE_DOCS: dict[str, tuple[str, str]] = {
    "params_total": ("count", "elements of numeric constant tensors, except int64/bool and quantization scales/zero points"),
    "weight_bytes_fp32": ("bytes", "stored bytes of constant tensors (initializers, Constant nodes) in float32"),
    "weight_bytes_fp16": ("bytes", "stored bytes of constant tensors in float16 or bfloat16"),
    "weight_bytes_int8": ("bytes", "stored bytes of constant tensors in int8 or uint8"),
    "weight_bytes_other": ("bytes", "stored bytes of constant tensors of any other type (int64 shapes, int32 biases...)"),
    "weight_bytes_total": ("bytes", "stored bytes of all constant tensors"),
    "quantized_weight_share": ("fraction", "share of weighted-layer weight elements stored as 8-bit or narrower integers"),
    "n_weighted_layers": ("count", "Conv/Gemm/MatMul-with-constant/LSTM/GRU/RNN nodes with a constant weight"),
    "max_layer_params": ("count", "largest weight+bias element count of one weighted layer"),
    "last_layer_params_share": ("fraction", "params of the last weighted layer (topological order) / params_total"),
    "macs_total": ("MACs", "multiply-accumulates of one inference: sum of the six MAC categories"),
    "flops_total": ("FLOPs", "2 * macs_total + elementwise_ops_total"),
    "elementwise_ops_total": ("ops", "one op per output element of activations, arithmetic, norms, softmax, pools"),
    "share_elementwise_flops": ("fraction", "elementwise_ops_total / flops_total"),
    "first_layer_macs_share": ("fraction", "MACs of the first weighted layer / macs_total"),
    "prunable_conv_share": ("fraction", "MACs of non-depthwise convs / MACs of all convs (0 without convs)"),
    "arithmetic_intensity": ("FLOPs/byte", "flops_total / (weight_bytes_total + activation_bytes_total)"),
    "n_nodes": ("count", "nodes of the top-level graph, Constant nodes excluded"),
    "n_compute_nodes": ("count", "nodes producing an activation (not foldable from constants and shapes)"),
    "n_conv": ("count", "compute Conv/ConvTranspose nodes that are not depthwise"),
    "n_dwconv": ("count", "compute depthwise Conv nodes"),
    "n_gemm": ("count", "Gemm/MatMul nodes with a constant operand"),
    "n_matmul_dynamic": ("count", "MatMul nodes multiplying two activations"),
    "n_recurrent": ("count", "LSTM/GRU/RNN nodes"),
    "n_attention_softmax": ("count", "Softmax nodes within 3 hops after or 2 before a MatMul of two activations"),
    "n_norm": ("count", "normalization nodes (BatchNorm, LayerNorm, InstanceNorm, GroupNorm, RMSNorm...)"),
    "n_elementwise": ("count", "compute nodes doing elementwise arithmetic or activation functions"),
    "n_pool": ("count", "pooling and reduction compute nodes"),
    "n_reshape_like": ("count", "compute nodes that only move data (Reshape, Transpose, Concat, Gather, Slice...)"),
    "n_quant_nodes": ("count", "QuantizeLinear/DequantizeLinear/DynamicQuantizeLinear acting on activations"),
    "n_merge_nodes": ("count", "Add/Sub/Mul/Div/Concat/Sum/Max/Min/Mean nodes with >= 2 distinct activation inputs"),
    "n_branch_points": ("count", "activations read by more than one compute node"),
    "branchiness": ("edges/node", "sum over activations of (readers - 1) / n_compute_nodes; 0 for a chain"),
    "depth_longest_path": ("nodes", "compute nodes on the longest input-to-output path"),
    "n_inputs": ("count", "graph inputs that are not initializers"),
    "input_elements": ("elements", "total elements of the graph inputs (unknown dims count as 1)"),
    "input_resolution": ("pixels", "H of the first rank-4 input (NCHW, or NHWC when the last dim <= 4); else 0"),
    "sequence_length": ("steps", "T of the first [B, T] integer or [B, T, F] input; else 0"),
    "activation_bytes_total": ("bytes", "sum over all activations (graph inputs, node outputs) of elements * 4"),
    "activation_bytes_peak_est": ("bytes", "max over the topological schedule of live activation elements * 4"),
    "has_dynamic_dims": ("flag", "1.0 when an unknown or symbolic dim was counted as 1"),
    "opset": ("version", "opset of the default ONNX domain (0 if absent)"),
    "weight_range_max": ("weight units", "max over weighted layers of max|w| (after dequantization)"),
    "weight_outlier_ratio_mean": ("ratio", f"max|w| / std(w) per layer (max over its tensors), {_MEAN}"),
    "weight_outlier_ratio_max": ("ratio", "max over weighted layers of max|w| / std(w)"),
    "int8_sqnr_db_min": (_SQNR, "worst layer SQNR of a symmetric per-tensor int8 weight round trip" + _CAP),
    "int8_sqnr_db_mean": (_SQNR, f"layer SQNR of a symmetric per-tensor int8 weight round trip, {_MEAN}" + _CAP),
    "int8_pc_sqnr_db_min": (_SQNR, "worst layer SQNR of a symmetric per-output-channel int8 weight round trip" + _CAP),
    "int8_pc_sqnr_db_mean": (_SQNR, f"layer SQNR of a symmetric per-output-channel int8 round trip, {_MEAN}" + _CAP),
    "int4_sqnr_db_min": (_SQNR, "worst layer SQNR of a symmetric per-output-channel int4 ([-7, 7]) round trip" + _CAP),
    "int4_sqnr_db_mean": (_SQNR, f"layer SQNR of a symmetric per-output-channel int4 round trip, {_MEAN}" + _CAP),
    "weight_share_below_0.01": ("fraction", "share of weights with |w| < 0.01 * max|w| of their tensor"),
    "weight_share_below_0.05": ("fraction", "share of weights with |w| < 0.05 * max|w| of their tensor"),
    "weight_share_below_0.1": ("fraction", "share of weights with |w| < 0.1 * max|w| of their tensor"),
    "sparsity_existing": ("fraction", "share of weighted-layer weights that are exactly zero"),
}
for _cat, _what in _MACS.items():
    FEATURE_DOCS[f"macs_{_cat}"] = ("MACs", _what)
    FEATURE_DOCS[f"share_{_cat}"] = ("fraction", f"macs_{_cat} / macs_total (0 when macs_total is 0)")


def feature_names() -> list[str]:
    """Names of the feature vector's entries, in order (sorted)."""
    return sorted(FEATURE_DOCS)


@dataclass(frozen=True)
class ModelFeatures:
    """Features of one model.

    ``values``: every name of FEATURE_DOCS -> finite float (units in FEATURE_DOCS).
    ``op_histogram``: op_type -> node count. ``macs_by_op``: MAC category -> MACs, plus
    "elementwise" -> elementwise operations. ``layers``: one JSON-able dict per weighted layer.
    """

    values: dict[str, float]
    op_histogram: dict[str, int]
    macs_by_op: dict[str, int]
    layers: list[dict]

    def __post_init__(self) -> None:
        if set(self.values) != set(FEATURE_DOCS):
            missing, extra = set(FEATURE_DOCS) - set(self.values), set(self.values) - set(FEATURE_DOCS)
            raise ValueError(f"Feature values do not match schema {FEATURE_SCHEMA_VERSION}: "
                             f"missing {sorted(missing)}, unexpected {sorted(extra)}.")
        bad = sorted(k for k, v in self.values.items() if not isinstance(v, float) or not math.isfinite(v))
        if bad:
            raise ValueError(f"Feature values must be finite floats; not so for {bad}.")

    @property
    def macs_total(self) -> int:
        """Multiply-accumulates of one inference (MACs)."""
        return int(self.values["macs_total"])

    @property
    def params_total(self) -> int:
        """Parameter count (elements)."""
        return int(self.values["params_total"])

    def to_dict(self) -> dict:
        """JSON-able form: schema_version, values, op_histogram, macs_by_op, layers."""
        return {"schema_version": FEATURE_SCHEMA_VERSION, "values": dict(self.values),
                "op_histogram": dict(self.op_histogram), "macs_by_op": dict(self.macs_by_op),
                "layers": [dict(r) for r in self.layers]}

    @classmethod
    def from_dict(cls, data: dict) -> ModelFeatures:
        """Inverse of to_dict; raises DataError for another schema version."""
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != FEATURE_SCHEMA_VERSION:
            raise DataError(f"Features were saved with schema version {version!r}; this advisor reads "
                            f"version {FEATURE_SCHEMA_VERSION}. Re-extract them from the model.")
        return cls(values={k: float(v) for k, v in data["values"].items()},
                   op_histogram=dict(data["op_histogram"]), macs_by_op=dict(data["macs_by_op"]),
                   layers=[dict(r) for r in data["layers"]])


def feature_vector(features: ModelFeatures) -> list[float]:
    """``features.values`` as a list in feature_names() order."""
    return [features.values[k] for k in feature_names()]
