"""Is anything left in the features? Two checks on the host's held-out latency-ratio errors (families
held out as ``advisor evaluate`` does, seed 0).

    .venv/bin/python benchmarks/residual_signal.py

1. **A second model on the errors.** The out-of-fold log-ratio errors (observed - predicted) of every
   variant are fitted again, families held out, by a forest on every column the frame holds for the
   row: the graph features (``f_*``), the setting's structure (``v_*``, and the original's and the
   variant's MAC quantities ``q0_*`` / ``q1_*``, as logs), the model's own prediction and the setting.
   If the errors carried a pattern those inputs explain across families, taking the forest's held-out
   prediction off would bring more ratios within +-10%.
2. **The uncompressed latency's error.** Measuring only the uncompressed model on the device gives its
   latency, and so the baseline model's error for this network. Per setting: its correlation with the
   ratio errors, and the share within +-10% after a slope on it (least squares through the origin,
   fitted without the family) is taken off.

Prints figures; asserts nothing. About 1.5 minutes.
"""
from __future__ import annotations

import numpy as np
from host_data import HOST_DATA


def main() -> int:
    import pandas as pd
    import xgboost as xgb

    from advisor.predictors.base import seed_params
    from advisor.predictors.evaluate import within_tol
    from advisor.predictors.network_update import held_out_residuals
    from advisor.predictors.training import evaluate_selection, select

    sel = select(HOST_DATA, "host", "onnxruntime-cpu")
    oof = evaluate_selection(sel, None, xgb_params=seed_params(0))[1]
    v = oof[(oof["setting"] != "none") & (oof["ratio"] > 0) & np.isfinite(oof["pred_log_ratio"])]
    err = np.log(v["ratio"].to_numpy(float)) - v["pred_log_ratio"].to_numpy(float)
    fam = v["family"].to_numpy(object)
    settings = v["setting"].to_numpy(object)
    print(f"host/onnxruntime-cpu, {len(v)} variants of {v['model_sha'].nunique()} networks: ratio within +-10% "
          f"{within_tol(-err).mean():.1%} as shipped (families held out, seed 0)")

    cols = [c for c in v.columns if c.startswith(("f_", "v_", "q0_", "q1_"))]
    X = v[cols].astype(float)
    logs = [c for c in cols if c.startswith(("q0_", "q1_"))]
    X[logs] = np.log1p(X[logs].clip(lower=0))
    X = pd.concat([X, v[["pred_log_ratio"]], pd.get_dummies(v["setting"]).astype(float)], axis=1).to_numpy(float)
    held = np.zeros(len(err))
    for name in np.unique(fam):
        out = fam == name
        forest = xgb.XGBRegressor(n_estimators=200, max_depth=4, learning_rate=0.05, subsample=0.8,
                                  colsample_bytree=0.5, objective="reg:absoluteerror", n_jobs=2, random_state=0)
        forest.fit(X[~out], err[~out])
        held[out] = forest.predict(X[out])
    print(f"1. A forest on the errors ({X.shape[1]} inputs), families held out: within +-10% "
          f"{within_tol(-(err - held)).mean():.1%} with its prediction taken off, "
          f"{within_tol(-(err - 0.5 * held)).mean():.1%} with half of it")

    base = oof[(oof["setting"] == "none") & (oof["latency_ms"] > 0)].drop_duplicates("model_sha")
    base_err = pd.Series(np.log(base["latency_ms"].to_numpy(float)) - base["pred_log_base"].to_numpy(float),
                         index=base["model_sha"].to_numpy())
    b = base_err.reindex(v["model_sha"]).to_numpy(float)
    print("2. The uncompressed latency's error as a predictor of each setting's ratio error")
    print(f"   {'setting':<26} {'n':>5} {'r':>6}   within +-10%: model -> after the slope (held out)")
    for s in sorted(set(settings)):
        m = (settings == s) & np.isfinite(b)
        x, y = b[m], err[m]
        after = held_out_residuals(x, y, fam[m])
        r = float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else float("nan")
        print(f"   {s:<26} {int(m.sum()):>5} {r:>+6.2f}   {within_tol(-y).mean():.1%} -> {within_tol(-after).mean():.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
