"""Predictors: estimator contract, dataset frame, setting encoding, grouped CV, conformal coverage.

Data come from the clearly named test double ``advisor.predictors.synthetic`` (known laws, no
measurements), never from files outside the repository.
"""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from advisor.errors import DataError, SettingError
from advisor.predictors import dataset
from advisor.predictors.base import NotFittedError
from advisor.predictors.encoding import SettingEncoder, describe_setting, design_matrix, mac_ratio_prior, model_matrix
from advisor.predictors.models import (
    AccuracyDropModel,
    BaselineLatencyModel,
    FidelityLossModel,
    PowerModel,
    RatioModel,
)
from advisor.predictors.priors import RooflinePrior
from advisor.predictors.synthetic import make_synthetic_records

FAST = {"n_estimators": 40}


@pytest.fixture(scope="module")
def records():
    return make_synthetic_records(networks_per_family=5, seed=1)


@pytest.fixture(scope="module")
def frame(records):
    return dataset.records_to_frame(records)


def _xy(est, frame):
    if isinstance(est, BaselineLatencyModel | RooflinePrior):
        base = frame[frame["setting"] == "none"]
        return model_matrix(base), base["latency_ms"].to_numpy()
    var = frame[frame["setting"] != "none"]
    X = design_matrix(var, SettingEncoder(sorted(set(frame["setting"]))))
    y = {RatioModel: var["ratio"], PowerModel: var["energy_mj"] / var["latency_ms"] * 1000,
         AccuracyDropModel: var["accuracy_drop_pct"], FidelityLossModel: var["fidelity_loss"]}[type(est)]
    return X, y.to_numpy(float)


ESTIMATORS = [lambda: RooflinePrior(), lambda: BaselineLatencyModel(min_rows=5, xgb_params=FAST),
              lambda: RatioModel(xgb_params=FAST), lambda: PowerModel(xgb_params=FAST),
              lambda: AccuracyDropModel(xgb_params=FAST), lambda: FidelityLossModel(xgb_params=FAST)]


@pytest.mark.parametrize("make", ESTIMATORS, ids=lambda m: type(m()).__name__)
def test_estimator_contract(make, frame):
    from sklearn.base import clone

    est = make()
    X, y = _xy(est, frame)
    with pytest.raises(NotFittedError):
        est.predict(X)
    before = set(vars(est))
    assert est.fit(X, y) is est
    learned = set(vars(est)) - before
    assert learned and all(k.endswith("_") for k in learned), learned
    pred = est.predict(X)
    assert pred.shape == (len(X),) and np.isfinite(pred).all()
    assert type(clone(est)) is type(est) and clone(est).get_params() == est.get_params()
    with pytest.raises(ValueError):
        est.set_params(no_such_param=1)


def test_ratio_prior_with_layer_times_round_trips(frame):
    """With layer times in its inputs the ratio model fits ``KernelCostPrior`` and blends it at
    ``KERN_WEIGHT``; a bundle keeps both, and one written before them blends the MAC-layer ratio at 0.5."""
    from advisor.predictors.models import KERN_WEIGHT

    X, y = _xy(RatioModel(), frame)
    rng = np.random.default_rng(0)
    X = X.assign(x_log_kern=np.log(y) + rng.normal(0, 0.02, len(X)), q0_kern_us=1e3)
    X["q1_kern_us"] = 1e3 * np.exp(X["x_log_kern"])
    est = RatioModel(xgb_params=FAST).fit(X, y)
    assert est.kcost_ is not None and est.kern_weight_ == KERN_WEIGHT
    assert "q0_kern_us" not in est.feature_names_in_  # a prior's input, not the trees'
    meta, raw = est.to_bundle()
    again = RatioModel.from_bundle(meta, raw)
    assert np.array_equal(again.predict(X), est.predict(X))
    legacy = RatioModel.from_bundle({k: v for k, v in meta.items() if k not in ("kernel_cost_model", "kern_weight")},
                                    raw)
    assert legacy.kcost_ is None and legacy.kern_weight_ == 0.5
    assert not np.allclose(legacy.predict(X), est.predict(X))

    class OtherWeight(RatioModel):  # a trial's weight (benchmarks/ratio_trials.py --kern-weights)
        KERN_WEIGHT = 0.3

    other = OtherWeight(xgb_params=FAST).fit(X, y)
    assert other.kern_weight_ == 0.3 and meta["kern_weight"] == KERN_WEIGHT
    assert not np.allclose(other.parts(X)[0], est.parts(X)[0])  # the prior blends at the class's weight
    assert RatioModel.from_bundle(*other.to_bundle()).kern_weight_ == 0.3  # the bundle keeps the weight


