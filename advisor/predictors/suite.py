"""The set of estimators one bundle holds, fitted together on one device/runtime's profile frame.

Energy: where the records' energy is an *estimate* (a host without a power sensor), it is a linear
function of latency (``profiling.power.estimate.DevicePowerModel``), so the suite keeps that power
model and predicts ``energy_mj = power_model.energy_mj(latency_ms, threads)`` (flagged as an
estimate). Where energy is *measured*, a ``PowerModel`` learns log(mean power) per setting and
``energy_mj = power_mw * latency_ms / 1000``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor.predictors.base import group_weights, seed_params
from advisor.predictors.encoding import SettingEncoder, design_matrix, model_matrix
from advisor.predictors.kernels import KernelModel, LayerIndex, log_ratio_of
from advisor.predictors.models import (
    AccuracyDropModel,
    BaselineLatencyModel,
    FidelityLossModel,
    PowerModel,
    RatioModel,
)

MIN_MEASURED_ENERGY_ROWS = 30
MIN_PROFILED_NETWORKS = 20  # networks with node profiles before a layer-time model is fitted


@dataclass
class Suite:
    """Fitted estimators plus the setting encoder and the energy mode (``estimate``/``measured``/``none``)."""

    encoder: SettingEncoder
    baseline: BaselineLatencyModel
    ratio: RatioModel
    accuracy: AccuracyDropModel
    fidelity: FidelityLossModel
    power: PowerModel | None
    energy: dict
    kernel: KernelModel | None = None  # layer times, where the records carry node profiles


def baseline_rows(frame):
    """One ``none`` row per (model, threads) with a measured latency."""
    base = frame[(frame["setting"] == "none") & np.isfinite(frame["latency_ms"])]
    return base.drop_duplicates(subset=["model_sha", "threads"])


def baseline_target(base) -> np.ndarray:
    """Baseline latency (ms) to learn: the pooled median of every re-measurement of the uncompressed
    model where there is one (absolute latency drifts between processes on a shared host), else the
    ``none`` record's own median."""
    return base["baseline_pooled_ms"].fillna(base["latency_ms"]).to_numpy(float)


def fit_suite(frame, known_settings: list[str], energy_spec: dict, xgb_params: dict | None = None,
              design=None, layers: LayerIndex | None = None) -> Suite:
    """Fit every estimator on ``frame`` (rows of one device/runtime). ``energy_spec``: from
    ``energy_spec_of`` (the records' power model when their energy is an estimate). ``design``: the
    ``design_matrix`` of these rows (or of more, same index) with ``SettingEncoder(known_settings)``,
    when the caller has it (each row's columns depend on that row only; the folds share one).
    ``layers``: a ``layer_index`` of these rows (or of more), likewise shared by the folds."""
    encoder = SettingEncoder(known_settings)
    kernel = fit_kernel(frame, layers, seed=int((xgb_params or {}).get("random_state", 0)))
    base = baseline_rows(frame)
    baseline = BaselineLatencyModel(xgb_params=xgb_params).fit(baseline_inputs(model_matrix(base), base, kernel, True, layers),
                                                                baseline_target(base), family_weights(base["family"]))
    variants = frame[frame["setting"] != "none"]
    Xv = design_matrix(variants, encoder) if design is None else design.loc[variants.index]
    ratio = RatioModel(xgb_params=xgb_params).fit(ratio_inputs(Xv, variants, kernel, True, layers),
                                                  variants["ratio"].to_numpy(float), family_weights(variants["family"]),
                                                  groups=variants["family"].to_numpy())
    groups, names = variants["family"].to_numpy(), variants["setting"].to_numpy()
    fid = FidelityLossModel(xgb_params=xgb_params).fit(Xv, variants["fidelity_loss"].to_numpy(float),
                                                        groups=groups, settings=names)
    acc = AccuracyDropModel(xgb_params=xgb_params).fit(
        _with_fidelity(Xv, fid, names, native=True), variants["accuracy_drop_pct"].to_numpy(float), groups=groups, settings=names)
    power = None
    if energy_spec.get("mode") == "measured":
        Xa = design_matrix(frame, encoder) if design is None else design.loc[frame.index]
        power = PowerModel(xgb_params=xgb_params).fit(Xa, _mean_power_mw(frame))
    return Suite(encoder, baseline, ratio, acc, fid, power, dict(energy_spec), kernel)


