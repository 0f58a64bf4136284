"""Few-shot calibration with k networks: calibrate a base bundle on k random networks of a board's
profiles, score on the others; repeat over seeded draws and print the median and 90th percentile (over
draws) of each draw's median absolute error.

    .venv/bin/python benchmarks/calibration_few.py [--base trained_predictors/host/onnxruntime-cpu] \
        [--profiles datasets/jetson-tx2-tensorflow/records.jsonl.gz --device jetson-tx2 --runtime tensorflow] \
        [--k 2,3,5,8] [--draws 50] [--seed 0]

The figures of the table in docs/CALIBRATION.md ("With fewer networks") come from this script with
its defaults. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    from advisor.predictors.calibration import _base_and_rows, _score, fit_from_predictions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=str(REPO / "trained_predictors" / "host" / "onnxruntime-cpu"))
    ap.add_argument("--profiles", nargs="+", default=[str(REPO / "datasets" / "jetson-tx2-tensorflow" / "records.jsonl.gz")])
    ap.add_argument("--device", default="jetson-tx2")
    ap.add_argument("--runtime", default="tensorflow")
    ap.add_argument("--k", default="2,3,5,8")
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    _, _, _, _, frame, pred = _base_and_rows(args.profiles, args.device, args.runtime, args.base)
    nets = np.array(sorted(frame["model_sha"].unique()))
    rng = np.random.default_rng(args.seed)
    targets = ("baseline_latency_ms", "ratio", "latency_ms")
    print(f"base {args.base}; {len(nets)} networks of {args.device}/{args.runtime}; {args.draws} draws per k")
    print(f"{'k':>3s} " + " ".join(f"{t + ' median (p90)':>28s}" for t in targets))
    for k in (int(x) for x in args.k.split(",")):
        if not 1 <= k < len(nets):
            continue
        per = {t: [] for t in targets}
        for _ in range(args.draws):
            chosen = set(rng.choice(nets, size=k, replace=False))
            cal_rows = frame["model_sha"].isin(chosen).to_numpy()
            cal = fit_from_predictions(frame[cal_rows], pred[cal_rows])
            test = ~cal_rows
            after = cal.adjust(pred[test], frame.loc[test, "setting_family"].tolist())
            scores = _score(frame[test], after)
            for t in targets:
                if scores[t].get("n"):
                    per[t].append(scores[t]["median_abs_err_pct"])
        print(f"{k:3d} " + " ".join(f"{np.median(per[t]):18.1f}% ({np.percentile(per[t], 90):5.1f}%)" for t in targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
