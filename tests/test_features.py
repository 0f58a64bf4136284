"""Feature extraction: hand-computed MACs, weight statistics, schema contract, robustness."""
from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from advisor.errors import DataError
from advisor.features import (
    FEATURE_DOCS,
    FEATURE_SCHEMA_VERSION,
    ModelFeatures,
    extract_features,
    feature_names,
    feature_vector,
)
from advisor.features.macs import CATEGORIES, MAC_CATEGORIES
from advisor.features.weights import SAMPLE_MAX, SQNR_CAP_DB
from advisor.modelio import from_proto, load_model
from advisor.zoo.tiny import TINY_MODELS

LAYER_KEYS = {"name", "op_type", "category", "params", "macs", "weight_range", "outlier_ratio", "int8_sqnr_db",
              "sparsity"}


def _vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def _out(name, rank):
    """An output of known rank whose dims shape inference fills in."""
    return _vi(name, [None] * rank)


def _features(nodes, inputs, outputs, inits=(), check=True, opset=17) -> ModelFeatures:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return extract_features(from_proto(model, check=check))


def _gemm(w: np.ndarray, batch: int = 1) -> ModelFeatures:
    """Y = X @ W^T for W of shape [N, K] (no bias)."""
    n, k = w.shape
    node = helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)
    return _features([node], [_vi("x", [batch, k])], [_out("y", 2)], [numpy_helper.from_array(w, "w")])


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- MACs, hand-computed


def test_conv_macs_hand_computed():
    w = _rng().standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = np.zeros(4, np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])
    f = _features([node], [_vi("x", [1, 3, 8, 8])], [_out("y", 4)],
                  [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    macs = 1 * 4 * 4 * 4 * 3 * 3 * 3  # N * Cout * Hout * Wout * Cin * kh * kw, Hout = (8 + 2 - 3) // 2 + 1
    assert f.values["macs_conv"] == macs == f.macs_total
    assert f.values["flops_total"] == 2 * macs
    assert f.values["share_conv"] == 1.0
    assert f.params_total == 4 * 27 + 4
    assert f.layers[0]["params"] == 112 and f.layers[0]["macs"] == macs
    assert f.values["input_resolution"] == 8.0


def test_gemm_macs_hand_computed():
    w = _rng().standard_normal((7, 5)).astype(np.float32)
    f = _gemm(w, batch=2)
    assert f.values["macs_gemm"] == 2 * 7 * 5 == f.macs_total
    assert f.values["n_gemm"] == 1.0 and f.values["n_weighted_layers"] == 1.0
    assert f.values["weight_bytes_fp32"] == 35 * 4


def test_matmul_of_two_activations_is_dynamic():
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    f = _features([node], [_vi("a", [2, 3, 4]), _vi("b", [2, 4, 6])], [_out("y", 3)])
    assert f.values["macs_matmul_dynamic"] == 2 * 3 * 6 * 4
    assert f.values["n_weighted_layers"] == 0.0 and f.values["int8_sqnr_db_min"] == SQNR_CAP_DB


@pytest.mark.parametrize(("group", "w_in", "category"), [(8, 1, "conv_depthwise"), (2, 4, "conv_grouped")])
def test_grouped_convs_have_their_own_category(group, w_in, category):
    w = _rng().standard_normal((8, w_in, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], group=group)
    f = _features([node], [_vi("x", [1, 8, 6, 6])], [_out("y", 4)], [numpy_helper.from_array(w, "w")])
    assert f.values[f"macs_{category}"] == 8 * 6 * 6 * w_in * 9 == f.macs_total
    assert f.macs_by_op[category] == f.macs_total
    assert f.values["n_dwconv"] == float(category == "conv_depthwise")
    assert f.values["prunable_conv_share"] == float(category == "conv_grouped")


@pytest.mark.parametrize(("op", "gates", "direction", "dirs"),
                         [("LSTM", 4, "bidirectional", 2), ("GRU", 3, "forward", 1), ("RNN", 1, "forward", 1)])
def test_recurrent_macs_formula(op, gates, direction, dirs):
    seq, batch, n_in, hidden = 5, 2, 3, 4
    w = _rng().standard_normal((dirs, gates * hidden, n_in)).astype(np.float32)
    r = _rng(1).standard_normal((dirs, gates * hidden, hidden)).astype(np.float32)
    node = helper.make_node(op, ["x", "w", "r"], ["y"], hidden_size=hidden, direction=direction)
    f = _features([node], [_vi("x", [seq, batch, n_in])], [_out("y", 4)],
                  [numpy_helper.from_array(w, "w"), numpy_helper.from_array(r, "r")])
    assert f.values["macs_recurrent"] == seq * batch * dirs * gates * hidden * (n_in + hidden)
    assert f.values["n_recurrent"] == 1.0 and f.layers[0]["params"] == w.size + r.size


@settings(max_examples=25, deadline=None)
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), k=st.integers(1, 3), stride=st.integers(1, 2),
       pad=st.integers(0, 1), size=st.integers(3, 9))