def family_weights(families) -> np.ndarray:
    """Row weights that give every architecture family the same total weight (1 / its rows, scaled to
    a mean of 1), whatever its number of networks and applicable settings: the network a bundle is
    asked about belongs to none of them. Families held out (16 families, 2026-11-29), weighting the
    ratio model, its cost prior and the layer-time model's sample this way took the ratio from 74.2%
    to 75.3% within +-10% and its median error from 3.57% to 3.32% (rho 0.873 -> 0.879); the
    uncompressed latency stayed at 10.4% (p90 27.3% -> 26.9%)."""
    return group_weights(families)


def fit_kernel(frame, layers: LayerIndex | None = None, seed: int = 0, members: int | None = None) -> KernelModel | None:
    """A layer-time model from the rows' measured per-layer times (``k_us``), or None where fewer than
    ``MIN_PROFILED_NETWORKS`` networks have them (or the columns are absent). Its own XGBoost settings
    (``KernelModel``), not the suite's, but the suite's seed (``seed``: its layer sample and its trees).
    ``layers``: a ``layer_index`` holding these rows' tables (the same model, fitted from the index's
    encoded rows). ``members``: its number of forests (default: ``KernelModel``'s)."""
    if "k_us" not in frame.columns:
        return None
    rows = frame[[u is not None for u in frame["k_us"]]]
    if rows["model_sha"].nunique() < MIN_PROFILED_NETWORKS:
        return None
    us = [t for ts in rows["k_us"] for t in ts]
    fams = np.repeat(rows["family"].to_numpy(object), [len(ts) for ts in rows["k_us"]])
    slots = layers.slots(list(rows["k_layers1"])) if layers is not None else None
    model = KernelModel(xgb_params=seed_params(seed), **({} if members is None else {"members": members}))
    if slots is not None and (slots >= 0).all():
        model = model.fit_indexed(layers, layers.row_ids(slots), us, fams)
    else:
        model = model.fit([r for ls in rows["k_layers1"] for r in ls], us, fams)
    return model if model.usable else None


def layer_index(frame) -> LayerIndex | None:
    """A ``kernels.LayerIndex`` of the frame's layer tables (original and variant), or None without them."""
    if "k_layers0" not in frame.columns:
        return None
    return LayerIndex(list(frame["k_layers0"]) + list(frame["k_layers1"]))


def baseline_inputs(X, frame, kernel: KernelModel | None, native: bool = False, layers: LayerIndex | None = None):
    """The baseline model's inputs: ``X`` plus, with a layer-time model, ``x_log_kern_ms`` (log of the
    predicted time of the original graph's MAC layers, ms; NaN where a row has no layer rows).
    ``native``: layer times by xgboost's predictor (training; ``KernelModel.totals``)."""
    if kernel is None:
        return X
    X = X.copy()
    if "k_layers0" in frame.columns:
        t = kernel.totals(list(frame["k_layers0"]), native, layers)
        with np.errstate(divide="ignore", invalid="ignore"):
            X["x_log_kern_ms"] = np.where(t > 0, np.log(t / 1000.0), np.nan)
        X["q0_kern_us"] = t
    else:
        X["x_log_kern_ms"] = np.nan
    return X


def ratio_inputs(X, frame, kernel: KernelModel | None, native: bool = False, layers: LayerIndex | None = None):
    """The ratio model's inputs: ``X`` plus, with a layer-time model, ``x_log_kern`` (log of the predicted
    MAC-layer time of the variant over the original's; NaN where a row has no layer rows) and the two
    times themselves (us, ``q0_kern_us`` / ``q1_kern_us``: inputs of ``cost_priors.KernelCostPrior``, not of
    the trees). ``native``: layer times by xgboost's predictor (training; ``KernelModel.totals``)."""
    if kernel is None:
        return X
    X = X.copy()
    if "k_layers0" in frame.columns:
        t0, t1 = kernel.totals(list(frame["k_layers0"]) + list(frame["k_layers1"]), native, layers).reshape(2, -1)
        X["x_log_kern"], X["q0_kern_us"], X["q1_kern_us"] = log_ratio_of(t0, t1), t0, t1
    else:
        X["x_log_kern"] = np.nan
    return X


