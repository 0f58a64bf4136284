"""Structured channel pruning: real channel removal, valid graphs, exactness, refusals, MACs, latency."""
from __future__ import annotations

import functools
import math
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from advisor.compression.channel_prune import ChannelPruning
from advisor.compression.data import synthetic
from advisor.errors import NotApplicableError, SettingError
from advisor.modelio import from_proto
from advisor.zoo.tiny import build_tiny
from profiling.accuracy import cosine_per_sample

CNNS = ("plain_cnn", "residual_cnn", "depthwise_cnn", "multibranch_cnn", "se_cnn", "bn_cnn")
NON_CNNS = ("mlp", "gru", "lstm", "transformer")
RATIOS = (0.1, 0.25, 0.5)


@functools.cache
def _tiny(name: str):
    return from_proto(build_tiny(name))


@functools.cache
def _pruned(name: str, ratio: float):
    return ChannelPruning(f"chprune{round(ratio * 100)}", ratio).apply(_tiny(name))


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _outputs(model: onnx.ModelProto, data) -> np.ndarray:
    sess = _session(model)
    return np.concatenate([sess.run(None, feed)[0] for feed in data.feeds()])


def _inits(model: onnx.ModelProto) -> dict:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _conv_params(model: onnx.ModelProto) -> int:
    inits = _inits(model)
    return sum(inits[n.input[1]].size for n in model.graph.node if n.op_type == "Conv")


def _dims(lm, name: str) -> list:
    g = lm.inferred.graph
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        if vi.name == name:
            return [d.dim_value for d in vi.type.tensor_type.shape.dim]
    raise KeyError(name)