def test_ratio_members_average_their_own_draws_and_round_trip(frame):
    """The ratio model's residual is the mean of ``members`` forests, each with its own row and column
    draw (seed s * members + k); the bundle file holds every member, and a file of one forest (a
    bundle written before the members) loads as one member."""
    from advisor.predictors.base import forests_from_json

    X, y = _xy(RatioModel(), frame)
    three = RatioModel(xgb_params=FAST, members=3).fit(X, y)
    assert three._seeds() == [0, 1, 2] and RatioModel(xgb_params={"random_state": 2}, members=3)._seeds() == [6, 7, 8]
    assert len(three.boosters_) == 3 and len({b.raw for b in three.boosters_}) == 3
    prior = three._augment(X)["x_log_prior"].to_numpy()
    alone = [prior + b.predict(three._augment(X)) for b in three.boosters_]
    assert np.allclose(three.predict(X), np.mean(alone, axis=0))
    p, r, fixed = three.parts(X)  # what predict adds up (no identical-compute row here)
    assert np.array_equal(p, prior) and np.allclose(p + r, np.mean(alone, axis=0)) and np.isnan(fixed).all()
    assert np.array_equal(three.predict(X), p + r)
    meta, raw = three.to_bundle()
    assert len(forests_from_json(raw)) == 3 and meta["params"]["members"] == 3
    assert np.array_equal(RatioModel.from_bundle(meta, raw).predict(X), three.predict(X))
    one = RatioModel(xgb_params=FAST, members=1).fit(X, y)
    meta1, raw1 = one.to_bundle()
    assert raw1 == one.boosters_[0].raw  # XGBoost's own JSON, as bundles before the members wrote it
    assert three.boosters_[0].raw == raw1  # member 0 of seed 0 is the one-member model's forest
    old = RatioModel.from_bundle({**meta1, "params": {k: v for k, v in meta1["params"].items() if k != "members"}}, raw1)
    assert np.array_equal(old.predict(X), one.predict(X))
    assert not np.allclose(one.predict(X), three.predict(X))


class _SmallOwn(RatioModel):
    """The shipped split (``OWN_MODELS``) at the synthetic data's size: 100 channel-pruning and 60
    weight-only rows, four architecture families."""

    OWN_MIN_ROWS = 30
    OWN_MIN_GROUPS = 2


def test_ratio_models_of_their_own_predict_their_setting_families_and_round_trip(frame):
    """Channel-pruning and weight-only rows are predicted by ratio models fitted on their own rows
    (row weights recomputed over those rows' families); every other row by the shared model, which
    fits every row. The bundle keeps all three, and a bundle written before them loads as one model."""
    from advisor.predictors.base import group_weights

    var = frame[frame["setting"] != "none"]
    X, y = _xy(RatioModel(), frame)
    groups = var["family"].to_numpy()
    est = _SmallOwn(xgb_params=FAST).fit(X, y, group_weights(groups), groups=groups)
    assert sorted(est.own_) == ["structured-pruning", "weight-only"]
    pred = est.predict(X)
    for fam, sub in est.own_.items():
        rows = (var["setting_family"] == fam).to_numpy()
        assert not sub.own_ and sub.fallback_ == pytest.approx(float(np.median(np.log(y[rows]))))
        assert len(sub.boosters_) == RatioModel.OWN_MEMBERS < len(est.boosters_)  # fewer forests than the shared
        alone = _SmallOwn(xgb_params=FAST, members=RatioModel.OWN_MEMBERS, own_models=()).fit(
            X[rows], y[rows], group_weights(groups[rows]))
        assert np.array_equal(pred[rows], alone.predict(X[rows]))  # that family's rows alone, reweighted
        assert np.array_equal(pred[rows], sub.predict(X[rows]))
    others = ~var["setting_family"].isin(list(est.own_)).to_numpy()
    whole = _SmallOwn(xgb_params=FAST, own_models=()).fit(X, y, group_weights(groups))
    assert np.array_equal(pred[others], whole.predict(X[others]))  # the shared model fits every row
    p0, r0, _ = est.parts(X, own=False)
    assert np.array_equal(p0 + r0, whole.predict(X)) and not np.allclose(pred[~others], (p0 + r0)[~others])
    meta, raw = est.to_bundle()
    assert sorted(meta["own_models"]) == sorted(est.own_) and json.loads(raw)["ratio_models"]["shared"]
    again = RatioModel.from_bundle(meta, raw)
    assert np.array_equal(again.predict(X), pred) and sorted(again.own_) == sorted(est.own_)
    assert RatioModel.from_bundle(*whole.to_bundle()).own_ == {}  # one model, one file, as before

    same = var["setting"].isin(["sparse50", "sparse90", "wq16"]).to_numpy()  # identical compute
    Xq = _with_quantities(X, same)
    yq = np.where(same, np.exp(np.random.default_rng(3).normal(0.002, 0.01, len(y))), y)
    alike = _SmallOwn(xgb_params=FAST).fit(Xq, yq, groups=groups)
    assert "weight-only" in alike.own_ and alike.own_["weight-only"].identity_ is None
    assert np.all(alike.predict(Xq)[same] == alike.identity_)  # wq16 at the sparse settings' one value
    fitted_on = (var["setting_family"] == "weight-only").to_numpy() & ~same  # and not in the own model's rows
    assert alike.own_["weight-only"].fallback_ == pytest.approx(float(np.median(np.log(yq[fitted_on]))))

    only = _SmallOwn(xgb_params=FAST, own_models=["weight-only"]).fit(X, y, groups=groups)
    assert list(only.own_) == ["weight-only"]
    assert _SmallOwn(xgb_params=FAST).fit(X, y, groups=np.where(groups == groups[0], "a", "b")).own_.keys() == \
        est.own_.keys()
    assert not _SmallOwn(xgb_params=FAST).fit(X, y, groups=np.full(len(y), "one")).own_  # one family: shared
    assert not RatioModel(xgb_params=FAST).fit(X, y, groups=groups).own_  # 60-100 rows: under OWN_MIN_ROWS
    assert not PowerModel(xgb_params=FAST).fit(X, np.full(len(y), 5000.0)).own_


