"""Layer-level latency (advisor.predictors.kernels): layer rows from the structure replay, per-node
times from onnxruntime's real profiler mapped onto them, the layer-time model and its bundle form."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest

from advisor.compression import get_setting
from advisor.modelio import from_proto
from advisor.predictors.kernels import KernelModel, layer_times, layers_of
from advisor.predictors.layer_encoding import LAYER_FIELDS, LayerIndex, pow2
from advisor.predictors.structure import structure_all
from profiling.records import validate
from profiling.runtimes.ort_session import node_profile

SETTINGS = ("none", "int8-static-pc", "int8-dynamic", "chprune50", "wq8", "fp16")


@pytest.mark.parametrize("model_name", ["plain_cnn", "residual_cnn", "depthwise_cnn", "se_cnn", "mlp", "transformer"])
def test_profiled_nodes_land_on_every_layer(tiny_models, tmp_path, model_name):
    """Whatever onnxruntime fuses and renames (NCHWc convolutions, QLinearConv, MatMul+Add -> Gemm,
    MatMulNBits, scale folding, fp16 casts), each MAC layer of the replayed graph gets its time."""
    lm = from_proto(tiny_models[model_name])
    st = structure_all(lm)
    for name in SETTINGS:
        if not st.get(name):
            continue
        rows, aliases = layers_of(st[name], "layers1"), st[name]["aliases1"]
        assert rows and len(rows) == len(aliases) and all(len(r) == len(LAYER_FIELDS) for r in rows)
        assert layers_of(st[name], "layers0") == layers_of(st["none"], "layers1")
        path = tmp_path / f"{name}.onnx"
        onnx.save(lm.model if name == "none" else get_setting(name).apply(lm).model, str(path))
        prof = node_profile(str(path), None, min_runs=3, budget_s=0.0)
        assert prof["source"] == "onnxruntime-profiler" and prof["runs"] == 3 and prof["nodes"]
        us = layer_times(aliases, prof["nodes"])
        assert all(u > 0 for u in us), (name, [a[0] for a, u in zip(aliases, us, strict=True) if u <= 0])
        assert sum(us) <= sum(n[2] for n in prof["nodes"]) + 1e-9


def test_paired_profiles_time_the_original_and_its_variant_alike(tiny_models, tmp_path):
    """``node_profile_pair`` profiles an original and its variant alternately in one process: each
    profile is a ``node_profile`` of its own graph (the variant's layers get their times), marked
    ``paired``, over the same number of runs."""
    from profiling.runtimes.ort_session import node_profile_pair

    lm = from_proto(tiny_models["plain_cnn"])
    st = structure_all(lm, ["int8-static-pc"])["int8-static-pc"]
    base, var = tmp_path / "none.onnx", tmp_path / "int8.onnx"
    onnx.save(lm.model, str(base))
    onnx.save(get_setting("int8-static-pc").apply(lm).model, str(var))
    pb, pv = node_profile_pair(str(base), str(var), runs=4, warmup=1)
    assert pb["paired"] and pv["paired"] and pb["runs"] == pv["runs"] == 4
    assert {n[1] for n in pv["nodes"]} & {"QLinearConv", "QuantizeLinear"} and "QLinearConv" not in {n[1] for n in pb["nodes"]}
    assert all(u > 0 for u in layer_times(st["aliases1"], pv["nodes"]))
    assert pb["run_us"] > 0 and pv["run_us"] > 0


def test_channel_pruning_shows_in_the_layer_rows(tiny_models):
    st = structure_all(from_proto(tiny_models["plain_cnn"]), ["chprune50"])["chprune50"]
    c_out, cat = LAYER_FIELDS.index("c_out"), LAYER_FIELDS.index("category")
    before = [r[c_out] for r in st["layers0"] if r[cat] == "conv"]
    after = [r[c_out] for r in st["layers1"] if r[cat] == "conv"]
    assert len(before) == len(after) == 3 and after == [c / 2 for c in before]


def test_malformed_layer_rows_count_as_none():
    good = ["mac_gemm", "Gemm", "", "gemm", 0.0, 0.0, 1e4, 10.0, 10.0, 1.0, 1.0]
    assert layers_of({"layers_version": 1, "layers1": [good]}, "layers1") == (tuple(good),)
    for bad in ([good[:5]], [[1, *good[1:]]], [[*good[:6], "many", *good[7:]]], [[*good[:6], True, *good[7:]]], "x"):
        assert layers_of({"layers_version": 1, "layers1": bad}, "layers1") is None
    assert layers_of({"layers_version": 2, "layers1": [good]}, "layers1") is None and layers_of(None, "layers1") is None


def test_layer_times_mapping_rules():
    aliases = [["/c1/Conv", "/c1/Conv_output_0", "/r1/Relu", "/r1/Relu_output_0"], ["/fc/Gemm", "/fc/Gemm_output_0"],
               ["/att/MatMul", "/att/MatMul_output_0"]]
    events = [["/r1/Relu_output_0_nchwc", "Conv", 10.0], ["fused /fc/Gemm", "FusedGemm", 2.0],
              ["/att/MatMul/MatMulScaleFusion/", "FusedMatMul", 3.0], ["/c1/Conv_token_7", "QLinearConv", 1.0],
              ["ReorderOutput", "ReorderOutput", 5.0], ["/other/Add", "Add", 4.0], ["bad", "Add", float("nan")]]
    assert layer_times(aliases, events) == [11.0, 2.0, 3.0]
    # nodes named after a layer's tensors but not computing its MACs belong to no layer
    inserted = [["/r1/Relu_output_0", "Relu", 7.0], ["/c1/Conv_output_0", "DequantizeLinear", 6.0],
                ["/fc/Gemm_output_0", "QuantizeLinear", 8.0], ["/att/MatMul_output_0", "Add", 9.0]]
    assert layer_times(aliases, events + inserted) == [11.0, 2.0, 3.0]
    assert layer_times(aliases, inserted) == [0.0, 0.0, 0.0]
    assert layer_times([], events) == []
    # malformed entries (records may come from anywhere) are skipped, not fatal
    junk = [None, ["/c1/Conv"], ["/c1/Conv", "Conv", "7"], ["/c1/Conv", "Conv", True], 5]
    assert layer_times([*aliases, "notalist", [3]], events + junk) == [11.0, 2.0, 3.0, 0.0, 0.0]


def _rows(n, rng):
    kinds = ["mac_conv_a16_n32", "mac_int_conv", "mac_gemm"]
    rows, us = [], []
    for _ in range(n):
        k = kinds[rng.integers(3)]
        macs = float(rng.uniform(1e4, 1e7))
        rows.append([k, "Conv" if "conv" in k else "Gemm", "int" if "int" in k else "", "conv", 1.0, 1.0, macs,
                     32.0, 32.0, 64.0, 9.0])
        us.append(macs / 1e3 * (0.3 if "int" in k else 1.0) * math.exp(rng.normal(0, 0.05)))
    return rows, np.array(us)


def test_kernel_model_learns_costs_and_round_trips():
    rng = np.random.default_rng(0)
    rows, us = _rows(600, rng)
    model = KernelModel().fit(rows, us)
    assert model.usable and model.n_layers_ == 600
    fast = [["mac_int_conv", "Conv", "int", "conv", 1.0, 1.0, 1e6, 32.0, 32.0, 64.0, 9.0]]
    slow = [["mac_conv_a16_n32", "Conv", "", "conv", 1.0, 1.0, 1e6, 32.0, 32.0, 64.0, 9.0]]
    assert model.total_us(fast) < 0.5 * model.total_us(slow)
    assert math.isclose(math.exp(model.log_ratio(slow, fast)), model.total_us(fast) / model.total_us(slow))
    assert math.isnan(model.log_ratio(None, fast)) and model.total_us([]) == 0.0
    unseen = [["mac_new_kind", "NewOp", "", "conv", 1.0, 1.0, 1e6, 32.0, 32.0, 64.0, 9.0]]
    assert math.isfinite(model.total_us(unseen))  # an unseen kind is all zeros in the one-hot columns
    meta, raw = model.to_bundle()
    again = KernelModel.from_bundle(meta, raw)
    assert again.total_us(rows[:50]) == pytest.approx(model.total_us(rows[:50]), rel=1e-6)
    # a bundle of another layer-row version keeps the vocabulary but predicts nothing
    old = KernelModel.from_bundle({**meta, "layers_version": 0}, raw)
    assert not old.usable and math.isnan(old.total_us(fast))
    # so does one whose trees fit a target this code does not know
    assert not KernelModel.from_bundle({**meta, "target": "log_ms_per_flop"}, raw).usable


def test_layer_time_scales_with_macs_beyond_the_training_range():
    """The trees fit time per MAC, so a layer twice the MACs of another, both past the largest layer seen
    in training, costs twice as much (a forest on log time would give both the time of its last leaf)."""
    rng = np.random.default_rng(2)
    rows, us = _rows(600, rng)  # 1e4 .. 1e7 MACs
    model = KernelModel().fit(rows, us)
    big = [["mac_gemm", "Gemm", "", "conv", 1.0, 1.0, 8e7, 32.0, 32.0, 64.0, 9.0]]
    half = [["mac_gemm", "Gemm", "", "conv", 1.0, 1.0, 4e7, 32.0, 32.0, 64.0, 9.0]]
    assert math.exp(model.log_ratio(big, half)) == pytest.approx(0.5, rel=0.02)
    assert model.total_us(big) == pytest.approx(8e7 / 1e3, rel=0.15)
    # a bundle written before the per-MAC target (no "target" key) still predicts log(us) as it was fitted
    meta, raw = model.to_bundle()
    assert meta["target"] == "log_us_per_mac"
    legacy = KernelModel.from_bundle({k: v for k, v in meta.items() if k != "target"}, raw)
    assert legacy.usable and legacy.target_ == "log_us"
    assert legacy.total_us(big) == pytest.approx(model.total_us(big) / 8e7, rel=1e-6)


def test_layer_sample_draws_every_family_alike():
    """Past ``max_layers``, a family with few layers is sampled as much as one with many: here a small
    family of integer layers 3x as fast keeps its price (a uniform sample would hardly see it). One
    member: a property of each member's sample (many members' samples together see more of it)."""
    rng = np.random.default_rng(3)
    big_rows, big_us = _rows(3000, rng)
    big = [(r, u) for r, u in zip(big_rows, big_us, strict=True) if r[0] == "mac_gemm"]
    small = [(["mac_int_conv", "Conv", "int", "conv", 1.0, 1.0, m, 32.0, 32.0, 64.0, 9.0], m / 3e3)
             for m in rng.uniform(1e4, 1e7, 60)]
    rows = [r for r, _ in big + small]
    us = [u for _, u in big + small]
    groups = ["wide"] * len(big) + ["narrow"] * len(small)
    model = KernelModel(min_layers=50, max_layers=120, members=1).fit(rows, us, groups)
    assert model.n_layers_ == 120
    one = [["mac_int_conv", "Conv", "int", "conv", 1.0, 1.0, 1e6, 32.0, 32.0, 64.0, 9.0]]
    assert model.total_us(one) == pytest.approx(1e6 / 3e3, rel=0.25)
    uniform = KernelModel(min_layers=50, max_layers=120, members=1).fit(rows, us)  # ~7 narrow layers in the sample
    assert uniform.total_us(one) > 1.5 * model.total_us(one)


def test_layer_index_prices_like_the_plain_path():
    """A training run's ``LayerIndex`` (rows deduplicated and encoded once for all folds) gives every
    table the very numbers ``totals`` gives without it; tables it does not hold take the plain path."""
    rng = np.random.default_rng(4)
    rows, us = _rows(600, rng)
    model = KernelModel().fit(rows, us)
    norm = [tuple(r) for r in rows]
    tables = [tuple(norm[i:i + 7]) for i in range(0, 560, 7)]
    tables += [tuple(norm[0:7]), None, ()]  # equal content to the first, no table, an empty one
    index = LayerIndex(tables)
    assert index.n_tables == 81 and len(index.rows) == len(set(norm[:560]))
    for native in (False, True):
        plain = model.totals(tables, native)
        fast = model.totals(tables, native, index)
        assert np.array_equal(plain, fast, equal_nan=True)
    subset = tables[10:20] + [None]
    assert np.array_equal(model.totals(subset, False, index), model.totals(subset, False), equal_nan=True)
    foreign = [tuple(norm[0:7])]  # equal content, another object: not indexed, priced the plain way
    assert index.slots(foreign) is None
    assert model.totals(foreign, False, index)[0] == model.totals(foreign)[0]
    assert np.array_equal(model.log_ratios(tables[:40], tables[40:80], False, index),
                          model.log_ratios(tables[:40], tables[40:80]))
    other = KernelModel().fit(rows, np.asarray(us) * 2.0)  # a second model (another fold) gets its own sums
    assert np.allclose(other.totals(tables[:5], False, index), 2.0 * model.totals(tables[:5], False, index),
                       rtol=0.1)


def test_fit_from_the_layer_index_is_the_same_model():
    """Fitting on a ``LayerIndex``'s encoded rows (training's folds) gives the very trees ``fit`` does."""
    rng = np.random.default_rng(5)
    rows, us = _rows(900, rng)
    norm = [tuple(r) for r in rows]
    tables = [tuple(norm[i:i + 9]) for i in range(0, 900, 9)]
    tables[7] = tables[3]  # a table seen twice keeps its place in the sample
    index = LayerIndex(tables)
    flat_rows = [r for t in tables for r in t]
    times = [float(us[norm.index(r)]) for r in flat_rows]
    groups = ["a" if i % 3 else "b" for i in range(len(flat_rows))]
    plain = KernelModel(max_layers=500).fit(flat_rows, times, groups)
    fast = KernelModel(max_layers=500).fit_indexed(index, index.row_ids(index.slots(tables)), times, groups)
    assert fast.vocab_ == plain.vocab_ and fast.n_layers_ == plain.n_layers_ == 500
    assert [b.raw for b in fast.boosters_] == [b.raw for b in plain.boosters_]
    assert len(plain.boosters_) == plain.members > 1


def test_members_draw_their_own_layers_and_average_their_times():
    """The layer-time model is a mean of ``members`` forests, each fitted on its own seeded sample of
    layers with its own tree seed (bagging: the evaluation's spread over seeds came mostly from this
    model's sample); seeds of different models share no member's draw; the file holds every member."""
    from advisor.predictors.base import forests_from_json
    from advisor.predictors.layer_encoding import LayerIndex as Index

    rng = np.random.default_rng(7)
    rows, us = _rows(900, rng)
    model = KernelModel(max_layers=500, members=3).fit(rows, us)
    assert model._seeds() == [0, 1, 2] and KernelModel(xgb_params={"random_state": 1}, members=3)._seeds() == [3, 4, 5]
    assert len({b.raw for b in model.boosters_}) == 3  # three different samples and forests
    index = Index([tuple(tuple(r) for r in rows)])
    solo = [KernelModel(max_layers=500, members=1) for _ in range(3)]
    for k, m in enumerate(solo):  # each member alone, as the ensemble drew it
        m.__dict__.update(model.__dict__, boosters_=[model.boosters_[k]], members=1)
    assert np.allclose(model.row_times(index), np.mean([m.row_times(index) for m in solo], axis=0))
    meta, raw = model.to_bundle()
    assert len(forests_from_json(raw)) == 3
    back = KernelModel.from_bundle(meta, raw)
    assert np.array_equal(back.row_times(index), model.row_times(index))
    one = KernelModel(max_layers=500, members=1).fit(rows, us)  # one member: XGBoost's own JSON, as before
    assert [t.raw for t in forests_from_json(one.to_bundle()[1])] == [one.boosters_[0].raw]


def test_layer_times_are_fitted_without_the_profilers_cost_per_node():
    """The forests fit each layer's profiled time less ``profiler_node_us`` (at least a tenth of it):
    the same model as one fitted on those times with nothing taken off. A bundle keeps the value; one
    written before it (no key) says 0."""
    from advisor.predictors.layer_encoding import LayerIndex as Index

    rng = np.random.default_rng(3)
    rows, us = _rows(600, rng)
    index = Index([tuple(tuple(r) for r in rows)])
    model = KernelModel(members=1, profiler_node_us=2.0).fit(rows, us)
    bare = KernelModel(members=1, profiler_node_us=0.0).fit(rows, np.maximum(np.asarray(us) - 2.0, 0.1 * np.asarray(us)))
    assert np.allclose(model.row_times(index), bare.row_times(index))
    assert not np.allclose(model.row_times(index), KernelModel(members=1, profiler_node_us=0.0).fit(rows, us).row_times(index))
    meta, raw = model.to_bundle()
    assert KernelModel.from_bundle(meta, raw).profiler_node_us == 2.0
    old = {**meta, "params": {k: v for k, v in meta["params"].items() if k != "profiler_node_us"}}
    assert KernelModel.from_bundle(old, raw).profiler_node_us == 0.0


def test_dequantized_weight_convolutions_are_read_as_the_plain_kernel():
    """A float convolution de-quantizing its weights every run is priced as the unaligned convolution it
    runs as; other kinds are read as stored. A model fitted before that (no ``plain_dqw`` or
    ``plain_rows`` in its bundle) keeps reading rows as stored, with or without a training index; one
    that wrote ``plain_dqw`` reads them at level 1."""
    from advisor.predictors.kernels import plain_kernel_row

    dqw = ("mac_conv_dqw", "Conv", "", "conv", 1.0, 1.0, 1e6, 48.0, 32.0, 64.0, 9.0)
    assert plain_kernel_row(dqw) == ("mac_conv_u_n64", "Conv", "", "conv", 0.0, 0.0, 1e6, 48.0, 32.0, 64.0, 9.0)
    assert plain_kernel_row(("mac_conv_a8_n64",) + dqw[1:]) == ("mac_conv_a8_n64",) + dqw[1:]
    dw_dqw = ("mac_conv_dqw", "Conv", "", "conv_depthwise") + dqw[4:]
    assert plain_kernel_row(dw_dqw, level=1) == dw_dqw  # level 1 left depthwise rows as stored
    rng = np.random.default_rng(6)
    rows, us = _rows(600, rng)
    rows += [["mac_conv_u_n64", "Conv", "", "conv", 0.0, 0.0, m, 48.0, 32.0, 64.0, 9.0] for m in rng.uniform(1e4, 1e7, 300)]
    us = np.r_[us, [r[6] / 1e3 * 3.0 for r in rows[600:]]]
    model = KernelModel().fit(rows, us)
    assert model.plain_rows_ == 2 and model.total_us([dqw]) == model.total_us([plain_kernel_row(dqw)])
    meta, raw = model.to_bundle()
    legacy = KernelModel.from_bundle({k: v for k, v in meta.items() if k != "plain_rows"}, raw)
    level1 = KernelModel.from_bundle({**{k: v for k, v in meta.items() if k != "plain_rows"}, "plain_dqw": True}, raw)
    assert KernelModel.from_bundle(meta, raw).plain_rows_ == 2 and legacy.plain_rows_ == 0 and level1.plain_rows_ == 1
    tables = [(dqw,), (plain_kernel_row(dqw),)]
    assert legacy.totals(tables)[0] != legacy.totals(tables)[1]  # "mac_conv_dqw" is not in its vocabulary
    assert np.array_equal(legacy.totals(tables, False, LayerIndex(tables)), legacy.totals(tables))
    assert level1.totals(tables)[0] == level1.totals(tables)[1]


def test_depthwise_rows_on_the_plain_kernel_are_read_as_one_kind():
    """A depthwise convolution that runs onnxruntime's plain per-group kernel -- its weights de-quantized
    on every run, or float and stored unaligned (structure version 8: channels not a multiple of 4, or
    1-D) -- reads as one kind without alignment flags, so its float and its de-quantized forms are
    priced alike. A 2-D float one the fast kernel takes (stored aligned) keeps its own kind."""
    from advisor.predictors.kernels import plain_kernel_row
    from advisor.predictors.layer_encoding import PLAIN_DEPTHWISE

    def dw(kind, c, ok=0.0):
        return (kind, "Conv", "", "conv_depthwise", ok, ok, 69120.0, float(c), 1.0, 96.0, 9.0)

    plain = [dw("mac_conv_dqw", 80, 1.0), dw("mac_conv_dqw", 81), dw("mac_dw_u", 81), dw("mac_dw_u", 82),
             dw("mac_dw_u", 80), dw("mac_dw_u", 184), dw("mac_dw_u", 84), dw("mac_dw_u", 12)]
    for row in plain:
        assert plain_kernel_row(row) == (PLAIN_DEPTHWISE, *row[1:4], 0.0, 0.0, *row[6:]), row
    assert plain_kernel_row(dw("mac_dw_u", 80)) == plain_kernel_row(dw("mac_conv_dqw", 80, 1.0))
    for fast in (dw("mac_dw_a8", 84, 1.0), dw("mac_dw_a8", 12, 1.0), dw("mac_dw_a8", 80, 1.0), dw("mac_dw_a16", 96, 1.0)):
        assert plain_kernel_row(fast) == fast
    grouped = ("mac_conv_dqw", "Conv", "", "conv_grouped") + dw("x", 80)[4:]
    assert plain_kernel_row(grouped) == grouped  # grouped ones are read as stored (plain_kernel_row)
    for row in plain:
        assert plain_kernel_row(row, level=1) == row


def test_channel_divisibility():
    assert list(pow2([1, 2, 3, 12, 56, 64, 128, 87, 0.0, 96.2])) == [0, 1, 0, 2, 3, 6, 6, 0, 0, 5]


def test_too_few_layers_give_no_model():
    rng = np.random.default_rng(1)
    rows, us = _rows(50, rng)
    assert not KernelModel().fit(rows, us).usable


def test_the_agent_records_a_node_profile(tiny_models, tmp_path):
    """``node_profile`` in a plan: the record carries the profiler's per-node times and stays valid."""
    from profiling.runner import measure_item

    path = tmp_path / "plain.onnx"
    onnx.save(tiny_models["plain_cnn"], str(path))
    item = {"model": {"name": "plain", "sha256": "0" * 64}, "setting": {"name": "none"}, "model_path": str(path)}
    plan = {"runtime": "onnxruntime-cpu", "threads": 1, "power": "none", "node_profile": True,
            "protocol": {"min_runs": 3, "max_runs": 5, "time_budget_s": 0.1, "target_rel_ci": 0.5}}
    rec = measure_item(item, plan)
    validate(rec)
    prof = rec["node_profile"]
    assert prof["source"] == "onnxruntime-profiler" and prof["run_us"] > 0
    assert any(op in ("Conv", "FusedConv") for _, op, _ in prof["nodes"]) and all(us >= 0 for _, _, us in prof["nodes"])
    plan["node_profile"] = False
    assert "node_profile" not in measure_item(item, plan)


def _with_layers(recs, rng):
    """TEST DOUBLE: give each ok synthetic record layer rows and a node profile whose per-layer times
    follow a known law (integer layers cost 0.3 of a float one per MAC), with the ratio consistent."""
    by_net = {}
    for r in recs:
        if r["status"] != "ok":
            continue
        sha, name = r["model"]["sha256"], r["setting"]["name"]
        if sha not in by_net:
            n = int(rng.integers(3, 8))
            by_net[sha] = [["mac_conv_a16_n32", "Conv", "", "conv", 1.0, 1.0, float(rng.uniform(1e5, 1e7)), 32.0, 32.0,
                            64.0, 9.0] for _ in range(n)]
        layers0 = by_net[sha]
        quant = "int8" in name
        layers1 = [[("mac_int_conv" if quant else row[0]), row[1], ("int" if quant else ""), *row[3:6],
                    row[6] * (0.5 if "chprune" in name else 1.0), *row[7:]] for row in layers0]
        us = [row[6] / 1e3 * (0.3 if quant else 1.0) for row in layers1]
        r["setting"]["structure"] = {"layers_version": 1, "layers0": layers0, "layers1": layers1,
                                     "aliases1": [[f"/l{i}/Conv"] for i in range(len(layers1))]}
        r["node_profile"] = {"source": "onnxruntime-profiler", "runs": 10,
                             "nodes": [[f"/l{i}/Conv_token_{i}", "QLinearConv", u] for i, u in enumerate(us)]}
    return recs


def test_bundles_learn_layer_times_from_node_profiles(tmp_path):
    """Records with node profiles: the bundle holds a layer-time model (JSON), the ratio model reads its
    ``x_log_kern``, and a loaded bundle predicts exactly what the trained one did."""
    import json

    from advisor.predictors.predictor import PredictorBundle, load_bundle
    from advisor.predictors.synthetic import make_synthetic_records
    from advisor.predictors.training import train_bundle

    settings = ["none", "int8-static-pc", "chprune50", "fp16"]
    recs = _with_layers(make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=8,
                                               settings=settings), np.random.default_rng(0))
    path = tmp_path / "syn.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    result = train_bundle([path], out=tmp_path / "b", command="test", xgb_params={"n_estimators": 30})
    assert result.manifest["targets"]["kernel_time"]["estimator"] == "KernelModel"
    assert "x_log_kern" in result.suite.ratio.feature_names_in_
    # the uncompressed-latency model prices the original's layers too, shifted onto the measured scale
    assert "x_log_kern_ms" in result.suite.baseline.feature_names_in_
    assert math.isfinite(result.suite.baseline.kern_shift_)
    assert (result.path / "kernel_time.json").is_file()
    one = next(r for r in recs if r["status"] == "ok" and r["setting"]["name"] == "int8-static-pc")
    structure = {s: next(r["setting"]["structure"] for r in recs if r["status"] == "ok"
                         and r["model"]["sha256"] == one["model"]["sha256"] and r["setting"]["name"] == s) for s in settings}
    feats = one["model"]["features"]
    mem = PredictorBundle(result.path, result.manifest, result.suite).predict(feats, settings, structure=structure)
    bundle = load_bundle("synthetic", "onnxruntime-cpu", result.path)
    loaded = bundle.predict(feats, settings, structure=structure)
    assert loaded == mem
    assert bundle.suite.baseline.kern_shift_ == result.suite.baseline.kern_shift_
    # what the layer-time model says: int8 layers at 0.3 of float per MAC
    kern = result.suite.kernel
    assert 0.2 < math.exp(kern.log_ratio(structure["int8-static-pc"]["layers0"], structure["int8-static-pc"]["layers1"])) < 0.45


