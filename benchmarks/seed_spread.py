"""How far do the held-out figures move with the random draw alone? The same evaluation, other seeds.

    .venv/bin/python benchmarks/seed_spread.py [--seeds 0,1,2,3,4]

``advisor evaluate`` fits every fold with seed 0 (the seed the shipped bundles are trained with):
XGBoost samples 80% of the rows and columns for each tree, and the layer-time model fits a seeded
sample of 20,000 layers. Another seed is another draw of those, on the same data and the same folds
(``advisor evaluate --seed N`` runs one). The spread over seeds is the predictor's own noise: a change
to the predictor that moves a figure by less than it has not been shown to move it at all.

Printed per seed: the latency ratio's share within +-10%, median and 90th-percentile error, the median
per-network Spearman of the settings' ranking, the 90% interval coverage; the uncompressed latency's
median error; then the range over the seeds, overall and per setting (share within +-10%).

Prints figures; asserts nothing. About 45 s a seed on the host data (2 cores).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from host_data import HOST_DATA


def _seeds(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2, got {text!r}") from None
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"expected distinct non-negative seeds, got {text!r}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=_seeds, default=[0, 1, 2, 3, 4], help="comma-separated seeds (default 0,1,2,3,4)")
    args = ap.parse_args()

    from advisor.predictors import training
    from advisor.predictors.base import seed_params

    sel = training.select(HOST_DATA, "host", "onnxruntime-cpu")
    rows, per_setting = [], {}
    print(f"{'seed':>4s} {'within 10%':>10s} {'median':>7s} {'p90':>6s} {'rho':>6s} {'cov90':>6s} {'base med':>8s} {'time':>5s}")
    for seed in args.seeds:
        t0 = time.time()
        report, _ = training.evaluate_selection(sel, xgb_params=seed_params(seed))
        r = report["targets"]["ratio"]["methods"]["model"]
        b = report["targets"]["baseline_latency_ms"]["methods"]["model"]
        rows.append((r["within_tol"], r["median_abs_err_pct"], r["p90_abs_err_pct"], r["spearman_median"], r["coverage"],
                     b["median_abs_err_pct"]))
        for name, f in (report.get("per_setting_ratio") or {}).items():
            per_setting.setdefault(name, []).append(f["within_tol"])
        w, med, p90, rho, cov, base = rows[-1]
        print(f"{seed:4d} {w:10.1%} {med:6.2f}% {p90:5.1f}% {rho:6.3f} {cov:6.1%} {base:7.2f}% {time.time() - t0:4.0f}s",
              flush=True)
    a = np.array(rows, float)
    lo, hi, mean = a.min(0), a.max(0), a.mean(0)
    print(f"\nover {len(rows)} seeds (min - max, mean):")
    print(f"  ratio within +-10%: {lo[0]:.1%} - {hi[0]:.1%} (mean {mean[0]:.1%})")
    print(f"  ratio median error: {lo[1]:.2f}% - {hi[1]:.2f}%; p90 {lo[2]:.1f}% - {hi[2]:.1f}%")
    print(f"  per-network Spearman: {lo[3]:.3f} - {hi[3]:.3f} (mean {mean[3]:.3f}); coverage {lo[4]:.1%} - {hi[4]:.1%}")
    print(f"  uncompressed latency median error: {lo[5]:.2f}% - {hi[5]:.2f}%")
    if per_setting:
        print("  ratio within +-10% by setting:")
        for name, v in sorted(per_setting.items(), key=lambda kv: np.mean(kv[1])):
            print(f"    {name:26s} {min(v):.0%} - {max(v):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