def _with_quantities(X, same: np.ndarray, seed: int = 1):
    """``X`` with op-level quantities: the variant's equal to the original's on the ``same`` rows."""
    from advisor.predictors.structure import QUANTITIES

    rng = np.random.default_rng(seed)
    q0 = {f"q0_{k}": rng.uniform(1.0, 2.0, len(X)) for k in QUANTITIES}
    q1 = {f"q1_{k}": np.where(same, q0[f"q0_{k}"], 1.5 * q0[f"q0_{k}"]) for k in QUANTITIES}
    return X.assign(**q0, **q1)


def test_identical_compute_needs_every_quantity_equal(frame):
    from advisor.predictors.structure import identical_compute

    X, _ = _xy(RatioModel(), frame)
    assert not identical_compute(X).any()  # the synthetic records carry no quantities: NaN, never alike
    same = frame.loc[frame["setting"] != "none", "setting"].isin(["sparse50", "wq16"]).to_numpy()
    Xq = _with_quantities(X, same)
    assert (identical_compute(Xq) == same).all()
    one = Xq.copy()
    one.loc[one.index[np.flatnonzero(same)[0]], "q1_nodes"] += 1.0  # one more node: not the same work
    assert identical_compute(one).sum() == same.sum() - 1
    one.loc[one.index[np.flatnonzero(same)[1]], "q1_act"] = np.nan  # unknown: not the same work
    assert identical_compute(one).sum() == same.sum() - 2
    assert not identical_compute(Xq.drop(columns=["q1_act"])).any()


def test_identical_compute_settings_share_one_learned_ratio(frame):
    """Settings that do the original's work, quantity for quantity, are predicted at the median log
    ratio of such training rows (all alike) when those rows show no effect; when they do (a runtime
    that exploits zeroed weights), or for a bundle written before the rule, the trees predict them."""
    X, y = _xy(RatioModel(), frame)
    same = frame.loc[frame["setting"] != "none", "setting"].isin(["sparse50", "sparse90", "wq16"]).to_numpy()
    X = _with_quantities(X, same)
    rng = np.random.default_rng(2)
    y = np.where(same, np.exp(rng.normal(0.002, 0.01, len(y))), y)
    est = RatioModel(xgb_params=FAST).fit(X, y)
    assert est.identity_ is not None and abs(est.identity_ - 0.002) < 0.01
    pred = est.predict(X)
    assert np.all(pred[same] == est.identity_) and np.ptp(pred[~same]) > 0.1
    _, _, fixed = est.parts(X)  # the value predict gives those rows instead of prior + residual
    assert np.all(fixed[same] == est.identity_) and np.isnan(fixed[~same]).all()
    meta, raw = est.to_bundle()
    assert np.array_equal(RatioModel.from_bundle(meta, raw).predict(X), pred)
    legacy = RatioModel.from_bundle({k: v for k, v in meta.items() if k != "identity_log_ratio"}, raw)
    assert legacy.identity_ is None and np.ptp(legacy.predict(X)[same]) > 0
    faster = np.where(same, 0.7 * np.exp(rng.normal(0.0, 0.1, len(y))), y)  # such rows do change latency
    assert RatioModel(xgb_params=FAST).fit(X, faster).identity_ is None
    power = PowerModel(xgb_params=FAST).fit(X, np.full(len(y), 5000.0) * np.exp(rng.normal(0, 0.01, len(y))))
    assert getattr(power, "identity_", None) is None  # an absolute quantity: no such rule