def test_conv_macs_match_formula(cin, cout, k, stride, pad, size):
    w = np.ones((cout, cin, k, k), np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[pad] * 4, strides=[stride] * 2)
    f = _features([node], [_vi("x", [1, cin, size, size])], [_out("y", 4)], [numpy_helper.from_array(w, "w")])
    out = (size + 2 * pad - k) // stride + 1
    assert f.macs_total == cout * out * out * cin * k * k


# ---------------------------------------------------------------- weight statistics


def test_outlier_lowers_int8_sqnr():
    w = _rng().standard_normal((32, 64)).astype(np.float32)
    spiky = w.copy()
    spiky[0, 0] = 50 * np.abs(w).max()
    plain, outlier = _gemm(w).values, _gemm(spiky).values
    assert outlier["int8_sqnr_db_min"] < plain["int8_sqnr_db_min"] - 10
    assert outlier["weight_outlier_ratio_max"] > plain["weight_outlier_ratio_max"]
    assert outlier["int8_pc_sqnr_db_min"] > outlier["int8_sqnr_db_min"]  # only one channel suffers
    assert plain["int8_sqnr_db_mean"] > plain["int4_sqnr_db_mean"] > 0


def test_half_zero_weights_give_half_sparsity():
    w = _rng().standard_normal((64, 64)).astype(np.float32)
    w[::2] = 0.0
    assert _gemm(w).values["sparsity_existing"] == 0.5
    big = _rng().standard_normal((512, 1024)).astype(np.float32)  # 2x SAMPLE_MAX: subsampled statistics
    big[_rng(1).random(big.shape) < 0.5] = 0.0
    assert _gemm(big).values["sparsity_existing"] == pytest.approx(0.5, abs=0.01)


def test_max_is_exact_on_subsampled_tensor():
    w = _rng().standard_normal((600, 1000)).astype(np.float32)
    assert w.size > SAMPLE_MAX
    w.flat[1] = 100.0  # the stride (3) skips flat index 1
    f = _gemm(w)
    assert f.values["weight_range_max"] == 100.0 and f.layers[0]["weight_range"] == 100.0


def test_share_below_threshold_counts_small_weights():
    w = np.array([[1.0, 0.005, 0.03, 0.08, 0.5, -0.009, -0.2, 0.0]], np.float32)
    v = _gemm(w).values
    assert (v["weight_share_below_0.01"], v["weight_share_below_0.05"], v["weight_share_below_0.1"]) == (
        3 / 8, 4 / 8, 5 / 8)


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(1e-3, 1e3))
def test_sqnr_is_scale_invariant(scale):
    w = _rng().standard_normal((16, 32)).astype(np.float32)
    a, b = _gemm(w).values, _gemm((w * np.float32(scale)).astype(np.float32)).values
    for key in ("int8_sqnr_db_mean", "int8_pc_sqnr_db_mean", "int4_sqnr_db_mean", "weight_outlier_ratio_max"):
        assert a[key] == pytest.approx(b[key], abs=1e-3)


# ---------------------------------------------------------------- structure and activations


def test_activation_bytes_of_a_chain():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    v = _features(nodes, [_vi("x", [1, 100])], [_vi("y", [1, 100])]).values
    assert v["activation_bytes_total"] == 3 * 400
    assert v["activation_bytes_peak_est"] == 2 * 400  # never more than two live 100-element tensors
    assert v["depth_longest_path"] == 2 and v["branchiness"] == 0 and v["elementwise_ops_total"] == 200


