"""Prediction intervals by cross-conformal calibration on grouped folds.

Residuals are out-of-fold: each architecture family is predicted by a model fitted without it
(``advisor evaluate``: one family a fold; ``advisor train``: a few groups of whole families, the
manifest's ``evaluation.protocol.cv``), on the estimator's own scale (log for latency, ratio and power). The
interval of a new prediction ``z`` is ``[z + q_lo, z + q_hi]`` with ``q_lo``/``q_hi`` the
finite-sample-corrected alpha/2 and 1 - alpha/2 quantiles of the signed residuals. The bundle
applies them to the model fitted on all rows (the jackknife-style approximation of CV+).
Mondrian: a setting family with at least ``min_group_rows`` residuals from at least
``min_group_families`` architecture families gets its own quantiles; others share the global ones.
"""
from __future__ import annotations

import math

import numpy as np

ALPHA_DEFAULT = 0.1  # nominal 90 % intervals
METHOD = ("cross-conformal, out-of-fold signed residuals (whole families held out: evaluation.protocol.cv) on the "
          "estimator's scale, "
          "finite-sample quantiles, Mondrian by setting family where data allow; applied to the all-data model")


def _quantiles(res: np.ndarray, alpha: float) -> list[float]:
    n = len(res)
    s = np.sort(res)
    lo_rank = math.floor((n + 1) * alpha / 2.0)  # 1-based; 0 means "unbounded" -> use the minimum
    hi_rank = math.ceil((n + 1) * (1.0 - alpha / 2.0))
    return [float(s[max(lo_rank, 1) - 1]), float(s[min(hi_rank, n) - 1])]


def fit_quantiles(residuals, groups=None, families=None, alpha: float = ALPHA_DEFAULT, min_group_rows: int = 100,
                  min_group_families: int = 3) -> dict:
    """Quantiles of signed residuals (``observed - predicted`` on the model scale).

    ``groups``: Mondrian group per residual (e.g. setting family) or None; ``families``: the
    architecture family per residual (a group needs residuals from ``min_group_families`` families).
    Returns a JSON-able dict: ``{"alpha", "n", "global": [lo, hi], "groups": {g: [lo, hi]}}``.
    """
    res = np.asarray(residuals, float)
    ok = np.isfinite(res)
    out = {"alpha": alpha, "n": int(ok.sum()), "global": [0.0, 0.0], "groups": {}}
    if not ok.any():
        return out
    out["global"] = _quantiles(res[ok], alpha)
    if groups is None:
        return out
    g = np.asarray(groups, dtype=object)
    fam = np.asarray(families if families is not None else ["?"] * len(res), dtype=object)
    for name in sorted(set(g[ok]), key=str):
        sel = ok & (g == name)
        if sel.sum() >= min_group_rows and len(set(fam[sel])) >= min_group_families:
            out["groups"][str(name)] = _quantiles(res[sel], alpha)
    return out


def interval(pred, quantiles: dict, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (model scale) for predictions ``pred`` with Mondrian ``groups``."""
    z = np.asarray(pred, float)
    names = list(groups) if groups is not None else [None] * len(z)
    q = np.array([quantiles["groups"].get(str(n), quantiles["global"]) for n in names], float).reshape(-1, 2)
    return z + q[:, 0], z + q[:, 1]


def coverage_by_held_out_family(observed, predicted, families, groups=None, alpha: float = ALPHA_DEFAULT, **kw) -> dict:
    """Coverage of nominal (1 - alpha) intervals when each family's intervals are calibrated only on the
    out-of-fold residuals of the *other* families. Returns ``{"covered", "n", "coverage", "width"}``
    where ``width`` is the median interval width on the model scale."""
    obs, pred = np.asarray(observed, float), np.asarray(predicted, float)
    fam = np.asarray(families, dtype=object)
    grp = np.asarray(groups, dtype=object) if groups is not None else None
    ok = np.isfinite(obs) & np.isfinite(pred)
    covered, widths, n = 0, [], 0
    for f in sorted(set(fam[ok]), key=str):
        cal, test = ok & (fam != f), ok & (fam == f)
        if not cal.any():
            continue
        q = fit_quantiles(obs[cal] - pred[cal], grp[cal] if grp is not None else None, fam[cal], alpha, **kw)
        lo, hi = interval(pred[test], q, grp[test] if grp is not None else None)
        covered += int(((obs[test] >= lo) & (obs[test] <= hi)).sum())
        widths.extend((hi - lo).tolist())
        n += int(test.sum())
    return {"covered": covered, "n": n, "coverage": covered / n if n else None,
            "width": float(np.median(widths)) if widths else None}