def test_baseline_prior_with_layer_times_round_trips(frame):
    """With layer times in its inputs the uncompressed-latency model fits ``KernelLatencyPrior``; a
    bundle keeps it, and one written before it puts the layer times on scale with one shift."""
    import pandas as pd

    X, y = _xy(BaselineLatencyModel(), frame)
    X, y = pd.concat([X, X], ignore_index=True), np.r_[y, y]  # the priors fit from 30 networks up
    rng = np.random.default_rng(1)
    from advisor.predictors.structure import QUANTITIES

    X = X.assign(q0_kern_us=y * 800 * np.exp(rng.normal(0, 0.1, len(X))),
                 **{f"q0_{k}": rng.uniform(1e3, 1e6, len(X)) for k in QUANTITIES})
    X["x_log_kern_ms"] = np.log(X["q0_kern_us"] / 1000.0)
    est = BaselineLatencyModel(min_rows=5, xgb_params=FAST).fit(X, y)
    assert est.kcost_.constants() is not None and "q0_kern_us" not in est.feature_names_in_
    meta, raw = est.to_bundle()
    again = BaselineLatencyModel.from_bundle(meta, raw)
    assert np.array_equal(again.predict(X), est.predict(X))
    legacy = BaselineLatencyModel.from_bundle({k: v for k, v in meta.items() if k != "kernel_cost_model"}, raw)
    assert legacy.kcost_ is None and not np.allclose(legacy.predict(X), est.predict(X))


def test_baseline_trees_fade_out_beyond_the_training_range(frame):
    """Past the slowest training network's prior, the trees' residual fades out over a factor of two,
    so a network far larger than any trained on is priced by the prior alone; bundles keep the range,
    and one written before it applies the residual everywhere."""
    X, y = _xy(BaselineLatencyModel(), frame)
    est = BaselineLatencyModel(min_rows=5, xgb_params=FAST).fit(X, y)
    top = est.prior_max_log_ms_
    assert top == pytest.approx(float(est._augment(X)["x_log_roofline_ms"].max()))
    fade = BaselineLatencyModel.EXTRAPOLATION_FADE
    assert est.trees_weight([top - 1.0, top, top + fade / 2, top + fade, top + 5.0]).tolist() == \
        pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])
    big = X.copy()
    scaled = [c for c in big.columns if c.startswith(("f_macs", "f_flops", "f_params", "f_weight_bytes",
                                                       "f_activation_bytes"))]
    big[scaled] = big[scaled] * 1e4  # ten thousand times the work: far beyond the training networks
    prior = est._augment(big)["x_log_roofline_ms"].to_numpy()
    assert (prior > top + fade).all()
    assert np.array_equal(est.predict(big), prior)  # the prior alone
    assert not np.array_equal(est.predict(X), est._augment(X)["x_log_roofline_ms"].to_numpy())  # trees inside
    meta, raw = est.to_bundle()
    again = BaselineLatencyModel.from_bundle(meta, raw)
    assert again.prior_max_log_ms_ == top and np.array_equal(again.predict(big), prior)
    legacy = BaselineLatencyModel.from_bundle({k: v for k, v in meta.items() if k != "prior_max_log_ms"}, raw)
    assert legacy.prior_max_log_ms_ is None and not np.array_equal(legacy.predict(big), prior)


def test_accuracy_model_falls_back_honestly(frame):
    var = frame[frame["setting"] != "none"]
    X = design_matrix(var, SettingEncoder(sorted(set(frame["setting"]))))
    none = AccuracyDropModel().fit(X, np.full(len(X), np.nan))
    assert none.mode_ == "none" and np.isnan(none.predict(X)).all()
    thin_y = np.where(np.arange(len(X)) < 10, 2.0, np.nan)
    thin = AccuracyDropModel().fit(X, thin_y, settings=var["setting"].to_numpy())
    assert thin.mode_ == "setting-median" and thin.n_train_ == 10