def _with_fidelity(X, fid: FidelityLossModel, names, native: bool = False):
    """Inputs of the accuracy model: the setting columns plus the predicted log fidelity loss. Output
    agreement is measured on every network, labels on few; the architecture reaches the accuracy
    model through what the fidelity model learned from all networks (fewer inputs, less overfit)."""
    out = X[[c for c in X.columns if c.startswith("s_")]].copy()
    out["x_pred_log_fid"] = fid.predict(X, settings=names, native=native) if fid.mode_ != "none" else 0.0
    return out


def _mean_power_mw(frame) -> np.ndarray:
    e, t = frame["energy_mj"].to_numpy(float), frame["latency_ms"].to_numpy(float)
    measured = ~frame["energy_is_estimate"].to_numpy(bool)
    return np.where(measured & (t > 0), e / t * 1000.0, np.nan)


def energy_spec_of(records: list[dict], frame) -> dict:
    """How energy is predicted for these records: ``measured`` (enough sensor rows), ``estimate``
    (with the records' power-model parameters), or ``none``."""
    if int((~frame["energy_is_estimate"] & np.isfinite(frame["energy_mj"])).sum()) >= MIN_MEASURED_ENERGY_ROWS:
        return {"mode": "measured"}
    for rec in records:
        energy = rec.get("energy") or {}
        a = energy.get("assumptions") or {}
        if rec["status"] == "ok" and energy.get("energy_is_estimate") and "busy_core_mw" in a:
            return {"mode": "estimate", "source": energy.get("source"),
                    "power_model": {"idle_mw": a.get("idle_mw", 0.0), "busy_core_mw": a["busy_core_mw"],
                                    "cores": a.get("cores", 1), "name": a.get("model", "cpu-tdp-share")}}
    return {"mode": "none"}


def predict_frame(suite: Suite, frame, design=None, native: bool = False, layers: LayerIndex | None = None,
                  report_range: bool = False):
    """Predictions for each row of ``frame`` on the estimators' scales: ``pred_log_base``,
    ``pred_log_ratio`` (0 for ``none``), ``pred_log_latency``, ``pred_acc_pp``, ``pred_log_fid``,
    ``pred_energy_mj``; same index as ``frame``. ``design``: as in ``fit_suite``. ``native``: every
    forest by xgboost's predictor (``base.Trees.predict``; training's out-of-fold predictions, where
    xgboost is loaded anyway), else by the numpy evaluator (a loaded bundle). ``layers``: as in
    ``fit_suite``. ``report_range``: also ``base_prior_excess`` (``BaselineLatencyModel.prior_excess``:
    how far past the training networks the uncompressed latency's prior lies)."""
    import pandas as pd

    X = design_matrix(frame, suite.encoder) if design is None else design.loc[frame.index]
    is_none = (frame["setting"] == "none").to_numpy()
    out = pd.DataFrame(index=frame.index)
    Xb = baseline_inputs(model_matrix(frame), frame, suite.kernel, native, layers)
    out["pred_log_base"] = suite.baseline.predict(Xb, native)
    if report_range:
        out["base_prior_excess"] = suite.baseline.prior_excess(Xb)
    out["pred_log_ratio"] = np.where(is_none, 0.0, suite.ratio.predict(ratio_inputs(X, frame, suite.kernel, native, layers),
                                                                       native))
    out["pred_log_latency"] = out["pred_log_base"] + out["pred_log_ratio"]
    names = frame["setting"].to_numpy()
    out["pred_log_fid"] = suite.fidelity.predict(X, settings=names, native=native)
    out["pred_acc_pp"] = np.where(is_none, 0.0, suite.accuracy.predict(_with_fidelity(X, suite.fidelity, names, native),
                                                                      settings=names, native=native))
    latency = np.exp(out["pred_log_latency"].to_numpy())
    out["pred_energy_mj"] = energy_from_latency(suite, latency, frame["threads"].to_numpy(), X)
    return out


def energy_from_latency(suite: Suite, latency_ms: np.ndarray, threads, X=None) -> np.ndarray:
    """Energy (mJ) for latencies (ms): via the records' power model, or the learned power model."""
    mode = suite.energy.get("mode")
    if mode == "estimate":
        from profiling.power.estimate import DevicePowerModel

        pm = DevicePowerModel.from_dict(suite.energy["power_model"])
        return np.array([pm.energy_mj(float(t), int(n)) for t, n in zip(latency_ms, threads, strict=True)])
    if mode == "measured" and suite.power is not None and X is not None:
        return np.exp(suite.power.predict(X)) * np.asarray(latency_ms, float) / 1000.0
    return np.full(len(latency_ms), np.nan)
