"""Structure features (what a setting does to the graph) and the op-level cost prior built on them."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pandas as pd
import pytest

from advisor.compression import get_setting
from advisor.modelio import from_proto
from advisor.predictors.cost_priors import CostLatencyPrior, CostModelPrior
from advisor.predictors.structure import (
    ALL_COLUMNS,
    QUANTITIES,
    STRUCTURE_VERSION,
    graph_stats,
    relative,
    structure_all,
)
from advisor.zoo.tiny import TINY_MODELS

# Replayed on a hollow copy, MAC counts and channel alignment are exact; element and node counts
# may differ a little where onnxruntime's quantizer merges or reshapes (documented in size.py).
EXACT = ("v_mac_ratio", "v_float_mac_share", "v_align8_share", "v_align16_share") + tuple(
    f"q1_{k}" for k in QUANTITIES if k.startswith("mac_"))


@pytest.mark.parametrize("model_name", TINY_MODELS)
def test_replay_matches_the_really_compressed_graph(tiny_models, model_name):
    lm = from_proto(tiny_models[model_name])
    replay = structure_all(lm)
    base = graph_stats(lm.model, lm.inferred)
    assert replay["none"]["v_mac_ratio"] == 1.0 and replay["none"]["v_log_node_ratio"] == 0.0
    for name, st in replay.items():
        if st is None:
            assert get_setting(name).check(lm), f"{name} replayed as not applicable but applies"
            continue
        assert st["version"] == STRUCTURE_VERSION and set(ALL_COLUMNS) <= set(st)
        real = get_setting(name).apply(lm).model
        got = relative(base, graph_stats(real, onnx.shape_inference.infer_shapes(real, strict_mode=False,
                                                                                 data_prop=True)))
        for col in ALL_COLUMNS:
            tol = 1e-9 if col in EXACT else 0.1
            scale = max(1.0, abs(got[col])) if not col.startswith("v_log") else 1.0
            assert abs(st[col] - got[col]) <= tol * scale, (name, col, st[col], got[col])


def test_what_each_setting_changes(tiny_models):
    plain = structure_all(from_proto(tiny_models["plain_cnn"]))
    # Pruning 10% of 16/32 channels leaves 14/29: the layer reading 29 channels leaves onnxruntime's blocked
    # kernel (input channels under 16 or a multiple of 4) and no layer keeps unpadded output blocks, while
    # the MACs barely move.
    assert plain["none"]["v_align16_share"] > 0.9
    assert plain["chprune10"]["v_align8_share"] < 0.8 and plain["chprune10"]["v_align16_share"] == 0.0
    assert plain["chprune10"]["v_mac_ratio"] > 0.75
    assert plain["chprune50"]["v_mac_ratio"] < 0.4
    assert plain["int8-static-pc"]["v_float_mac_share"] == 0.0  # every Conv/Gemm runs as a QDQ group
    assert plain["int8-static-pc"]["v_log_q_act_per_mac"] > plain["none"]["v_log_q_act_per_mac"] + 5
    # Weight-only settings de-quantize every stored weight on each run (wq16's Cast is folded away).
    params = sum(int(np.prod(t.dims)) for t in tiny_models["plain_cnn"].graph.initializer if np.prod(t.dims) >= 1024)
    assert plain["wq8"]["q1_dq_w"] == params and plain["wq4"]["q1_dq4_w"] == params
    assert plain["wq16"]["q1_dq_w"] == plain["wq16"]["q1_dq4_w"] == 0.0
    for sparse in ("sparse50", "sparse90"):  # zeros change nothing a dense runtime sees
        assert plain[sparse]["v_mac_ratio"] == 1.0 and plain[sparse]["v_log_node_ratio"] == 0.0
    # Dynamic quantization covers LSTM (DynamicQuantizeLSTM) but not GRU: the GRU stays in float.
    gru = structure_all(from_proto(tiny_models["gru"]), ["int8-dynamic"])["int8-dynamic"]
    lstm = structure_all(from_proto(tiny_models["lstm"]), ["int8-dynamic"])["int8-dynamic"]
    assert gru["v_float_mac_share"] > 0.9 and lstm["v_float_mac_share"] < 0.1


def _synthetic_rows(costs: dict, n: int, rng) -> tuple[pd.DataFrame, np.ndarray]:
    q0 = rng.uniform(0, 1e6, size=(n, len(QUANTITIES))) * (rng.uniform(size=(n, len(QUANTITIES))) < 0.5)
    q0[:, QUANTITIES.index("nodes")] = rng.integers(5, 100, n)
    q0[:, QUANTITIES.index("nodes_shape")] = rng.integers(0, 30, n)
    q0[:, QUANTITIES.index("nodes_qfused")] = rng.integers(0, 30, n)
    q1 = q0 * rng.uniform(0.3, 1.5, size=q0.shape)
    c = np.array([costs.get(CostModelPrior.MERGE.get(k, k), 1.0) for k in QUANTITIES])
    ratio = (q1 @ c) / (q0 @ c) * np.exp(rng.normal(0, 0.01, n))
    cols = {f"q0_{k}": q0[:, i] for i, k in enumerate(QUANTITIES)} | {f"q1_{k}": q1[:, i] for i, k in enumerate(QUANTITIES)}
    return pd.DataFrame(cols), ratio


def test_cost_prior_recovers_op_costs_and_round_trips():
    rng = np.random.default_rng(0)
    costs = {"mac_conv_u": 3.0, "mac_dw_u": 20.0, "act": 8.0, "q_act": 15.0, "dq4_w": 40.0, "nodes": 2e4}
    X, y = _synthetic_rows(costs, 600, rng)
    prior = CostModelPrior().fit(X, y)
    Xt, yt = _synthetic_rows(costs, 200, rng)
    err = np.abs(prior.predict(Xt) / yt - 1)
    assert np.median(err) < 0.02 and np.quantile(err, 0.9) < 0.06
    again = CostModelPrior.from_constants(prior.constants())
    assert np.allclose(again.predict(Xt), prior.predict(Xt))


def test_cost_prior_jacobian_is_the_residuals_derivative():
    """The ratio priors fit with an analytic Jacobian; it must be the residuals' derivative (checked by
    central differences at a random point), and the fit must land where finite differences land."""
    from advisor.predictors.cost_priors import KernelCostPrior

    rng = np.random.default_rng(3)
    X, y = _synthetic_rows({"mac_conv_u": 3.0, "act": 8.0, "nodes": 2e4}, 120, rng)
    for prior in (CostModelPrior(), KernelCostPrior()):
        if isinstance(prior, KernelCostPrior):
            X = X.assign(q0_kern_us=rng.uniform(10, 1e3, len(X)), q1_kern_us=rng.uniform(10, 1e3, len(X)))
        a, b = prior._matrices(X)
        kinds = prior._kinds()
        groups = np.array([prior._group(k) for k in kinds])
        theta = np.concatenate([prior._start(), rng.normal(0, 0.5, len(kinds))])
        t = np.log(y)
        step = 1e-6 * np.eye(len(theta))
        numeric = np.column_stack([(prior._residuals(theta + e, groups, a, b, t)
                                    - prior._residuals(theta - e, groups, a, b, t)) / 2e-6 for e in step])
        assert np.allclose(prior._jacobian(theta, groups, a, b, t), numeric, rtol=1e-4, atol=1e-7)
    fast = CostModelPrior().fit(X, y)
    slow = CostModelPrior()
    slow._jacobian = None  # least_squares' finite differences
    slow.fit(X, y)
    assert np.allclose(fast.predict(X), slow.predict(X), rtol=1e-3)


def test_cost_prior_weights_rows():
    """Rows of weight 0 do not count: two groups priced differently, the weighted fit follows the one
    that carries weight (an unweighted fit lands between them)."""
    rng = np.random.default_rng(4)
    Xa, ya = _synthetic_rows({"mac_conv_u": 3.0, "act": 8.0}, 300, rng)
    Xb, yb = _synthetic_rows({"mac_conv_u": 3.0, "act": 40.0}, 300, rng)
    X, y = pd.concat([Xa, Xb], ignore_index=True), np.concatenate([ya, yb])
    ones, zeros = np.ones(300), np.zeros(300)

    def act(w):  # fitted log cost of an activation element (a MAC costs 1)
        return CostModelPrior().fit(X, y, w).constants()["log_costs"]["act"]

    a, both, b = act(np.r_[ones, zeros]), act(None), act(np.r_[zeros, ones])
    assert a == pytest.approx(np.log(8.0), abs=0.2) and b == pytest.approx(np.log(40.0), abs=0.2)
    assert a + 0.3 < both < b - 0.3


def test_kernel_cost_prior_prices_the_work_outside_the_layers():
    """Layer times (``q*_kern_us``) plus elements, de-quantized weights and nodes priced in us: the
    weight-only case the layer rows cannot see (same MAC layers, weights de-quantized every run)."""
    from advisor.predictors.cost_priors import KernelCostPrior

    rng = np.random.default_rng(5)

    def rows(n):
        X, _ = _synthetic_rows({}, n, rng)
        k0 = rng.uniform(1e3, 1e5, n)
        X["q0_kern_us"], X["q1_kern_us"] = k0, k0 * np.where(rng.random(n) < 0.5, 1.0, rng.uniform(0.3, 1.2, n))
        X["q0_dq_w"], X["q1_dq_w"] = 0.0, np.where(rng.random(n) < 0.5, rng.uniform(0, 3e6, n), 0.0)
        c = {"act": 2e-4, "q_act": 1e-3, "dq_w": 1e-2, "dq4_w": 2e-2, "nodes": 3.0, "nodes_shape": 3.0}

        def total(p):
            return X[f"{p}kern_us"] + sum(v * X[f"{p}{k}"] for k, v in c.items())

        return X, (total("q1_") / total("q0_")).to_numpy() * np.exp(rng.normal(0, 0.01, n))

    X, y = rows(500)
    prior = KernelCostPrior().fit(X, y)
    Xt, yt = rows(200)
    err = np.abs(prior.predict(Xt) / yt - 1)
    layers_only = np.abs(Xt["q1_kern_us"] / Xt["q0_kern_us"] / yt - 1)
    assert np.median(err) < 0.02 and np.quantile(err, 0.9) < 0.05 < np.quantile(layers_only, 0.9)
    assert np.exp(prior.constants()["log_costs"]["dq_w"]) == pytest.approx(1e-2, rel=0.2)
    assert np.allclose(KernelCostPrior.from_constants(prior.constants()).predict(Xt), prior.predict(Xt))
    assert np.isnan(prior.predict(Xt.drop(columns=["q1_kern_us"]))).all()  # no layer times: no guess


def test_latency_cost_prior_recovers_absolute_costs():
    rng = np.random.default_rng(2)
    costs = {"mac_gemv": 2e-7, "mac_gemm": 2e-8, "mac_conv_u_n16": 6e-8, "act": 1e-7, "nodes": 2e-3,
             "nodes_shape": 1e-3, "nodes_qfused": 1e-4}  # a node folded into a kernel: a twentieth of one run
    X, _ = _synthetic_rows({}, 400, rng)
    c = np.array([costs.get(k, 3e-8) for k in QUANTITIES])
    y = X[[f"q0_{k}" for k in QUANTITIES]].to_numpy() @ c * np.exp(rng.normal(0, 0.01, len(X)))
    prior = CostLatencyPrior().fit(X, y)
    err = np.abs(prior.predict(X) / y - 1)
    assert np.median(err) < 0.02
    logs = prior.constants()["log_costs"]
    assert "mac_gemv" in logs and logs["mac_gemv"] > logs["mac_gemm"] + 1.5  # kept apart, unlike ratios
    assert np.allclose(CostLatencyPrior.from_constants(prior.constants()).predict(X), prior.predict(X))


def test_kernel_latency_prior_puts_layer_times_on_the_measured_scale():
    """Uncompressed latency (ms) = s * layer time (us) + the work outside the MAC layers: ``s`` and the
    node cost are recovered, and it predicts where the layer times alone (one scale) cannot."""
    from advisor.predictors.cost_priors import KernelLatencyPrior

    rng = np.random.default_rng(4)

    def rows(n):
        X, _ = _synthetic_rows({}, n, rng)
        X["q0_kern_us"] = rng.uniform(1e2, 1e4, n)
        X["q0_nodes"] = rng.uniform(5, 400, n)
        y = 8e-4 * X["q0_kern_us"] + 2e-3 * X["q0_nodes"] + 1e-7 * X["q0_act"] + 2e-3 * X["q0_nodes_shape"] \
            + 2e-4 * X["q0_nodes_qfused"]
        return X, y.to_numpy() * np.exp(rng.normal(0, 0.01, n))

    X, y = rows(400)
    prior = KernelLatencyPrior().fit(X, y)
    logs = prior.constants()["log_costs"]
    assert np.exp(logs["kern_us"]) == pytest.approx(8e-4, rel=0.1) and np.exp(logs["nodes"]) == pytest.approx(2e-3, rel=0.2)
    Xt, yt = rows(200)
    err = np.abs(prior.predict(Xt) / yt - 1)
    scaled = Xt["q0_kern_us"].to_numpy() * np.median(y / X["q0_kern_us"].to_numpy())
    assert np.median(err) < 0.02 < np.median(np.abs(scaled / yt - 1))
    assert np.allclose(KernelLatencyPrior.from_constants(prior.constants()).predict(Xt), prior.predict(Xt))
    assert np.isnan(prior.predict(Xt.drop(columns=["q0_kern_us"]))).all()


def test_cost_prior_without_structure_is_nan_not_a_guess():
    X = pd.DataFrame({"f_macs_total": [1e6, 2e6]})
    prior = CostModelPrior().fit(X, np.array([1.0, 0.5]))
    assert prior.constants() is None and np.isnan(prior.predict(X)).all()
    assert CostModelPrior.from_constants(None).log_costs_ is None


def test_unseen_quantity_costs_its_group_anchor():
    rng = np.random.default_rng(1)
    X, y = _synthetic_rows({}, 300, rng)
    X[["q0_mac_int_rec", "q1_mac_int_rec"]] = 0.0  # never seen in training
    prior = CostModelPrior().fit(X, y)
    log_costs = prior.constants()["log_costs"]
    assert math.isclose(log_costs["mac_int_rec"], 0.0, abs_tol=1e-3)  # the MAC anchor


def test_shipped_host_bundle_predicts_with_and_without_structure(tiny_models):
    from advisor.features import extract_features
    from advisor.predictors.predictor import load_bundle

    bundle = load_bundle("host", "onnxruntime-cpu")
    info = bundle.manifest["structure"]
    assert info["version"] == STRUCTURE_VERSION and info["ratio_cost_model"]["n_rows"] > 1000
    lm = from_proto(tiny_models["depthwise_cnn"])
    names = ["chprune10", "chprune50", "wq4", "int8-static-pc"]
    feats = extract_features(lm).values
    with_st = bundle.predict(feats, names, structure=structure_all(lm, names))
    without = bundle.predict(feats, names)  # e.g. a caller that has features only
    for a, b in zip(with_st, without, strict=True):
        assert math.isfinite(a["ratio"]) and math.isfinite(b["ratio"])
        lo, hi = a["ratio_interval"]
        assert lo <= a["ratio"] <= hi
    assert any(abs(a["ratio"] - b["ratio"]) > 1e-6 for a, b in zip(with_st, without, strict=True))


def test_malformed_structure_in_records_becomes_missing_not_a_crash():
    from advisor.predictors.structure import frame_columns

    v = {"version": STRUCTURE_VERSION}
    good = {**v, **{c: 1.0 for c in ALL_COLUMNS}}
    cols = frame_columns([good, None, {**v, "v_mac_ratio": "abc", "v_align8_share": float("inf")},
                          ["not", "a", "dict"], {**v, "v_mac_ratio": True}, {**good, "version": STRUCTURE_VERSION + 1},
                          {**good, "v_mac_ratio": [1.0], "v_align8_share": 3}])
    assert cols["v_mac_ratio"][0] == 1.0 and np.isnan(cols["v_mac_ratio"][1:]).all()
    assert np.isnan(cols["v_align8_share"][2])
    # one bad value costs that value only; integers are numbers
    assert cols["v_align8_share"][6] == 3.0 and all(cols[c][6] == 1.0 for c in ALL_COLUMNS
                                                    if c not in ("v_mac_ratio", "v_align8_share"))


def _fusion_cases() -> dict:
    """Small networks whose int8 Conv/Gemm/MatMul nodes onnxruntime fuses, or not, for different
    reasons: a ReLU chain (fused), SiLU and GELU (a tensor read twice: not), a block input read by
    two branches, a residual add, and attention-style MatMuls."""
    import torch
    from torch import nn

    from advisor.zoo.export import export

    class Branches(nn.Module):
        def __init__(self, act):
            super().__init__()
            self.c0, self.a, self.b = nn.Conv2d(8, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 16, 1)
            self.act, self.fc = act, nn.Linear(16 * 8 * 8, 10)

        def forward(self, x):
            y = self.act(self.c0(x))
            z = torch.relu(self.a(y)) + y  # y read twice: by the branch and by the skip
            return self.fc(torch.flatten(self.act(self.b(z)), 1))

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(48, 48) for _ in range(4))

        def forward(self, x):
            a = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2), -1)
            return self.o(a @ self.v(x))

    torch.manual_seed(0)
    cnn = {name: export(Branches(act).eval(), (torch.randn(1, 8, 8, 8),), ["input"], ["output"])
           for name, act in (("relu", nn.ReLU()), ("silu", nn.SiLU()), ("gelu", nn.GELU()))}
    return cnn | {"attention": export(Attention().eval(), (torch.randn(1, 6, 48),), ["input"], ["output"])}


def _as_onnxruntime_builds_it(tmp_path, setting: str):
    """(case name, structure view of the compressed graph, onnx nodes of the graph onnxruntime's CPU
    optimizer makes of it) for every ``_fusion_cases`` network under ``setting``."""
    import onnxruntime as ort

    from advisor.features.graph import GraphView
    from advisor.modelio import LoadedModel

    for name, proto in _fusion_cases().items():
        q = get_setting(setting).apply(from_proto(proto)).model
        inferred = onnx.shape_inference.infer_shapes(q, strict_mode=False, data_prop=True)
        so = ort.SessionOptions()
        so.optimized_model_filepath, so.log_severity_level = str(tmp_path / f"{name}.onnx"), 3
        ort.InferenceSession(q.SerializeToString(), so, providers=["CPUExecutionProvider"])
        yield name, GraphView(LoadedModel(None, q, inferred)), onnx.load(so.optimized_model_filepath).graph.node


def _quantized_and_built(graph, setting: str, tmp_path) -> tuple[onnx.ModelProto, list[str]]:
    """(``graph`` compressed by ``setting``, the op types of the graph onnxruntime's CPU optimizer makes
    of it)."""
    import onnxruntime as ort
    from onnx import helper

    q = get_setting(setting).apply(from_proto(helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17)]))).model
    so = ort.SessionOptions()
    so.optimized_model_filepath, so.log_severity_level = str(tmp_path / f"{setting}.onnx"), 3
    ort.InferenceSession(q.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return q, [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]


@pytest.mark.parametrize("setting", ["int8-static-pc", "int8-static-pt"])
def test_integer_kernels_are_the_ones_onnxruntime_builds(tmp_path, setting):
    """For every Conv/Gemm/MatMul of the quantized graph, the structure features' verdict (integer
    kernel or float with weights de-quantized each run) is what onnxruntime's optimizer really does."""
    from advisor.predictors.structure import _fused_qdq

    integer_ops = {"QLinearConv", "QGemm", "QLinearMatMul", "MatMulIntegerToFloat"}
    seen = set()
    for name, view, optimized in _as_onnxruntime_builds_it(tmp_path, setting):
        fused = [n.name for n in optimized if n.op_type in integer_ops]
        for node in view.compute:
            if node.op_type in ("Conv", "Gemm", "MatMul"):
                real = any(f == node.name or f.startswith(node.name + "_token") for f in fused)
                assert _fused_qdq(node, view, view.producers) == real, (name, node.name, real)
                seen.add(real)
    assert seen == {True, False}  # both outcomes occur: the test can tell them apart