def test_paired_profiles_are_put_on_their_networks_common_scale(records):
    """A variant profiled alternately with its original (``node_profile["paired"]``, the original's
    profile beside it) is scaled by the median of the network's paired original totals over its own
    original's total; the original's own profile by that median over its total; unpaired profiles and
    networks without pairs keep their times."""
    import copy

    recs = [copy.deepcopy(r) for r in records if r["status"] == "ok"]
    sha = recs[0]["model"]["sha256"]
    mine = [r for r in recs if r["model"]["sha256"] == sha]
    none = next(r for r in mine if r["setting"]["name"] == "none")
    variants = [r for r in mine if r["setting"]["name"] != "none"][:3]

    def prof(total, **extra):
        return {"source": "onnxruntime-profiler", "nodes": [["a", "Conv", total / 2], ["b", "Relu", total / 2]], **extra}

    none["node_profile"] = prof(150.0)
    for r, base_total in zip(variants, (90.0, 100.0, 120.0), strict=True):
        r["node_profile"] = prof(50.0, paired=True, baseline=prof(base_total))
    other = next(r for r in recs if r["model"]["sha256"] != sha)
    other["node_profile"] = prof(80.0)
    scales = dict(zip((id(r) for r in recs), dataset.paired_scales(recs), strict=True))
    assert [scales[id(r)] for r in variants] == pytest.approx([100 / 90, 1.0, 100 / 120])
    assert scales[id(none)] == pytest.approx(100 / 150) and scales[id(other)] == 1.0
    broken = copy.deepcopy(variants[0])
    broken["node_profile"]["baseline"] = {"nodes": "garbage"}  # records may come from anywhere
    assert dataset.paired_scales([broken]) == [1.0]


def test_frame_targets(records, frame):
    assert len(frame) == len(records)
    assert list(frame.columns[10:10 + len(dataset.feature_columns())]) == dataset.feature_columns()
    none = frame[frame["setting"] == "none"]
    assert (none["ratio"] == 1.0).all()
    assert np.allclose(none["baseline_latency_ms"], none["latency_ms"])
    var = frame[frame["setting"] != "none"]
    assert np.allclose(var["latency_ms"] / var["baseline_latency_ms"], var["ratio"], rtol=1e-9)
    labelled = frame[np.isfinite(frame["accuracy_drop_pct"])]
    assert 0 < labelled["model_sha"].nunique() < frame["model_sha"].nunique()
    assert (frame.loc[frame["setting"] == "sparse90", "fidelity_loss"] > 0.3).all()


def test_gc_paused_freezes_what_the_block_made_and_turns_the_collector_back_on():
    """``dataset.gc_paused``: no collection inside the block; on the way out what it made is frozen
    (left out of later collections, so they do not scan every record again) and the collector is on
    again if it was; unreachable cycles from before the block are collected, not frozen."""
    import gc
    import weakref

    class Node:
        pass

    before = Node()
    before.me = before  # a cycle, unreachable once the name is gone
    gone = weakref.ref(before)
    del before
    was_on = gc.isenabled()
    gc.enable()
    try:
        frozen = gc.get_freeze_count()
        with dataset.gc_paused():
            assert not gc.isenabled()
            made = [{"x": [i]} for i in range(1000)]
        assert gc.isenabled()
        assert gone() is None
        assert gc.get_freeze_count() >= frozen + len(made)
        gc.disable()
        with dataset.gc_paused():
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.unfreeze()  # the test's own objects back in the collected generations
        (gc.enable if was_on else gc.disable)()


def test_ratio_label_is_the_median_of_the_sweep_and_its_passes(records):
    """A record's re-measured passes (datasets/remeasure.py) vote with the sweep's ratio: one
    disturbed measurement of three is outvoted; two are met halfway (geometric mean); a pass that is
    not a positive number is ignored; without passes the sweep's ratio is the label."""
    var = next(r for r in records if r["status"] == "ok" and r["setting"]["name"] != "none")
    sweep = var["ratio"]["ratio_median"]
    label = dataset.ratio_label
    assert label({"ratio_median": sweep}) == sweep
    assert label({"ratio_median": 1.5, "remeasured": [{"ratio_median": 1.0}, {"ratio_median": 1.02}]}) == 1.02
    assert label({"ratio_median": 1.0, "remeasured": [{"ratio_median": 1.21}]}) == pytest.approx(1.1)
    assert label({"ratio_median": 1.0, "remeasured": [{"ratio_median": None}, {"ratio_median": -2}]}) == 1.0
    assert np.isnan(label({"ratio_median": None}))
    again = json.loads(json.dumps(var))
    again["ratio"]["remeasured"] = [{"ratio_median": 2 * sweep}, {"ratio_median": 3 * sweep}]
    row = dataset.records_to_frame([r for r in records if r["model"]["sha256"] == var["model"]["sha256"]
                                    and r["record_id"] != var["record_id"]] + [again])
    assert row.loc[row["record_id"] == var["record_id"], "ratio"].item() == pytest.approx(2 * sweep)


