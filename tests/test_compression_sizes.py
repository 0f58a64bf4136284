"""What each setting does to storage, calibration notes and its input model."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from advisor.compression import data as cdata
from advisor.compression import get_setting, setting_names
from advisor.compression.combined import Pipeline
from advisor.compression.sizes import compressed_size_bytes, initializer_bytes, size_bytes
from advisor.compression.sparsity import prune_smallest
from advisor.errors import NotApplicableError
from advisor.modelio import from_proto
from profiling.accuracy import cosine_per_sample
from profiling.runtimes.ort_session import make_session, run_samples

CNNS = ("plain_cnn", "residual_cnn", "depthwise_cnn", "multibranch_cnn", "se_cnn", "bn_cnn")


@pytest.fixture(scope="module")
def lms(tiny_models):
    return {name: from_proto(model) for name, model in tiny_models.items()}


def _ratio(lm, setting_name: str) -> float:
    """Initializer bytes before / after applying ``setting_name``."""
    return initializer_bytes(lm.model) / initializer_bytes(get_setting(setting_name).apply(lm).model)


@pytest.mark.parametrize("model_name", ["plain_cnn", "mlp"])
def test_fp16_halves_weight_bytes(lms, model_name):
    assert _ratio(lms[model_name], "fp16") == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize(("setting_name", "low", "high"), [
    ("int8-static-pc", 3.5, 4.05), ("wq16", 1.9, 2.0), ("wq8", 3.5, 4.05), ("wq4", 7.0, 8.1)])
def test_narrow_settings_cut_weight_bytes(lms, setting_name, low, high):
    assert low <= _ratio(lms["plain_cnn"], setting_name) <= high


def test_sparse50_shrinks_only_compressed_storage(lms):
    lm = lms["plain_cnn"]
    result = get_setting("sparse50").apply(lm)
    assert size_bytes(result.model) == pytest.approx(size_bytes(lm.model), rel=0.01)
    assert result.notes["size_bytes"] == size_bytes(result.model)
    assert result.notes["compressed_size_bytes"] < 0.8 * compressed_size_bytes(lm.model)
    assert result.notes["achieved_sparsity"] == pytest.approx(0.5, abs=0.01)


def test_calibration_source_is_recorded(lms, tmp_path):
    lm = lms["plain_cnn"]
    setting = get_setting("int8-static-pc")
    assert setting.apply(lm).notes["calibration"] == "synthetic(seed=0)"
    path = tmp_path / "calib.npz"
    np.savez(path, input=np.random.default_rng(1).standard_normal((8, 3, 32, 32)).astype(np.float32))
    notes = setting.apply(lm, cdata.load_npz(path, lm)).notes
    assert notes["calibration"] == f"data:{path}"
    assert notes["calibration_samples"] == 8


@pytest.mark.parametrize("setting_name", setting_names())
def test_apply_leaves_the_input_model_alone(lms, setting_name):
    lm = lms["plain_cnn"]
    setting = get_setting(setting_name)
    before = lm.model.SerializeToString()
    if setting.check(lm) is None:
        setting.apply(lm)
    assert lm.model.SerializeToString() == before


@pytest.mark.parametrize("model_name", CNNS)
def test_dynamic_int8_never_quantizes_conv(lms, model_name):
    result = get_setting("int8-dynamic").apply(lms[model_name])
    ops = {n.op_type for n in result.model.graph.node}
    assert "ConvInteger" not in ops and "Conv" in ops
    assert 0.0 <= result.notes["touched_macs_share"] < 0.5  # only the classifier Gemm


def test_weight_only_int4_uses_4bit_storage(lms):
    model = get_setting("wq4").apply(lms["mlp"]).model
    int4 = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT4]
    assert len(int4) == 3
    assert all(len(t.raw_data) == (int(np.prod(t.dims)) + 1) // 2 for t in int4)


def test_pipeline_runs_steps_in_order_and_merges_notes(lms):
    lm = lms["plain_cnn"]
    pipeline = Pipeline("sparse50+int8-static-pc", ("sparse50", "int8-static-pc"))
    assert pipeline.needs_calibration and pipeline.check(lm) is None
    result = pipeline.apply(lm)
    assert result.notes["steps"] == ["sparse50", "int8-static-pc"]
    assert result.notes["sparse50"]["achieved_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert result.notes["calibration"] == "synthetic(seed=0)"
    assert initializer_bytes(lm.model) / initializer_bytes(result.model) >= 3.5
    feeds = list(cdata.synthetic(lm, n_samples=4).feeds())
    ref = run_samples(make_session(lm.model.SerializeToString()), feeds)[0]
    got = run_samples(make_session(result.model.SerializeToString()), feeds)[0]
    assert np.mean(cosine_per_sample(ref, got)) >= pipeline.min_cosine


def test_pipeline_refusal_names_the_step(lms):
    reason = Pipeline("p", ("sparse50", "int8-static-pc")).check(lms["multibranch_cnn"])
    assert reason is not None and reason.startswith("step 'sparse50'")


def test_initializer_bytes_counts_4bit_as_half_a_byte():
    t = onnx.helper.make_tensor("w", onnx.TensorProto.INT4, [3, 5], [1] * 15)
    f = onnx.numpy_helper.from_array(np.zeros((2, 4), np.float16), "h")
    model = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [], [t, f]))
    assert initializer_bytes(model) == 8 + 16


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.integers(1, 300), elements=st.floats(-1e3, 1e3, width=32).filter(lambda x: x != 0)),
       st.sampled_from([0.5, 0.75, 0.9]))
def test_prune_smallest_zeroes_exactly_the_smallest(w, sparsity):
    pruned = prune_smallest(w, sparsity)
    zeroed = pruned == 0
    assert zeroed.sum() == int(round(sparsity * w.size))
    assert np.array_equal(pruned[~zeroed], w[~zeroed])  # survivors keep their exact values
    if zeroed.any() and (~zeroed).any():
        assert np.abs(w[zeroed]).max() <= np.abs(w[~zeroed]).min()


def test_fp16_keeps_ops_without_a_cpu_kernel_in_fp32(lms, monkeypatch):
    from advisor.compression import fp16

    answers = iter(["Relu", None])  # pretend onnxruntime lacks a float16 Relu once
    monkeypatch.setattr(fp16, "_op_without_kernel", lambda model: next(answers))
    result = get_setting("fp16").apply(lms["mlp"])
    assert result.notes["kept_fp32_ops"] == ["Relu"]
    relu_inputs = {n.input[0] for n in result.model.graph.node if n.op_type == "Relu"}
    casts_to_fp32 = {n.output[0] for n in result.model.graph.node if n.op_type == "Cast"
                     and n.attribute[0].i == onnx.TensorProto.FLOAT}
    assert relu_inputs <= casts_to_fp32


def test_dynamic_int8_refuses_a_conv_only_model():
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((32, 16, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "conv_only",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 8, 8])], [w])
    lm = from_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    setting = get_setting("int8-dynamic")
    reason = setting.check(lm)
    assert reason and "Conv" in reason
    with pytest.raises(NotApplicableError, match="no MatMul/Gemm"):
        setting.apply(lm)
    assert get_setting("wq8").check(lm) is None and get_setting("int8-static-pc").check(lm) is None


def test_replacing_many_initializers_at_once_is_replacing_them_one_by_one(lms):
    """``replace_initializers`` (one rebuild of the initializer list) writes the same model, byte for
    byte, as one ``replace_initializer`` per weight (a rebuild each: quadratic in the weights)."""
    from onnx import helper

    from advisor.compression.graph_utils import copy_model, find_weights, replace_initializer, replace_initializers

    model = lms["plain_cnn"].model
    weights = find_weights(model)
    assert len(weights) >= 3

    def swaps():
        out = []
        for w in weights:
            narrow = helper.make_tensor(f"{w.name}_n", onnx.TensorProto.FLOAT16, [1], [0.0])
            out.append((w.name, [narrow], helper.make_node("Cast", [narrow.name], [w.name], to=1)))
        return out

    one_by_one, at_once = copy_model(model), copy_model(model)
    for name, tensors, node in swaps():
        replace_initializer(one_by_one, name, tensors, node)
    replace_initializers(at_once, swaps())
    assert at_once.SerializeToString() == one_by_one.SerializeToString()
    assert not {w.name for w in weights} & {t.name for t in at_once.graph.initializer}
    replace_initializers(at_once, [])  # nothing to swap: unchanged
    assert at_once.SerializeToString() == one_by_one.SerializeToString()