def test_advisor_profile_node_profile_end_to_end(tmp_path, tiny_models, monkeypatch):
    """``advisor profile --node-profile``: the sweep's records carry node profiles, and the training
    frame maps them onto every MAC layer of the record's own graph."""
    from typer.testing import CliRunner

    from advisor.cli.main import app
    from advisor.predictors.dataset import load_profiles, records_to_frame

    monkeypatch.setenv("ADVISOR_LOCK_DIR", str(tmp_path))
    model = tmp_path / "residual.onnx"
    onnx.save(tiny_models["residual_cnn"], str(model))
    out = tmp_path / "records.jsonl"
    r = CliRunner().invoke(app, ["profile", str(model), "--settings", "int8-static-pc,chprune50", "--out", str(out),
                                 "--min-runs", "3", "--max-runs", "6", "--target-ci", "50%", "--time-budget", "0.2s",
                                 "--node-profile"])
    assert r.exit_code == 0, r.stderr
    recs = load_profiles([out])
    assert len(recs) == 3 and all(rec["node_profile"]["source"] == "onnxruntime-profiler" for rec in recs)
    frame = records_to_frame(recs)
    for layers, us in zip(frame["k_layers1"], frame["k_us"], strict=True):
        assert layers and len(us) == len(layers) and all(u > 0 for u in us)


def test_fit_kernel_takes_a_number_of_members():
    """``suite.fit_kernel(..., members=K)``: a layer-time model of K forests drawn with the suite's seed
    (``benchmarks/ratio_trials.py`` pairs ratio models with such models); by default, ``KernelModel``'s."""
    from advisor.predictors import suite
    from advisor.predictors.dataset import records_to_frame
    from advisor.predictors.synthetic import make_synthetic_records

    recs = _with_layers(make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=8,
                                               settings=["none", "int8-static-pc", "chprune50"]), np.random.default_rng(0))
    frame = records_to_frame([r for r in recs if r["status"] == "ok"])
    layers = suite.layer_index(frame)
    two = suite.fit_kernel(frame, layers, seed=3, members=2)
    assert len(two.boosters_) == 2 and two._seeds() == [6, 7]
    default = suite.fit_kernel(frame, layers, seed=3)
    assert len(default.boosters_) == KernelModel().members
    assert not np.allclose(two.row_times(layers), default.row_times(layers))