def test_passes_agreement_is_the_labels_noise_floor(records, frame):
    """With two or more re-measured passes, ``passes_agree`` is the share of the pairs of the first two
    (``dataset.NOISE_PASSES``; later ones are taken where those disagree) within ±10% of each other; ``evaluate.noise_floor`` reports its mean over the variants that have them
    (None where no record has passes)."""
    from advisor.predictors.evaluate import noise_floor

    agree = dataset.passes_agree
    assert agree({"ratio_median": 1.0, "remeasured": [{"ratio_median": 1.0}, {"ratio_median": 1.05}]}) == 1.0
    assert agree({"ratio_median": 1.0, "remeasured": [{"ratio_median": 1.0}, {"ratio_median": 1.2}]}) == 0.0
    three = [{"ratio_median": 1.0}, {"ratio_median": 1.02}, {"ratio_median": 1.5}]
    assert agree({"ratio_median": 1.0, "remeasured": three}) == 1.0  # the first two passes only
    assert agree({"ratio_median": 1.0, "remeasured": three[::-1]}) == 0.0
    assert np.isnan(agree({"ratio_median": 1.0, "remeasured": [{"ratio_median": 1.0}]}))
    assert noise_floor(frame, None)["passes"] is None
    again = json.loads(json.dumps(records))
    variants = [r for r in again if r["status"] == "ok" and r["setting"]["name"] != "none"]
    for k, r in enumerate(variants[:10]):
        x = r["ratio"]["ratio_median"]
        r["ratio"]["remeasured"] = [{"ratio_median": x}, {"ratio_median": x * (1.3 if k < 3 else 1.01)}]
    assert noise_floor(dataset.records_to_frame(again), None)["passes"] == {"n": 10, "within_10pct": 0.7}


def test_training_data_hash(records):
    h = dataset.training_data_hash(records)
    assert h == dataset.training_data_hash(list(reversed(records)))
    changed = json.loads(json.dumps(records))
    changed[3]["latency"]["median_ms"] *= 1.01
    assert dataset.training_data_hash(changed) != h


def test_load_profiles_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        dataset.load_profiles([tmp_path / "nope.jsonl"])
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot be read"):
        dataset.load_profiles([bad])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{}\n")
    with pytest.raises(DataError, match="no valid profile record"):
        dataset.load_profiles([empty])


def test_load_profiles_gz_and_repeats(tmp_path, records):
    path = tmp_path / "r.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records[:20])
    again = json.loads(json.dumps(records[:20]))
    for r in again:
        r["latency"]["median_ms"] *= 1.1
    stats = dataset.repeat_differences(dataset.load_profiles([path]), again)
    assert stats["n_pairs"] == 20 and stats["latency_pct"] == pytest.approx(100 * 0.1 / 1.05, rel=1e-6)


def test_repeat_ceiling_within_and_ranking(records):
    """A repeat that scales every ratio by 1.05 keeps all within ±10% and every ranking; one that
    reverses each network's order keeps none of the rankings."""
    variants = [r for r in records if r["status"] == "ok" and (r.get("ratio") or {}).get("ratio_median")]
    scaled = json.loads(json.dumps(variants))
    for r in scaled:
        r["ratio"]["ratio_median"] *= 1.05
    same = dataset.repeat_differences(variants, scaled)
    assert same["ratio_within_10pct"] == 1.0 and same["ratio_spearman_median"] == pytest.approx(1.0)
    assert same["n_rank_networks"] >= 1
    flipped = json.loads(json.dumps(variants))
    for r in flipped:
        r["ratio"]["ratio_median"] = 1.0 / r["ratio"]["ratio_median"]
    worse = dataset.repeat_differences(variants, flipped)
    assert worse["ratio_spearman_median"] < 0 and worse["ratio_within_10pct"] < 1.0


