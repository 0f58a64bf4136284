"""Predictions updated from ratios measured on the network itself: measure one setting, predict the
others better.

The ratio model's errors on one network move together across related settings (held out by family
on the host: r = 0.84 between int8-static per-tensor and per-channel; removing each network's median
error per setting group would take the share within +-10% from 77.5% to 89.7%,
``benchmarks/layer_model_limits.py``). No graph feature tracks that per-network factor, but a
measurement does: once a setting ``s`` is measured on the device, its error ``e_s`` (observed -
predicted log ratio) says how far the model is off for this network, and another setting ``t`` is
updated to ``z_t + slope_st * e_s``.

``fit_network_update`` learns the slopes from the out-of-fold errors of a grouped evaluation (each
architecture family predicted by a model fitted without it), by least squares through the origin over
the networks measured with both settings. The update is judged the same way: each family's networks
are updated with slopes fitted on the other families only, and a pair (s, t) is kept only where that
held-out update brings at least ``MIN_GAIN`` more of ``t``'s ratios within +-10% than the model alone
and cuts their squared log error by at least 5% (the same held-out figures select the pairs and report
them, so a marginal pair's gain is optimistic). Its interval is
conformal: the 5% and 95% quantiles of the held-out updated residuals (``conformal.fit_quantiles``).
``apply_network_update`` updates a prediction from the measured settings.

Two or more measured settings are used together: each setting ``t`` is updated from the measured
settings ``U`` whose pair (s, t) was kept, by the conditional expectation of its error given theirs,
``e_t | e_U = M_tU M_UU^-1 e_U``, with ``M`` the second moments (mean products, through the origin, as
the slopes) of the out-of-fold errors over the networks measured with both settings (``moments``).
With one setting in ``U`` this is the pair's slope. Its interval is normalised-conformal: the
conditional standard deviation ``sqrt(M_tt - M_tU M_UU^-1 M_Ut)`` times the 5% and 95% quantiles of
the held-out updated residuals so normalised (``joint``: every pair of measured settings, each family
updated with moments computed without it). Held out by family on the host, measuring int8-static-pt
and wq4 brings the other settings' ratios from 81.1% to 86.5% within +-10% (the pairs ranked on the
same figures they report: ``best_pairs``).
"""
from __future__ import annotations

import math

import numpy as np

from advisor.errors import DataError
from advisor.predictors.conformal import ALPHA_DEFAULT, fit_quantiles
from advisor.predictors.evaluate import within_tol

METHOD = ("per-network update from measured ratios: slope of one setting's out-of-fold log-ratio error on "
          "another's (least squares through the origin, leave-one-family-out), kept where the held-out update "
          "brings more ratios within +-10%; conformal interval from the held-out updated residuals. Two or more "
          "measured settings: conditional expectation from the errors' second moments, normalised-conformal "
          "interval")
MIN_NETWORKS = 20  # networks measured with both settings before a pair is fitted
MIN_GAIN = 0.01  # a pair is kept where its held-out update brings at least this share more within +-10%
MIN_MSE_CUT = 0.95  # ... and leaves at most this share of the squared log error (not a lucky count)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    xx = float(x @ x)
    return float(x @ y) / xx if xx > 0 else 0.0


def held_out_residuals(x: np.ndarray, y: np.ndarray, fam: np.ndarray) -> np.ndarray:
    """``y`` less a slope on ``x`` (least squares through the origin), each family's slope fitted on the
    other families only: how an update from ``x`` does on families it has not seen."""
    held = np.empty_like(y)
    for name in np.unique(fam):
        out = fam == name
        held[out] = y[out] - _slope(x[~out], y[~out]) * x[out]
    return held