@pytest.mark.parametrize("setting", ["wq8", "wq4"])
def test_weight_only_matmuls_are_the_ones_onnxruntime_packs(tmp_path, setting):
    """Weight-only quantization: onnxruntime rewrites DQ(weight) -> MatMul into MatMulNBits (no per-run
    de-quantization) under conditions the structure features mirror; a transposed Gemm keeps its DQ."""
    from advisor.predictors.structure import _nbits_matmul

    seen = set()
    for name, view, optimized in _as_onnxruntime_builds_it(tmp_path, setting):
        inits = {t.name: t for t in view.model.graph.initializer}
        packed = [n.name for n in optimized if n.op_type == "MatMulNBits"]
        for node in view.compute:
            if node.op_type in ("Gemm", "MatMul"):
                real = any(p.startswith(node.name) for p in packed)
                assert _nbits_matmul(node, view, view.producers, inits) == real, (name, node.name, real)
                seen.add(real)
    assert seen == {True, False}


def _conv_net(dims: int) -> onnx.ModelProto:
    """Conv(32 -> 32 channels, kernel 3) + Relu + Conv(32 -> 32) over a 1-D ([1, 32, 64]) or 2-D
    ([1, 32, 16, 16]) input, weights seeded."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    space = [64] if dims == 1 else [16, 16]
    kernel = [3] * dims
    inits = [numpy_helper.from_array(rng.standard_normal([32, 32, *kernel]).astype(np.float32), f"w{i}")
             for i in range(2)]
    pads = [1] * (2 * dims)
    nodes = [helper.make_node("Conv", ["x", "w0"], ["h"], name="c0", pads=pads),
             helper.make_node("Relu", ["h"], ["r"], name="r0"),
             helper.make_node("Conv", ["r", "w1"], ["y"], name="c1", pads=pads)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, *space])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, *space])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_one_d_convolutions_have_no_blocked_layout():
    """onnxruntime's NCHWc (blocked) convolutions are 2-D only: the same channels over time count as
    unaligned, so pruning them cannot change an alignment they never had; their window is the kernel."""
    two = structure_all(from_proto(_conv_net(2)), ["wq16", "chprune10"])
    one = structure_all(from_proto(_conv_net(1)), ["wq16", "chprune10"])
    assert two["wq16"]["v_align8_share"] == 1.0 and two["chprune10"]["v_d_align8"] < 0
    assert one["wq16"]["v_align8_share"] == 0.0 and one["chprune10"]["v_d_align8"] == 0.0
    assert all(r[0].startswith("mac_conv_u_") for r in one["wq16"]["layers1"])
    assert [r[-1] for r in one["wq16"]["layers1"]] == [3.0, 3.0] and [r[-1] for r in two["wq16"]["layers1"]] == [9.0, 9.0]


def _activation_net() -> onnx.ModelProto:
    """Conv -> LeakyRelu -> Conv -> Clip -> Conv -> Relu, 16 channels at 16 x 16."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    inits = [onnx.numpy_helper.from_array(rng.normal(0, 0.1, (16, c, 3, 3)).astype(np.float32), f"w{i}")
             for i, c in enumerate((3, 16, 16))]
    inits += [onnx.numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
              onnx.numpy_helper.from_array(np.array(6.0, np.float32), "hi")]
    conv = lambda i, x, y: helper.make_node("Conv", [x, f"w{i}"], [y], pads=[1, 1, 1, 1])  # noqa: E731
    nodes = [conv(0, "x", "c0"), helper.make_node("LeakyRelu", ["c0"], ["a0"], alpha=0.1), conv(1, "a0", "c1"),
             helper.make_node("Clip", ["c1", "lo", "hi"], ["a1"]), conv(2, "a1", "c2"),
             helper.make_node("Relu", ["c2"], ["y"])]
    g = helper.make_graph(nodes, "acts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 16, 16])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_fp16_counts_the_work_onnxruntime_adds_on_the_cpu():
    # onnxruntime's CPU provider runs an fp16 graph's ops in float32 between Casts at its edges, so the
    # fp32 fusions hold (Conv + Relu), but it expands LeakyRelu to Less + Mul + Where, which no longer
    # fuses into the convolution before it (3 more passes, 3 more nodes), and no longer fuses a Clip into
    # its convolution (1 more pass, 1 more node). wq16 computes in float32: nothing added.
    st = structure_all(from_proto(_activation_net()), ["none", "fp16", "wq16"])
    elems = 16 * 16 * 16
    assert st["fp16"]["q1_act"] - st["fp16"]["q0_act"] == pytest.approx((3 + 1) * elems)
    assert st["fp16"]["q1_nodes"] - st["fp16"]["q0_nodes"] == pytest.approx(3 + 1)
    assert st["wq16"]["q1_act"] == st["wq16"]["q0_act"] and st["none"]["q1_act"] == st["none"]["q0_act"]
    # In float32 the three activations run inside their convolutions: only the convolutions write.
    assert st["none"]["q0_act"] == pytest.approx(3 * elems) and st["none"]["q0_nodes"] == pytest.approx(3)


@pytest.mark.parametrize("setting", ["none", "int8-static-pt", "wq8", "int8-dynamic"])
def test_elementwise_ops_left_are_the_ones_onnxruntime_runs(tmp_path, setting):
    """The elementwise ops the structure counts (those its fusion rules leave, ``_ort_absorbed``) are
    the ones left in the graph onnxruntime's CPU optimizer builds: a GELU as one op, SiLU as one
    (QuickGelu), activations and biases inside their convolutions and Gemms, and none of it once
    static int8 puts quantize / de-quantize pairs between the ops."""
    from advisor.predictors.structure import _half_tensors, _ort_absorbed, elementwise_built, elementwise_left

    absorbed_somewhere = False
    for name, view, optimized in _as_onnxruntime_builds_it(tmp_path, setting):
        gone = _ort_absorbed(view, _half_tensors(view.model, view))
        mine, real = elementwise_left(view, gone), elementwise_built(optimized)
        assert mine == real, (name, setting, dict(mine), dict(real))
        absorbed_somewhere |= bool(gone)
    # The cases exercise the rules: float graphs fuse; static int8 leaves nothing to fuse.
    assert absorbed_somewhere == (setting != "int8-static-pt")


@pytest.mark.parametrize("c_in,c_out,groups", [(12, 12, 12), (20, 20, 20), (36, 36, 36), (30, 30, 30), (64, 64, 64),
                                               (48, 192, 3), (48, 192, 4), (64, 256, 2), (96, 384, 4)])
def test_grouped_blocked_rule_is_onnxruntimes(tmp_path, c_in, c_out, groups):
    """``_blocked_grouped`` against the graph onnxruntime's CPU optimizer builds: a depthwise convolution
    runs the blocked (NCHWc) kernel exactly when its channels are a multiple of 4; a grouped one when
    each group's input and output channels are whole blocks of 16."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from advisor.predictors.structure import _blocked_grouped

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((c_out, c_in // groups, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=groups, pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c_in, 14, 14])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c_out, 14, 14])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.optimized_model_filepath, so.log_severity_level = str(tmp_path / "o.onnx"), 3
    ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    built = onnx.load(so.optimized_model_filepath).graph.node
    blocked = any(n.op_type == "Conv" and n.domain == "com.microsoft.nchwc" for n in built)
    assert _blocked_grouped(c_in, c_out, groups)[0] == blocked, [(n.op_type, n.domain) for n in built]


def test_conv_transpose_runs_in_float_on_the_plain_kernel(tmp_path):
    """onnxruntime has no integer or blocked ConvTranspose on x86: quantized, it stays a float
    ConvTranspose de-quantizing its weights every run, and the replay says so (not integer, not
    blocked), while the Conv before it fuses into a QLinearConv."""
    from onnx import TensorProto, helper, numpy_helper

    from advisor.features.graph import GraphView
    from advisor.modelio import LoadedModel
    from advisor.predictors.structure import _aligned, _fused_qdq

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((32, 16, 3, 3)).astype(np.float32), "w0"),
             numpy_helper.from_array(rng.standard_normal((32, 16, 2, 2)).astype(np.float32), "w1")]
    nodes = [helper.make_node("Conv", ["x", "w0"], ["h"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("ConvTranspose", ["r", "w1"], ["u"], name="up", strides=[2, 2]),
             helper.make_node("Relu", ["u"], ["y"], name="relu2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 32, 32])], inits)
    q, built = _quantized_and_built(graph, "int8-static-pt", tmp_path)
    assert "ConvTranspose" in built and "QLinearConv" in built
    view = GraphView(LoadedModel(None, q, onnx.shape_inference.infer_shapes(q)))
    by_op = {n.op_type: n for n in view.compute}
    assert _fused_qdq(by_op["Conv"], view, view.producers)
    assert not _fused_qdq(by_op["ConvTranspose"], view, view.producers)
    assert _aligned(by_op["ConvTranspose"], view) == (0.0, 0.0)


def test_integer_grouped_conv_is_priced_as_integer_gemms_not_depthwise(tmp_path):
    """Quantized, a grouped convolution and a depthwise one both become QLinearConvs, but onnxruntime
    takes its depthwise kernel only at one channel a group; a grouped one runs one integer GEMM a group,
    so it counts as an integer convolution by a group's outputs (16 here: the narrow kind)."""
    from onnx import TensorProto, helper, numpy_helper

    from advisor.predictors.structure import graph_stats

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((64, 16, 1, 1)).astype(np.float32), "wg"),
             numpy_helper.from_array(rng.standard_normal((64, 1, 3, 3)).astype(np.float32), "wd"),
             numpy_helper.from_array(rng.standard_normal((64, 32, 1, 1)).astype(np.float32), "wp")]
    nodes = [helper.make_node("Conv", ["x", "wg"], ["g"], name="grouped", group=4),
             helper.make_node("Relu", ["g"], ["gr"], name="r0"),
             helper.make_node("Conv", ["gr", "wd"], ["d"], name="depthwise", group=64, pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["d"], ["dr"], name="r1"),
             helper.make_node("Conv", ["dr", "wp"], ["p"], name="grouped2", group=2),
             helper.make_node("Relu", ["p"], ["y"], name="r2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 14, 14])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 14, 14])], inits)
    q, built = _quantized_and_built(graph, "int8-static-pt", tmp_path)
    assert built.count("QLinearConv") == 3 and "Conv" not in built, built
    layers: list = []
    stats = graph_stats(q, onnx.shape_inference.infer_shapes(q), layers)
    convs = [n.name for n in q.graph.node if n.op_type == "Conv"]
    rows = {name: row for (row, _aliases), name in zip(layers, convs, strict=True)}
    kinds = {name: row[0] for name, row in rows.items()}
    assert kinds == {"grouped": "mac_int_conv_n32", "depthwise": "mac_int_dw", "grouped2": "mac_int_conv"}, kinds
    # the layer rows read a grouped convolution as one of its groups: its outputs and inputs, all positions
    assert [rows[n][7:10] for n in convs] == [[16.0, 16.0, 196.0], [64.0, 1.0, 196.0], [32.0, 32.0, 196.0]]
    assert stats["mac_int_dw"] == 64 * 9 * 14 * 14
    assert stats["mac_int_conv_n32"] == 64 * 16 * 14 * 14 and stats["mac_int_conv"] == 64 * 32 * 14 * 14
    assert {row[2] for row in rows.values()} == {"int"}  # one weight scale a tensor
    pc, built = _quantized_and_built(graph, "int8-static-pc", tmp_path)
    assert built.count("QLinearConv") == 3, built
    layers = []
    graph_stats(pc, onnx.shape_inference.infer_shapes(pc), layers)
    assert [row[2] for row, _aliases in layers] == ["int_pc"] * 3  # a scale per output channel


def test_quantize_dequantize_folded_into_integer_kernels_are_priced_apart(tmp_path):
    """In a chain of integer convolutions onnxruntime keeps one QuantizeLinear at the input and one
    DequantizeLinear at the output; the pairs between the convolutions are folded into its QLinearConvs
    (their requantization). Those count as ``q_fused`` / ``nodes_qfused`` (structure version 11), the
    two it runs as ``q_act`` and nodes."""
    from onnx import TensorProto, helper, numpy_helper

    from advisor.predictors.structure import graph_stats

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((64, 64, 1, 1)).astype(np.float32), f"w{i}") for i in range(3)]
    nodes = []
    for i in range(3):
        nodes += [helper.make_node("Conv", ["x" if i == 0 else f"r{i - 1}", f"w{i}"], [f"c{i}"], name=f"conv{i}"),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}" if i < 2 else "y"], name=f"relu{i}")]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, 14, 14])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 14, 14])], inits)
    q, built = _quantized_and_built(graph, "int8-static-pt", tmp_path)
    assert built.count("QLinearConv") == 3 and built.count("QuantizeLinear") == built.count("DequantizeLinear") == 1, built
    stats = graph_stats(q, onnx.shape_inference.infer_shapes(q))
    elems = 64 * 14 * 14
    assert stats["q_act"] == 2 * elems  # the Q and the DQ onnxruntime runs
    assert stats["nodes_qfused"] == 6 and stats["q_fused"] == 6 * elems  # the pairs inside the QLinearConvs
    assert stats["nodes"] == 5  # three convolutions, one Q, one DQ
    original = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    plain = graph_stats(original, onnx.shape_inference.infer_shapes(original))
    assert plain["q_fused"] == plain["nodes_qfused"] == plain["q_act"] == 0.0