def test_setting_encoding():
    from advisor.compression import setting_names

    enc = SettingEncoder(setting_names())
    for name in setting_names():
        row = enc.encode(name)
        assert row[f"s_is_{name}"] == 1.0 and set(row) == set(enc.columns())
    combo = describe_setting("chprune50+int8-static-pc")
    assert combo["s_chprune"] == 0.5 and combo["s_act_bits"] == 8 and combo["s_fam_combined"] == 1
    assert describe_setting("wq4")["s_weight_bits"] == 4 and describe_setting("wq4")["s_compute_bits"] == 32
    with pytest.raises(SettingError, match="Known"):
        SettingEncoder(["none"]).encode("no-such-setting")
    unseen = SettingEncoder(["none"]).encode("sparse75")  # registered but unseen: descriptors only
    assert unseen["s_is_none"] == 0.0 and unseen["s_sparsity"] == 0.75


def test_mac_ratio_prior():
    conv = {"share_conv": 1.0, "share_conv_depthwise": 0.0, "share_conv_grouped": 0.0}
    assert mac_ratio_prior(conv, describe_setting("chprune50")) == pytest.approx(0.25)
    assert mac_ratio_prior(conv, describe_setting("chprune50"), channels_kept=0.6) == pytest.approx(0.36)
    assert mac_ratio_prior(conv, describe_setting("int8-static-pc")) == 1.0


def test_grouped_cv_never_mixes_families(frame, monkeypatch):
    from advisor.predictors import evaluate, suite

    train_of, test_of = {}, {}  # by fitted suite: folds may run side by side (evaluate.run_jobs)
    real_fit, real_predict = suite.fit_suite, suite.predict_frame

    def spy_fit(train, *a, **kw):
        fitted = real_fit(train, *a, **kw)
        train_of[id(fitted)] = set(train["family"])
        return fitted

    def spy_predict(s, test, *a, **kw):
        test_of[id(s)] = set(test["family"])
        return real_predict(s, test, *a, **kw)

    monkeypatch.setattr(evaluate, "fit_suite", spy_fit)
    monkeypatch.setattr(evaluate, "predict_frame", spy_predict)
    spec = {"mode": "none"}
    oof = evaluate.cross_validate(frame, sorted(set(frame["setting"])), spec, FAST)
    assert len(train_of) == len(test_of) == frame["family"].nunique()
    for key, test in test_of.items():
        assert len(test) == 1 and not test & train_of[key]
    assert set().union(*test_of.values()) == set(frame["family"])
    assert oof.index.equals(frame.index) and np.isfinite(oof["pred_log_ratio"]).all()


def test_grouped_k_folds_hold_out_whole_families_in_balanced_groups(frame, monkeypatch):
    """``folds=K`` (``advisor train``'s cheaper cross-validation): K folds, each family held out in
    exactly one and never trained on there, groups of about equal rows; K at least the number of
    families, or None, is one family a fold; fewer than 2 is refused."""
    import pandas as pd

    from advisor.predictors import evaluate

    fams = frame["family"].value_counts()
    assert evaluate.family_folds(frame) == [(f,) for f in sorted(fams.index)]
    assert evaluate.family_folds(frame, len(fams)) == evaluate.family_folds(frame)
    with pytest.raises(ValueError, match="at least 2"):
        evaluate.family_folds(frame, 1)
    toy = pd.DataFrame({"family": ["a"] * 50 + ["b"] * 40 + ["c"] * 30 + ["d"] * 20 + ["e"] * 10})
    assert evaluate.family_folds(toy, 2) == [("a", "d", "e"), ("b", "c")]  # 80 and 70 rows
    groups = evaluate.family_folds(frame, 2)
    assert len(groups) == 2 and sorted(f for g in groups for f in g) == sorted(fams.index)

    seen = []
    real_fit = evaluate.fit_suite

    def spy_fit(train, *a, **kw):
        seen.append(set(train["family"]))
        return real_fit(train, *a, **kw)

    monkeypatch.setattr(evaluate, "fit_suite", spy_fit)
    jobs = evaluate.fold_jobs(frame, sorted(set(frame["setting"])), {"mode": "none"}, FAST, folds=2)
    oof = evaluate.assemble_folds(frame, evaluate.run_jobs(jobs, threads=1))
    assert [set(fams.index) - s for s in seen] == [set(g) for g in groups]
    assert oof.index.equals(frame.index) and np.isfinite(oof["pred_log_ratio"]).all()


def test_folds_in_threads_equal_folds_in_sequence(frame):
    """The folds are independent and deterministic: two threads give the same predictions as one."""
    from advisor.predictors import evaluate

    jobs = evaluate.fold_jobs(frame, sorted(set(frame["setting"])), {"mode": "none"}, FAST)
    one = evaluate.assemble_folds(frame, evaluate.run_jobs(jobs, threads=1))
    two = evaluate.assemble_folds(frame, evaluate.run_jobs(jobs, threads=2))
    assert one.index.equals(frame.index)
    import pandas as pd

    pd.testing.assert_frame_equal(one, two)