def fit_network_update(df, min_networks: int = MIN_NETWORKS, alpha: float = ALPHA_DEFAULT) -> dict:
    """The update table from an out-of-fold frame (columns ``model_sha``, ``family``, ``setting``,
    ``ratio``, ``pred_log_ratio``; one row per network and setting, ``none`` ignored). Returns a
    JSON-able dict: ``method``, ``min_networks``, ``pairs`` ({measured: {updated: {"slope", "interval"
    [lo, hi] of the updated log ratio's residual, "latency_interval" [lo, hi] of the residual of the
    predicted uncompressed latency times the updated ratio (log scale; the frame's ``none`` rows give
    ``latency_ms`` and ``pred_log_base``), "n", "within_before", "within_after"}}}) and ``summary`` ({measured:
    {"n", "within_before", "within_after"}}: every other setting's ratios of the networks measured with
    it, held out, before and after the update); where any pair is kept, also ``settings``, ``moments``,
    ``joint`` and ``best_pairs`` for two or more measured settings (``_fit_joint``)."""
    import pandas as pd

    base = df[(df["setting"] == "none") & (df["latency_ms"] > 0)].drop_duplicates("model_sha")
    base_err = pd.Series(np.log(base["latency_ms"].to_numpy(float)) - base["pred_log_base"].to_numpy(float),
                         index=base["model_sha"].to_numpy())
    v = df[(df["setting"] != "none") & (df["ratio"] > 0) & np.isfinite(df["pred_log_ratio"])]
    err = np.log(v["ratio"].to_numpy(float)) - v["pred_log_ratio"].to_numpy(float)
    table = pd.DataFrame({"net": v["model_sha"].to_numpy(), "setting": v["setting"].to_numpy(), "err": err})
    piv = table.pivot_table(index="net", columns="setting", values="err", aggfunc="median")
    fam = v.drop_duplicates("model_sha").set_index("model_sha")["family"].reindex(piv.index).to_numpy(object)
    pairs: dict = {}
    summary: dict = {}
    for s in piv.columns:
        before_all, after_all = [], []
        for t in piv.columns:
            if t == s:
                continue
            both = piv[s].notna().to_numpy() & piv[t].notna().to_numpy()
            if both.sum() < min_networks:
                continue
            x, y = piv[s].to_numpy()[both], piv[t].to_numpy()[both]
            held = held_out_residuals(x, y, fam[both])
            before, after = within_tol(-y), within_tol(-held)  # y, held: observed - predicted
            if after.mean() - before.mean() >= MIN_GAIN and float(held @ held) <= MIN_MSE_CUT * float(y @ y):
                q = fit_quantiles(held, alpha=alpha)["global"]
                # latency = predicted uncompressed latency x updated ratio: both networks' errors together
                lat = held + base_err.reindex(piv.index[both]).to_numpy(float)
                ql = fit_quantiles(lat[np.isfinite(lat)], alpha=alpha)["global"]
                pairs.setdefault(str(s), {})[str(t)] = {
                    "slope": _slope(x, y), "interval": [float(q[0]), float(q[1])],
                    "latency_interval": [float(ql[0]), float(ql[1])], "n": int(both.sum()),
                    "within_before": float(before.mean()), "within_after": float(after.mean())}
                after_all.append(after)
            else:
                after_all.append(before)
            before_all.append(before)
        if before_all:
            b, a = np.concatenate(before_all), np.concatenate(after_all)
            summary[str(s)] = {"n": int(len(b)), "within_before": float(b.mean()), "within_after": float(a.mean())}
    table = {"method": METHOD, "min_networks": int(min_networks), "nominal_coverage": 1 - alpha, "pairs": pairs,
             "summary": summary}
    if pairs:
        table.update(_fit_joint(piv, fam, pairs, base_err, min_networks, alpha))
    return table


def _moments(errors: np.ndarray, min_networks: int) -> np.ndarray:
    """Mean products of the columns of ``errors`` (networks x settings, NaN where not measured) over
    the networks measured with both; NaN below ``min_networks`` such networks."""
    seen = np.isfinite(errors)
    x = np.where(seen, errors, 0.0)
    n = seen.T.astype(float) @ seen.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (x.T @ x) / n
    m[n < min_networks] = np.nan
    return m


def _conditional(m: np.ndarray, t: int, use: list[int]) -> tuple[np.ndarray, float] | None:
    """(coefficients of e_U, conditional variance) of setting ``t``'s error given settings ``use``'s,
    or None where the moments are missing or singular."""
    muu, mtu = m[np.ix_(use, use)], m[t, use]
    if not (np.isfinite(muu).all() and np.isfinite(mtu).all() and math.isfinite(m[t, t])):
        return None
    try:
        coef = np.linalg.solve(muu + 1e-9 * np.diag(np.diag(muu)), mtu)
    except np.linalg.LinAlgError:
        return None
    return coef, max(float(m[t, t] - mtu @ coef), 1e-8)