def test_residual_merge_and_branch():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["a"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    v = _features(nodes, [_vi("x", [1, 8])], [_out("y", 2)]).values
    assert v["n_merge_nodes"] == 1 and v["n_branch_points"] == 1
    assert v["branchiness"] == pytest.approx(1 / 3) and v["depth_longest_path"] == 3


def test_unsorted_graph_gives_same_structure():
    """An unsorted graph is invalid ONNX (and shape inference gives up on it) but must not break us."""
    w = _rng().standard_normal((4, 8)).astype(np.float32)
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Gemm", ["a", "w"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["y"])]
    args = ([_vi("x", [1, 8])], [_vi("y", [1, 4])], [numpy_helper.from_array(w, "w")])
    ordered, unsorted = _features(nodes, *args).values, _features(nodes[::-1], *args, check=False).values
    for key in ("macs_total", "params_total", "depth_longest_path", "n_compute_nodes", "int8_sqnr_db_min"):
        assert ordered[key] == unsorted[key]


# ---------------------------------------------------------------- the tiny zoo and the schema


@pytest.fixture(scope="session")
def tiny_features(tiny_models):
    """name -> (features, features of a second, independent extraction)."""
    return {name: (extract_features(from_proto(m)), extract_features(from_proto(m)))
            for name, m in tiny_models.items()}


@pytest.mark.parametrize("name", TINY_MODELS)
def test_tiny_models_meet_contract(name, tiny_features):
    f, again = tiny_features[name]
    assert set(f.values) == set(FEATURE_DOCS)
    assert all(isinstance(v, float) and math.isfinite(v) for v in f.values.values())
    assert feature_vector(f) == feature_vector(again)
    assert f.to_dict() == again.to_dict()
    assert set(f.macs_by_op) == set(CATEGORIES)
    assert f.macs_total == sum(f.macs_by_op[c] for c in MAC_CATEGORIES) > 0
    assert f.values["n_weighted_layers"] == len(f.layers) > 0
    assert all(LAYER_KEYS <= set(layer) for layer in f.layers)
    restored = ModelFeatures.from_dict(json.loads(json.dumps(f.to_dict())))
    assert feature_vector(restored) == feature_vector(f)
    assert 30 < f.values["int8_sqnr_db_mean"] < SQNR_CAP_DB


def test_tiny_models_show_their_architecture(tiny_features):
    v = {name: pair[0].values for name, pair in tiny_features.items()}
    assert v["depthwise_cnn"]["macs_conv_depthwise"] > 0 and v["plain_cnn"]["macs_conv_depthwise"] == 0
    assert v["transformer"]["n_attention_softmax"] == 1 and v["transformer"]["macs_matmul_dynamic"] > 0
    assert v["lstm"]["share_recurrent"] > 0.9 and v["gru"]["macs_recurrent"] > 0
    assert v["residual_cnn"]["n_merge_nodes"] == 3 and v["plain_cnn"]["n_merge_nodes"] == 0
    assert v["bn_cnn"]["n_norm"] == 3 and v["lstm"]["sequence_length"] == 20
    assert v["multibranch_cnn"]["branchiness"] > v["plain_cnn"]["branchiness"] == 0


def test_feature_docs_cover_exactly_the_values(tiny_features):
    f = tiny_features["plain_cnn"][0]
    assert set(FEATURE_DOCS) == set(f.to_dict()["values"])
    assert feature_names() == sorted(FEATURE_DOCS) and len(feature_vector(f)) == len(FEATURE_DOCS)
    assert all(isinstance(u, str) and u and isinstance(d, str) and d for u, d in FEATURE_DOCS.values())
    assert f.to_dict()["schema_version"] == FEATURE_SCHEMA_VERSION


def test_bad_feature_records_are_refused(tiny_features):
    data = tiny_features["mlp"][0].to_dict()
    with pytest.raises(DataError, match="schema version"):
        ModelFeatures.from_dict({**data, "schema_version": FEATURE_SCHEMA_VERSION + 1})
    with pytest.raises(ValueError, match="missing"):
        ModelFeatures(values={"params_total": 1.0}, op_histogram={}, macs_by_op={}, layers=[])


# ---------------------------------------------------------------- robustness: fp16, constants, shapes, quantized


def _to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for vi in list(g.input) + list(g.output):
        vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    del g.value_info[:]
    return out


def test_fp16_model_reports_fp16_bytes(tiny_models, tiny_features):
    f = extract_features(from_proto(_to_fp16(tiny_models["plain_cnn"])))
    base = tiny_features["plain_cnn"][0].values
    assert f.values["weight_bytes_fp16"] == base["weight_bytes_fp32"] / 2 > 0
    assert f.values["weight_bytes_fp32"] == 0 and f.macs_total == base["macs_total"]
    assert f.values["int8_sqnr_db_mean"] == pytest.approx(base["int8_sqnr_db_mean"], abs=0.5)


def test_weights_in_constant_nodes_count_as_weights():
    w = _rng().standard_normal((6, 10)).astype(np.float32)
    nodes = [helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(w, "w")),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    f = _features(nodes, [_vi("x", [3, 6])], [_out("y", 2)])
    assert f.values["n_weighted_layers"] == 1 and f.params_total == 60 and f.values["macs_gemm"] == 3 * 10 * 6
    assert f.values["n_nodes"] == 1 and 30 < f.values["int8_sqnr_db_min"] < SQNR_CAP_DB


def test_unknown_dims_count_as_one():
    w = _rng().standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Reshape", ["c", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "m"], ["y"])]
    m = numpy_helper.from_array(np.ones((5, 2), np.float32), "m")
    f = _features(nodes, [_vi("x", ["N", 3, "H", "W"]), _vi("shape", [2], TensorProto.INT64)], [_out("y", 2)],
                  [numpy_helper.from_array(w, "w"), m])
    assert f.values["has_dynamic_dims"] == 1.0 and f.values["n_weighted_layers"] == 2
    assert all(math.isfinite(v) for v in f.values.values())


@pytest.fixture(scope="module")
def quantized_models(tiny_models, tmp_path_factory):
    """(tiny name, format) -> path of an onnxruntime-quantized copy: QDQ, QOperator or dynamic."""
    import logging

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, shape):
            self.it = iter([{"input": _rng(i).standard_normal(shape).astype(np.float32)} for i in range(2)])

        def get_next(self):
            return next(self.it, None)

    folder, out = tmp_path_factory.mktemp("quantized"), {}
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # quantize_* warn about pre-processing on every call
    try:
        for name, shape in (("plain_cnn", (1, 3, 32, 32)), ("mlp", (1, 64))):
            src = folder / f"{name}.onnx"
            onnx.save(tiny_models[name], str(src))
            for fmt in ("qdq", "qop", "dynamic"):
                dst = out[name, fmt] = folder / f"{name}_{fmt}.onnx"
                if fmt == "dynamic":
                    quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
                else:
                    quantize_static(src, dst, Reader(shape), per_channel=fmt == "qdq",
                                    quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator)
    finally:
        root.setLevel(level)
    return out


@pytest.mark.parametrize("fmt", ["qdq", "qop", "dynamic"])
@pytest.mark.parametrize("name", ["plain_cnn", "mlp"])
def test_quantized_models_keep_macs_and_report_int8(name, fmt, quantized_models, tiny_features):
    f = extract_features(load_model(quantized_models[name, fmt]))
    base = tiny_features[name][0].values
    assert f.macs_total == base["macs_total"]
    assert f.values["n_weighted_layers"] == base["n_weighted_layers"]
    assert f.values["quantized_weight_share"] == 1.0 and f.values["weight_bytes_int8"] > 0
    assert f.params_total == pytest.approx(base["params_total"], rel=0.01)
    assert all(math.isfinite(v) for v in f.values.values())
    assert f.values["int8_pc_sqnr_db_min"] > 30
    if fmt != "dynamic":  # dynamic quantization applies the weight scale after the integer op
        assert f.values["weight_range_max"] == pytest.approx(base["weight_range_max"], rel=0.01)