def test_per_setting_ratio_figures_count_each_settings_rows_alone():
    """Hand-made predictions: each setting's figures come from its own compressed rows only (the
    uncompressed rows and rows without a measured ratio are left out)."""
    import pandas as pd

    from advisor.predictors.evaluate import per_family, per_setting

    ratio = [1.0, 1.0, 2.0, 2.0, 2.0, 0.5, 0.5, np.nan]
    pred = [1.0, 1.0, 2.0, 2.19, 2.5, 0.5, 0.54, 0.5]  # errors: -, -, 0%, 9.5%, 25%, 0%, 8%, -
    df = pd.DataFrame({"setting": ["none", "none", "a", "a", "a", "b", "b", "b"],
                       "family": ["f", "g", "f", "g", "g", "f", "g", "g"],
                       "ratio": ratio, "pred_log_ratio": np.log(pred)})
    by = per_setting(df)
    assert set(by) == {"a", "b"}
    assert by["a"]["n"] == 3 and by["a"]["within_tol"] == pytest.approx(2 / 3)
    assert by["a"]["median_abs_err_pct"] == pytest.approx(9.5)
    assert by["a"]["p90_abs_err_pct"] == pytest.approx(21.9)
    assert by["b"]["n"] == 2 and by["b"]["within_tol"] == 1.0 and by["b"]["median_abs_err_pct"] == pytest.approx(4.0)
    fam = per_family(df)
    assert fam["f"]["n"] == 2 and fam["g"]["n"] == 3 and fam["g"]["within_tol"] == pytest.approx(2 / 3)


def test_family_weights_give_every_family_the_same_weight():
    from advisor.predictors.suite import family_weights

    w = family_weights(["a", "a", "a", "b", "c", "c"])
    assert w.mean() == pytest.approx(1.0)
    assert w[:3].sum() == pytest.approx(w[3]) == pytest.approx(w[4:].sum())
    assert len(family_weights([])) == 0


def test_native_predictions_equal_the_numpy_evaluator(frame):
    """Training's out-of-fold predictions (xgboost's predictor) are what a loaded bundle predicts (the
    numpy evaluator), bit for bit: a float64 sum of the leaves differed in the last bit, and the
    accuracy model, fed the fidelity model's prediction, then put rows on the other side of a split
    (0.9 pp apart here)."""
    from advisor.predictors.suite import fit_suite, predict_frame

    suite = fit_suite(frame, sorted(set(frame["setting"])), {"mode": "none"}, FAST)
    a, b = predict_frame(suite, frame), predict_frame(suite, frame, native=True)
    assert list(a.columns) == list(b.columns)
    for col in ("pred_log_base", "pred_log_ratio", "pred_log_fid", "pred_acc_pp"):
        assert np.array_equal(a[col].to_numpy(), b[col].to_numpy(), equal_nan=True), col


def test_too_few_families(frame):
    from advisor.predictors.evaluate import cross_validate

    two = frame[frame["family"].isin(["conv", "mlp"])]
    with pytest.raises(DataError, match="at least 3"):
        cross_validate(two, sorted(set(two["setting"])), {"mode": "none"})


def test_conformal_coverage_on_synthetic(frame):
    from advisor.predictors.evaluate import cross_validate, summarize

    oof = cross_validate(frame, sorted(set(frame["setting"])), {"mode": "none"}, FAST)
    report = summarize(frame.join(oof))
    for target in ("ratio", "latency_ms", "baseline_latency_ms"):
        cov = report[target]["methods"]["model"]["coverage"]
        assert 0.7 <= cov <= 1.0, (target, cov)


def test_conformal_quantiles_finite_sample():
    from advisor.predictors.conformal import fit_quantiles, interval

    rng = np.random.default_rng(0)
    res = rng.normal(0, 1, 2000)
    q = fit_quantiles(res, groups=["a"] * 1000 + ["b"] * 1000, families=["x", "y", "z", "w"] * 500)
    assert q["global"][0] == pytest.approx(-1.645, abs=0.15) and q["global"][1] == pytest.approx(1.645, abs=0.15)
    assert set(q["groups"]) == {"a", "b"}
    lo, hi = interval([0.0, 1.0], q, ["a", "zzz"])
    assert lo[1] == pytest.approx(1 + q["global"][0]) and hi[0] == pytest.approx(q["groups"]["a"][1])
    tiny = fit_quantiles([0.1, -0.2, 0.3])  # too few residuals: the extremes, never narrower
    assert tiny["global"] == [-0.2, 0.3]