def _fit_joint(piv, fam: np.ndarray, pairs: dict, base_err, min_networks: int, alpha: float) -> dict:
    """The table's part for two or more measured settings: ``settings``, ``moments`` (all networks),
    ``joint`` (normalised-conformal ``scale`` and ``latency_scale``, ``base_moment``: the mean squared
    error of the uncompressed latency, and ``n``), and ``best_pairs``: the measured pairs that bring the
    most of the other settings' ratios within +-10%, held out by family (moments without the family)."""
    from itertools import combinations

    names = [str(c) for c in piv.columns]
    errors = piv.to_numpy(float)
    base = base_err.reindex(piv.index).to_numpy(float)
    base_moment = float(np.nanmean(base ** 2)) if np.isfinite(base).any() else 0.0
    # per family: its networks' errors and uncompressed-latency errors, and the moments without it
    folds = {f: (errors[fam == f], base[fam == f], _moments(errors[fam != f], min_networks)) for f in np.unique(fam)}
    norm, norm_lat, ranked = [], [], []
    for a, b in combinations(range(len(names)), 2):
        before, after = [], []
        for f, (rows, rows_base, m) in folds.items():
            for t in range(len(names)):
                if t in (a, b):
                    continue
                y = rows[:, t]
                use = [u for u in (a, b) if names[t] in pairs.get(names[u], {})]
                got = _conditional(m, t, use) if use else None
                ok = np.isfinite(y)
                upd = y.copy()
                if got is not None:
                    x = rows[:, use]
                    has = ok & np.isfinite(x).all(axis=1)
                    upd[has] = y[has] - x[has] @ got[0]
                    if len(use) == 2:
                        lat = upd[has] + rows_base[has]
                        norm.append((f, upd[has] / math.sqrt(got[1])))
                        norm_lat.append((f, lat[np.isfinite(lat)] / math.sqrt(got[1] + base_moment)))
                before.append(within_tol(-y[ok]))
                after.append(within_tol(-upd[ok]))
        b_all, a_all = np.concatenate(before), np.concatenate(after)
        ranked.append({"measured": [names[a], names[b]], "n": int(len(b_all)),
                       "within_before": float(b_all.mean()), "within_after": float(a_all.mean())})
    ranked.sort(key=lambda r: -r["within_after"])
    z, zf = _pooled(norm)
    zl, zlf = _pooled(norm_lat)
    m = _moments(errors, min_networks)
    return {"settings": names, "moments": [[float(v) if math.isfinite(v) else None for v in r] for r in m],
            "joint": {"scale": fit_quantiles(z, alpha=alpha)["global"], "latency_scale":
                      fit_quantiles(zl, alpha=alpha)["global"], "base_moment": base_moment, "n": int(len(z)),
                      "coverage": _held_out_coverage(z, zf, alpha),
                      "latency_coverage": _held_out_coverage(zl, zlf, alpha)},
            "best_pairs": ranked[:5]}


def _pooled(parts: list) -> tuple[np.ndarray, np.ndarray]:
    """(values, family of each) from a list of (family, values) parts."""
    if not parts:
        return np.zeros(0), np.zeros(0, object)
    return (np.concatenate([v for _, v in parts]),
            np.concatenate([np.full(len(v), f, dtype=object) for f, v in parts]))


def _held_out_coverage(z: np.ndarray, fam: np.ndarray, alpha: float) -> float | None:
    """Share of the normalised residuals inside quantiles fitted on the other families' (the check of
    the joint intervals' coverage, each family held out)."""
    if len(z) == 0:
        return None
    inside = 0
    for f in np.unique(fam):
        lo, hi = fit_quantiles(z[fam != f], alpha=alpha)["global"]
        inside += int(((z[fam == f] >= lo) & (z[fam == f] <= hi)).sum())
    return inside / len(z)


def check_measured(measured: dict, known: list[str]) -> dict[str, float]:
    """``measured`` ({setting: ratio}) checked: known compressed settings, finite positive ratios."""
    out = {}
    for name, value in (measured or {}).items():
        if name == "none":
            raise DataError("A measured ratio is a compressed setting's latency over the uncompressed model's; "
                            "'none' has ratio 1 by definition. Give e.g. --measured int8-static-pt=1.4")
        if name not in known:
            raise DataError(f"Unknown setting '{name}' in the measured ratios. Known: {', '.join(known)}.")
        try:
            ratio = float(value)
        except (TypeError, ValueError):
            raise DataError(f"The measured ratio of '{name}' must be a number (its latency over the uncompressed "
                            f"model's, measured on the device), got {value!r}.") from None
        if not math.isfinite(ratio) or ratio <= 0:
            raise DataError(f"The measured ratio of '{name}' must be a positive number, got {value!r}.")
        out[name] = ratio
    return out


