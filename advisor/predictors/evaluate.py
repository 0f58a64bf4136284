"""Grouped evaluation: leave-one-family-out cross-validation, never random rows.

Every architecture family is predicted by estimators fitted on the other families only; the same
folds give the two baselines their training data:

* ``macs``: latency proportional to MACs (constant = median ms/MAC of the training networks) and a
  setting's ratio = MACs of the variant / MACs of the original (1.0 for quantization and unstructured
  sparsity; for channel pruning from the kept-channel share in the record's notes);
* ``setting-median``: each setting's median ratio on the training folds (baseline latency: the
  roofline prior alone; accuracy: the setting's median drop).

``baseline_latency_ms`` is scored against the pooled median of the uncompressed model's repeated
measurements (``dataset.baseline_pooled_ms``); ``latency_ms`` against each record's own median.

Figures per target and method: median and 90th-percentile absolute % error (absolute error for
accuracy in percentage points), share within +-10 % (+-1 pp), median over networks of the Spearman
correlation between predicted and measured values across that network's settings (a constant
prediction counts as 0), and the coverage of nominal 90 % intervals calibrated without the held-out
family (``conformal.coverage_by_held_out_family``).
"""
from __future__ import annotations

import functools

import numpy as np

from advisor.errors import DataError
from advisor.predictors.conformal import ALPHA_DEFAULT, coverage_by_held_out_family
from advisor.predictors.encoding import SettingEncoder, design_matrix, mac_ratio_prior, model_matrix
from advisor.predictors.models import FidelityLossModel
from advisor.predictors.suite import baseline_rows, baseline_target, fit_suite, layer_index, predict_frame

MIN_FAMILIES = 3
RELATIVE_TOL = 0.10  # a relative prediction (latency, ratio, energy) within +-10% of its measurement is a hit


FOLD_THREADS = 2  # folds fitted side by side: xgboost (one thread per model) trains outside the GIL


def cross_validate(frame, known_settings: list[str], energy_spec: dict, xgb_params: dict | None = None,
                   progress=None):
    """Out-of-fold predictions of the model and both baselines for every row of ``frame`` (same
    index). Raises DataError with fewer than MIN_FAMILIES architecture families."""
    jobs = fold_jobs(frame, known_settings, energy_spec, xgb_params, progress)
    return assemble_folds(frame, run_jobs(jobs))


def fold_jobs(frame, known_settings: list[str], energy_spec: dict, xgb_params: dict | None = None,
              progress=None, design=None, layers=None, train_of=None, folds: int | None = None) -> list:
    """One callable per fold (each returns its held-out families' out-of-fold predictions), for
    ``run_jobs``; ``assemble_folds`` puts their results together. ``design``: ``design_matrix`` of
    ``frame`` with ``SettingEncoder(known_settings)`` (computed here when None; every fold slices it).
    ``layers``: ``suite.layer_index(frame)`` (likewise; every fold's layer-time model prices its rows).
    ``train_of``: family -> boolean mask over ``frame``'s rows that the fold may train on, beside the
    other families (a learning curve trains on fewer; default: all of them). ``folds``: None (or at
    least the number of families) holds out one family a fold; K holds out ``family_folds``' K groups
    of whole families (a cheaper evaluation: ``advisor train``'s intervals).
    Raises DataError with fewer than MIN_FAMILIES architecture families."""
    import pandas as pd

    families = sorted(frame["family"].unique())
    if len(families) < MIN_FAMILIES:
        raise DataError(f"Grouped cross-validation needs networks of at least {MIN_FAMILIES} architecture "
                        f"families; these profiles hold {len(families)} ({', '.join(families)}). Profile "
                        "more families ('advisor zoo build', 'advisor profile').")
    if design is None:
        design = design_matrix(frame, SettingEncoder(known_settings))
    if layers is None:
        layers = layer_index(frame)
    groups = family_folds(frame, folds)

    def fold(i: int, held: tuple):
        if progress:
            progress(f"fold {i + 1}/{len(groups)}: holding out {', '.join(repr(f) for f in held)}")
        out = frame["family"].isin(held)
        rest = ~out
        if train_of:
            for fam in held:
                rest &= train_of(fam)
        train, test = frame[rest], frame[out]
        suite = fit_suite(train, known_settings, energy_spec, xgb_params, design, layers)
        return pd.concat([predict_frame(suite, test, design, native=True, layers=layers),
                          _baselines(train, test, suite, design)], axis=1)

    return [functools.partial(fold, i, held) for i, held in enumerate(groups)]