def _group(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("name", CNNS)
def test_pruned_cnn_is_valid_smaller_and_faithful(name, ratio):
    lm, result = _tiny(name), _pruned(name, ratio)
    from_proto(result.model)  # checker + shape inference
    data = synthetic(lm, n_samples=4)
    ref, out = _outputs(lm.model, data), _outputs(result.model, data)
    assert out.shape == ref.shape
    assert _conv_params(result.model) < _conv_params(lm.model)
    notes = result.notes
    assert notes["ratio"] == ratio and notes["groups_pruned"] >= 1
    assert notes["channels_after"] < notes["channels_before"]
    assert float(np.mean(cosine_per_sample(ref, out))) >= ChannelPruning("x", ratio).min_cosine


def test_input_model_is_not_modified():
    lm = from_proto(build_tiny("bn_cnn"))
    before = lm.model.SerializeToString()
    ChannelPruning("chprune50", 0.5).apply(lm)
    assert lm.model.SerializeToString() == before


def test_residual_and_gate_inputs_keep_equal_channel_counts():
    for name, op in (("residual_cnn", "Add"), ("se_cnn", "Mul")):
        lm = from_proto(_pruned(name, 0.5).model)
        joins = [n for n in lm.model.graph.node if n.op_type == op]
        assert joins
        for n in joins:
            a, b = (_dims(lm, x)[1] for x in n.input)
            assert a == b < _dims(_tiny(name), n.input[0])[1]


def test_concat_output_is_sum_of_pruned_branches():
    lm = from_proto(_pruned("multibranch_cnn", 0.5).model)
    for n in (n for n in lm.model.graph.node if n.op_type == "Concat"):
        widths = [_dims(lm, x)[1] for x in n.input]
        assert _dims(lm, n.output[0])[1] == sum(widths) < _dims(_tiny("multibranch_cnn"), n.output[0])[1]


def test_depthwise_group_equals_pruned_channel_count():
    lm = from_proto(_pruned("depthwise_cnn", 0.5).model)
    inits = _inits(lm.model)
    depthwise = [n for n in lm.model.graph.node if n.op_type == "Conv" and _group(n) > 1]
    assert len(depthwise) == 3
    for n in depthwise:
        w = inits[n.input[1]]
        assert _group(n) == w.shape[0] == _dims(lm, n.input[0])[1] == inits[n.input[2]].shape[0]
        assert w.shape[1] == 1
    assert [_group(n) for n in depthwise] == [8, 16, 32]


def test_batchnorm_parameters_are_sliced():
    lm = from_proto(_pruned("bn_cnn", 0.5).model)
    inits = _inits(lm.model)
    bns = [n for n in lm.model.graph.node if n.op_type == "BatchNormalization"]
    assert [_dims(lm, n.input[0])[1] for n in bns] == [8, 16, 16]
    for n in bns:
        assert {inits[x].shape[0] for x in n.input[1:]} == {_dims(lm, n.input[0])[1]}


def _zero_first_half(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make the first half of every Conv's output channels exactly zero (weights, bias, BN shift)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    inits = {t.name: t for t in out.graph.initializer}
    targets = [(n.input[k], k) for n in out.graph.node if n.op_type == "Conv" for k in (1, 2) if len(n.input) > k]
    targets += [(n.input[k], k) for n in out.graph.node if n.op_type == "BatchNormalization" for k in (2, 3)]
    for name, _ in targets:
        arr = numpy_helper.to_array(inits[name]).copy()
        arr[: arr.shape[0] // 2] = 0
        inits[name].CopyFrom(numpy_helper.from_array(arr, name))
    return out


@pytest.mark.parametrize("name", CNNS)
def test_removing_dead_channels_is_exact(name):
    """Channels that are exactly zero are the lowest-norm ones; removing them changes nothing."""
    lm = from_proto(_zero_first_half(_tiny(name).model))
    result = ChannelPruning("chprune50", 0.5).apply(lm)
    assert result.notes["channels_after"] * 2 == result.notes["channels_before"]
    data = synthetic(lm, n_samples=2)
    ref, out = _outputs(lm.model, data), _outputs(result.model, data)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))


@pytest.mark.parametrize("name", NON_CNNS)
def test_non_cnns_are_refused_with_one_line(name):
    setting = ChannelPruning("chprune25", 0.25)
    reason = setting.check(_tiny(name))
    assert reason and "\n" not in reason and "Conv" in reason
    with pytest.raises(NotApplicableError) as info:
        setting.apply(_tiny(name))
    assert "\n" not in str(info.value) and "chprune25" in str(info.value)


def _model(nodes, inits, outputs, in_shape=(1, 3, 8, 8)) -> onnx.ModelProto:
    """A helper-built float model with input ``input``; outputs as (name, shape) pairs."""
    rng = np.random.default_rng(0)
    tensors = [numpy_helper.from_array(v if v.dtype == np.int64 else rng.standard_normal(v.shape).astype(np.float32), k)
               for k, v in inits.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs], tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _convs(*couts):
    nodes, inits, cin, src = [], {}, 3, "input"
    for j, c in enumerate(couts):
        inits[f"w{j}"], inits[f"b{j}"] = np.zeros((c, cin, 3, 3), np.float32), np.zeros(c, np.float32)
        nodes += [helper.make_node("Conv", [src, f"w{j}", f"b{j}"], [f"c{j}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{j}"], [f"r{j}"])]
        cin, src = c, f"r{j}"
    return nodes, inits


@pytest.mark.parametrize(("tail", "reason"), [
    ([], "graph output"),
    ([helper.make_node("Transpose", ["r0"], ["t"], perm=[0, 2, 3, 1])], "consumed by Transpose"),
])
def test_channels_reaching_an_opaque_consumer_are_frozen(tail, reason):
    nodes, inits = _convs(8)
    out = ("t", [1, 8, 8, 8]) if tail else ("r0", [1, 8, 8, 8])
    lm = from_proto(_model(nodes + tail, inits, [out]))
    why = ChannelPruning("chprune50", 0.5).check(lm)
    assert why is not None and "frozen" in why and reason in why


def test_frozen_group_keeps_channels_while_upstream_group_is_pruned():
    nodes, inits = _convs(8, 6)
    lm = from_proto(_model(nodes, inits, [("r1", [1, 6, 8, 8])]))
    result = ChannelPruning("chprune50", 0.5).apply(lm)
    notes = result.notes
    assert (notes["groups_pruned"], notes["groups_frozen"], notes["frozen_reasons"]) == (1, 1, {"graph output": 1})
    assert (notes["channels_before"], notes["channels_after"]) == (14, 10)
    data = synthetic(lm, n_samples=1)
    assert _outputs(result.model, data).shape == (1, 6, 8, 8)


def test_explicit_reshape_and_matmul_head_are_rewritten():
    nodes, inits = _convs(8)
    inits["shape"] = np.array([1, 8 * 64], np.int64)
    inits["fc"] = np.zeros((8 * 64, 5), np.float32)
    nodes += [helper.make_node("Reshape", ["r0", "shape"], ["flat"]),
              helper.make_node("MatMul", ["flat", "fc"], ["output"])]
    lm = from_proto(_model(nodes, inits, [("output", [1, 5])]))
    result = ChannelPruning("chprune50", 0.5).apply(lm)
    inits_after = _inits(result.model)
    assert inits_after["shape"].tolist() == [1, 4 * 64]
    assert inits_after["fc"].shape == (4 * 64, 5)
    assert _outputs(result.model, synthetic(lm, n_samples=1)).shape == (1, 5)


def test_ratio_out_of_range_is_a_setting_error():
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(SettingError, match="between 0 and 1"):
            ChannelPruning("chprune", bad)


def test_registry_entries_are_channel_pruning():
    from advisor.compression import get_setting
    for pct in (10, 25, 50):
        s = get_setting(f"chprune{pct}")
        assert isinstance(s, ChannelPruning) and s.params == {"ratio": pct / 100}
        assert s.family == "structured-pruning" and "Conv" in s.touches


@functools.cache
def _big_cnn() -> onnx.ModelProto:
    """4 Conv layers (64-128 channels) at 64x64: ~0.6 GMACs, big enough that compute dominates."""
    import torch
    from torch import nn

    from advisor.zoo.export import export
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(128, 10))
    return export(m, (torch.randn(1, 3, 64, 64),), ["input"], ["output"])