def apply_network_update(table: dict, z: dict[str, float], measured: dict[str, float]) -> dict[str, dict]:
    """Updated log ratios. ``z``: setting -> the model's predicted log ratio (measured settings
    included); ``measured``: setting -> measured ratio (``check_measured``). Returns, per setting of
    ``z`` other than ``none``: ``{"z", "interval" [lo, hi] (log scale) or None, "latency_offsets" [lo, hi]
    (add to the log latency, predicted uncompressed latency x updated ratio, for its interval) or None,
    "source"}`` with source ``measured`` (the measurement itself; no latency offsets: the uncompressed
    latency's own interval applies), ``updated from measured S`` (one kept pair, or with several the
    pair of the narrowest interval where the table has no ``joint`` part), ``updated from measured S1,
    S2`` (the joint update from every measured setting with a kept pair to it), or None (no pair: the
    prediction is left as it was)."""
    pairs = (table or {}).get("pairs") or {}
    joint = _joint_of(table)
    out = {}
    for t, zt in z.items():
        if t == "none":
            continue
        if t in measured:
            y = math.log(measured[t])
            out[t] = {"z": y, "interval": [y, y], "latency_offsets": None, "source": "measured"}
            continue
        use = [s for s in measured if s in z and t in (pairs.get(s) or {})]
        if len(use) >= 2 and joint is not None and t in joint[1] and all(s in joint[1] for s in use):
            m, index, scale, lat_scale, base_moment = joint
            got = _conditional(m, index[t], [index[s] for s in use])
            if got is not None:
                e = np.array([math.log(measured[s]) - z[s] for s in use])
                zt_new, sd = zt + float(got[0] @ e), math.sqrt(got[1])
                sd_lat = math.sqrt(got[1] + base_moment)
                out[t] = {"z": zt_new, "interval": [zt_new + sd * scale[0], zt_new + sd * scale[1]],
                          "latency_offsets": [sd_lat * lat_scale[0], sd_lat * lat_scale[1]],
                          "source": f"updated from measured {', '.join(use)}"}
                continue
        best = None
        for s in use:
            p = pairs[s][t]
            width = p["interval"][1] - p["interval"][0]
            if best is None or width < best[0]:
                zt_new = zt + p["slope"] * (math.log(measured[s]) - z[s])
                best = (width, zt_new, [zt_new + p["interval"][0], zt_new + p["interval"][1]], s,
                        p.get("latency_interval"))
        out[t] = ({"z": zt, "interval": None, "latency_offsets": None, "source": None} if best is None else
                  {"z": best[1], "interval": best[2], "latency_offsets": best[4],
                   "source": f"updated from measured {best[3]}"})
    return out


def _joint_of(table: dict | None):
    """(moments matrix, setting -> index, scale, latency scale, base moment) of a table fitted with the
    joint update, or None (tables written before it: one measured setting at a time)."""
    joint = (table or {}).get("joint")
    names, rows = (table or {}).get("settings"), (table or {}).get("moments")
    if not (isinstance(joint, dict) and isinstance(names, list) and isinstance(rows, list)):
        return None
    m = np.array([[np.nan if v is None else float(v) for v in r] for r in rows], float)
    return m, {n: i for i, n in enumerate(names)}, joint["scale"], joint["latency_scale"], float(joint["base_moment"])


def measured_from_records(records: list[dict], model_sha256: str, device: str, runtime: str,
                          source: str = "the records") -> dict[str, float]:
    """{setting: measured ratio} from profile records of this model (sha256) on ``device``/``runtime``
    (``advisor profile`` or the on-device agent, interleaved with the uncompressed model): the ok records
    with a ratio; a setting measured more than once gets the median. DataError when none matches."""
    got: dict[str, list[float]] = {}
    for r in records:
        if r.get("status") != "ok" or (r.get("model") or {}).get("sha256") != model_sha256:
            continue
        if (r.get("device") or {}).get("name") != device or (r.get("runtime") or {}).get("name") != runtime:
            continue
        name = (r.get("setting") or {}).get("name")
        ratio = (r.get("ratio") or {}).get("ratio_median")
        if name and name != "none" and isinstance(ratio, int | float) and not isinstance(ratio, bool) \
                and math.isfinite(ratio) and ratio > 0:
            got.setdefault(name, []).append(float(ratio))
    if not got:
        raise DataError(f"None of the {len(records)} records in {source} is a compressed setting of this model "
                        f"(sha256 {model_sha256[:12]}...) measured on {device}/{runtime}. Measure one there: advisor "
                        f"profile MODEL --settings int8-static-pt --device {device} --runtime {runtime} --out FILE "
                        "(on a board: python -m profiling run PLAN).")
    return {k: float(np.median(v)) for k, v in got.items()}