def family_folds(frame, folds: int | None = None) -> list[tuple]:
    """The families each fold holds out: one a fold (``folds`` None, or at least the number of
    families), else ``folds`` groups of whole families with about equal rows (largest family first, each
    to the group with the fewest rows so far; ties by name), each group's families sorted."""
    counts = frame["family"].value_counts()
    families = sorted(counts.index)
    if folds is None or folds >= len(families):
        return [(f,) for f in families]
    if folds < 2:
        raise ValueError(f"folds must be at least 2 (or None: one family a fold), got {folds}")
    groups, rows = [[] for _ in range(folds)], [0] * folds
    for fam in sorted(families, key=lambda f: (-int(counts[f]), f)):
        k = min(range(folds), key=lambda j: (rows[j], j))
        groups[k].append(fam)
        rows[k] += int(counts[fam])
    return [tuple(sorted(g)) for g in groups]


def run_jobs(jobs: list, threads: int = FOLD_THREADS) -> list:
    """Results of ``jobs`` (callables without arguments), in order, computed by ``threads`` threads.
    Each job is deterministic and independent of the others, so the results do not depend on how
    many run at once."""
    if threads <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda job: job(), jobs))


def assemble_folds(frame, parts: list):
    """The folds' predictions in ``frame``'s row order."""
    import pandas as pd

    return pd.concat(parts).loc[frame.index]


def _baselines(train, test, suite, design=None):
    import pandas as pd

    base = baseline_rows(train)
    ms_per_mac = float(np.median(baseline_target(base) / np.maximum(base["f_macs_total"], 1.0)))
    medians = train[train["setting"] != "none"].groupby("setting")["ratio"].median()
    X = design_matrix(test, suite.encoder) if design is None else design.loc[test.index]
    feats = test.rename(columns=lambda c: c[2:] if c.startswith("f_") else c).to_dict("records")
    desc = X.to_dict("records")
    out = pd.DataFrame(index=test.index)
    out["bl_macs_base_ms"] = ms_per_mac * np.maximum(test["f_macs_total"].to_numpy(float), 1.0)
    out["bl_roofline_ms"] = suite.baseline.roofline_.predict(model_matrix(test))
    out["bl_macs_ratio"] = [mac_ratio_prior(f, d, f.get("channels_kept")) for f, d in zip(feats, desc, strict=True)]
    global_median = float(medians.median()) if len(medians) else 1.0
    out["bl_setting_ratio"] = [1.0 if s == "none" else float(medians.get(s, global_median)) for s in test["setting"]]
    acc_medians = train[train["setting"] != "none"].groupby("setting")["accuracy_drop_pct"].median()
    fid_medians = train[train["setting"] != "none"].groupby("setting")["fidelity_loss"].median()
    out["bl_setting_acc_pp"] = [float(acc_medians.get(s, np.nan)) for s in test["setting"]]
    out["bl_setting_fid"] = [float(fid_medians.get(s, np.nan)) for s in test["setting"]]
    return out


def _targets(df) -> dict:
    """target -> (row mask, observed, {method: predicted}, kind) in natural units."""
    var = (df["setting"] != "none").to_numpy()
    base_ms = df["bl_macs_base_ms"].to_numpy()
    lat = np.exp(df["pred_log_latency"].to_numpy())
    out = {
        "ratio": (var, df["ratio"], {"model": np.exp(df["pred_log_ratio"]), "macs": df["bl_macs_ratio"],
                                     "setting-median": df["bl_setting_ratio"]}, "relative"),
        "latency_ms": (np.ones(len(df), bool), df["latency_ms"], {
            "model": lat, "macs": base_ms * df["bl_macs_ratio"], "setting-median": base_ms * df["bl_setting_ratio"]},
            "relative"),
        "baseline_latency_ms": (~var, df["baseline_pooled_ms"].fillna(df["latency_ms"]), {"model": np.exp(df["pred_log_base"]), "macs": base_ms,
                                                         "roofline": df["bl_roofline_ms"]}, "relative"),
        "energy_mj": (np.ones(len(df), bool), df["energy_mj"], {"model": df["pred_energy_mj"]}, "relative"),
        "accuracy_drop_pct": (var, df["accuracy_drop_pct"], {"model": df["pred_acc_pp"],
                                                             "setting-median": df["bl_setting_acc_pp"],
                                                             "zero-drop": np.zeros(len(df))}, "absolute"),
        "fidelity_loss": (var, df["fidelity_loss"], {"model": FidelityLossModel.from_scale(df["pred_log_fid"]),
                                                     "setting-median": df["bl_setting_fid"]}, "fidelity"),
    }
    return out