def _macs(model: onnx.ModelProto) -> float:
    """Multiply-accumulates of one inference (advisor.features when available, else Conv + Gemm)."""
    lm = from_proto(model)
    try:
        from advisor.features import extract_features
    except ImportError:
        extract_features = None
    if extract_features is not None:
        return float(extract_features(lm).macs_total)
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    total = 0
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm"):
            w = inits[n.input[1]]
            trans_b = any(a.name == "transB" and a.i for a in n.attribute)
            k = math.prod(w[1:]) if n.op_type == "Conv" else (w[1] if trans_b else w[0])
            total += math.prod(_dims(lm, n.output[0])) * k
    return float(total)


@pytest.mark.parametrize("which", ["plain_cnn", "big_cnn"])
def test_chprune50_cuts_macs_by_at_least_40_percent(which):
    model = _tiny("plain_cnn").model if which == "plain_cnn" else _big_cnn()
    pruned = ChannelPruning("chprune50", 0.5).apply(from_proto(model)).model
    assert _macs(pruned) <= 0.6 * _macs(model)


def test_chprune50_is_faster_on_a_dense_cpu_runtime():
    """Interleaved single-thread runs in one process; medians compared (noise hits both alike)."""
    base = _big_cnn()
    pruned = ChannelPruning("chprune50", 0.5).apply(from_proto(base)).model
    feed = {"input": np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)}
    sessions = [_session(base), _session(pruned)]
    times = [[], []]
    for rep in range(35):
        for k, sess in enumerate(sessions):
            t0 = time.perf_counter()
            sess.run(None, feed)
            if rep >= 5:  # warm-up
                times[k].append(time.perf_counter() - t0)
    ratio = float(np.median(times[1]) / np.median(times[0]))
    assert ratio < 0.85, f"pruned/baseline median latency {ratio:.2f}"


def test_aligned_pruning_keeps_multiples_of_eight(tiny_models):
    from advisor.compression import get_setting
    from advisor.compression.channel_prune import n_keep
    from advisor.modelio import from_proto
    from advisor.predictors.structure import structure_all

    assert [n_keep(32, 0.25, 8), n_keep(64, 0.5, 8), n_keep(29, 0.1, 8), n_keep(12, 0.25, 8)] == [24, 32, 24, 8]
    assert n_keep(6, 0.5, 8) == n_keep(6, 0.5) == 3  # narrower than the alignment: the plain rule
    lm = from_proto(tiny_models["plain_cnn"])
    st = structure_all(lm, ["chprune25", "chprune25-a8"])
    # Both stay on onnxruntime's blocked kernel (24 input channels: a multiple of 4); the aligned one keeps
    # a layer with whole output blocks.
    assert st["chprune25-a8"]["v_align8_share"] == 1.0
    assert st["chprune25"]["v_align16_share"] < st["chprune25-a8"]["v_align16_share"]
    result = get_setting("chprune25-a8").apply(lm)
    for init in result.model.graph.initializer:
        if len(init.dims) == 4:  # every Conv keeps a multiple of 8 output channels
            assert init.dims[0] % 8 == 0, (init.name, list(init.dims))