def summarize(df, alpha: float = ALPHA_DEFAULT) -> dict:
    """Figures per target and method from ``df`` = frame columns + out-of-fold predictions."""
    report = {}
    for target, (mask, obs, methods, kind) in _targets(df).items():
        obs = np.asarray(obs, float)
        rows = mask & np.isfinite(obs)
        if kind != "absolute":
            rows &= obs > 0
        if rows.sum() == 0:
            continue
        sub = df[rows]
        report[target] = {"n": int(rows.sum()), "n_networks": int(sub["model_sha"].nunique()), "kind": kind,
                          "methods": {m: _figures(sub, obs[rows], np.asarray(p, float)[rows], kind, alpha)
                                      for m, p in methods.items()}}
    return report


def within_tol(log_pred_over_obs) -> np.ndarray:
    """Whether each prediction is within +-``RELATIVE_TOL`` of its measurement as the figures count it,
    |predicted / measured - 1| <= 0.10, from log(predicted / measured)."""
    return np.abs(np.expm1(np.asarray(log_pred_over_obs, float))) <= RELATIVE_TOL


def _figures(sub, obs, pred, kind: str, alpha: float) -> dict:
    ok = np.isfinite(pred) & (pred > 0 if kind == "relative" else pred >= 0 if kind == "fidelity" else True)
    if not ok.any():
        return {"n": 0}
    o, p = obs[ok], pred[ok]
    if kind == "relative":
        err, tol, unit = np.abs(p / o - 1.0) * 100.0, 100.0 * RELATIVE_TOL, "pct"
        scale = np.log
    else:
        err, tol, unit = np.abs(p - o), (1.0 if kind == "absolute" else 0.01), ("pp" if kind == "absolute" else "abs")
        scale = (lambda v: v) if kind == "absolute" else (lambda v: np.log(np.maximum(v, 0) + 1e-6))
    groups = sub["setting_family"].to_numpy()[ok] if "setting" in sub else None
    cov = coverage_by_held_out_family(scale(o), scale(p), sub["family"].to_numpy()[ok], groups, alpha)
    return {"n": int(ok.sum()), f"median_abs_err_{unit}": float(np.median(err)),
            f"p90_abs_err_{unit}": float(np.percentile(err, 90)), "within_tol": float(np.mean(err <= tol)),
            "tolerance": f"{tol:g} {unit}", "spearman_median": _ranking(sub[ok], o, p),
            "coverage": cov["coverage"], "interval_width": cov["width"]}


def _ranking(sub, obs: np.ndarray, pred: np.ndarray) -> float | None:
    """Median over networks with >= 3 settings of Spearman(pred, obs) across its settings (the Pearson
    correlation of average ranks; 0 where the predictions are all equal)."""
    import pandas as pd

    d = pd.DataFrame({"net": sub["model_sha"].to_numpy(), "o": obs, "p": pred})
    g = d.groupby("net")["o"]
    d = d[(g.transform("size") >= 3) & (g.transform("nunique") >= 2)]
    if d.empty:
        return None
    by = d.groupby("net")
    ro, rp = by["o"].rank(), by["p"].rank()
    ro, rp = ro - ro.groupby(d["net"]).transform("mean"), rp - rp.groupby(d["net"]).transform("mean")
    num = (ro * rp).groupby(d["net"]).sum()
    den = np.sqrt((ro * ro).groupby(d["net"]).sum() * (rp * rp).groupby(d["net"]).sum())
    rhos = np.where(den.to_numpy() > 0, num.to_numpy() / np.where(den.to_numpy() > 0, den.to_numpy(), 1.0), 0.0)
    return float(np.median(rhos))


def per_family(df) -> dict:
    """Latency-ratio figures of the model for each held-out family (to spot one family dominating)."""
    return _ratio_by(df, "family")


def per_setting(df) -> dict:
    """Latency-ratio figures of the model for each setting, every row predicted with its family held out:
    how far a prediction for *this* setting can be trusted (on the host data, int8 static quantization
    is predicted far less well than fp16 or the weight-only settings)."""
    return _ratio_by(df, "setting")


def _ratio_by(df, column: str) -> dict:
    """value of ``column`` -> n, median and 90th-percentile absolute % error, share within +-10% of the
    model's latency ratio, over that value's compressed rows with a measured ratio."""
    out = {}
    var = df[(df["setting"] != "none") & np.isfinite(df["ratio"]) & (df["ratio"] > 0)]
    for key, g in var.groupby(column):
        err = np.abs(np.exp(g["pred_log_ratio"]) / g["ratio"] - 1.0) * 100.0
        out[str(key)] = {"n": len(g), "median_abs_err_pct": float(np.median(err)),
                         "p90_abs_err_pct": float(np.percentile(err, 90)), "within_tol": float(np.mean(err <= 10))}
    return out


def noise_floor(frame, repeat_stats: dict | None) -> dict:
    """Repeat-measurement noise: from repeated record ids when there are any, else the median
    relative half-width of each record's own 95 % CI of its ratio (percent). Also the figures a
    perfect predictor would get against a simulated repeat drawn from those CIs (``ci_ceiling``), and
    how well the labels' re-measured passes agree with each other (``passes``, or None)."""
    var = frame[(frame["setting"] != "none") & (frame["ratio"] > 0)]
    ci = var["ratio_ci95_rel_pct"].to_numpy(float)
    out = {"ci_ceiling": _ci_ceiling(frame, var) if np.isfinite(ci).any() else None, "passes": _passes(var)}
    if repeat_stats and repeat_stats.get("n_pairs"):
        return {**out, "baseline_latency_pct": _baseline_repeats(frame),
                "method": "repeats: median abs % difference between repeated measurements",
                "n": repeat_stats["n_pairs"], "ratio_pct": repeat_stats["ratio_pct"],
                "latency_pct": repeat_stats["latency_pct"],
                "repeat": {k: repeat_stats.get(k) for k in ("n_ratio_pairs", "ratio_within_10pct", "n_rank_networks",
                                                              "ratio_spearman_median")}}
    ci = ci[np.isfinite(ci)]
    return {**out, "baseline_latency_pct": _baseline_repeats(frame), "method": "no repeats: median half-width of each record's ratio 95% CI, % of the ratio",
            "n": int(len(ci)), "ratio_pct": float(np.median(ci)) if len(ci) else None, "latency_pct": None}


def _passes(var) -> dict | None:
    """How well the labels' re-measured passes agree (``dataset.passes_agree``): the variants measured
    in two or more passes and the mean share of pairs of passes within +-10% of each other; None without."""
    if "ratio_passes_agree" not in var.columns:
        return None
    agree = var["ratio_passes_agree"].to_numpy(float)
    agree = agree[np.isfinite(agree)]
    return {"n": int(len(agree)), "within_10pct": float(np.mean(agree))} if len(agree) else None


def _baseline_repeats(frame) -> float | None:
    """Median over networks of the median abs % deviation of the uncompressed model's repeated
    measurements (its ``none`` record and the baseline timed in each variant's process) from their
    median: how far absolute latency drifts between processes on this host."""
    dev = baseline_rows(frame)["baseline_repeat_dev_pct"].to_numpy(float)
    dev = dev[np.isfinite(dev)]
    return float(np.median(dev)) if len(dev) else None


def _ci_ceiling(frame, var, draws: int = 5) -> dict:
    """Within-10 % share and per-network Spearman of a simulated repeat measurement (log-normal noise
    with each record's CI half-width as 1.96 sd) against the measured ratios: what the measurement
    protocol's own uncertainty allows, if the CIs are honest."""
    import pandas as pd

    ci = var["ratio_ci95_rel_pct"].fillna(var["ratio_ci95_rel_pct"].median()).to_numpy(float)
    sd = np.log1p(np.nan_to_num(ci) / 100.0) / 1.96
    rng = np.random.default_rng(0)
    none = frame[frame["setting"] == "none"]
    within, rhos = [], []
    for _ in range(draws):
        rep = var["ratio"].to_numpy() * np.exp(rng.normal(0.0, sd))
        within.append(float(np.mean(np.abs(rep / var["ratio"].to_numpy() - 1.0) <= 0.1)))
        both = pd.concat([var.assign(_p=rep), none.assign(_p=1.0)])
        rhos.append(_ranking(both, both["ratio"].to_numpy(), both["_p"].to_numpy()))
    return {"within_10pct": float(np.mean(within)),
            "spearman_median": float(np.mean([r for r in rhos if r is not None])) if any(
                r is not None for r in rhos) else None}
