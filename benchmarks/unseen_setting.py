"""Predict compression settings the predictor never saw measured: hold out every row of the chosen
settings, fit on the rest, and score the held-out settings' latency ratios.

    .venv/bin/python benchmarks/unseen_setting.py [--settings chprune25-a8,chprune50-a8]

The default holds out the alignment-aware channel-pruning settings: the only thing that tells them apart
from ``chprune25``/``chprune50`` is what they do to the graph (channel counts kept at multiples of 8),
which reaches the predictor through the structure features and the op-level cost prior. The networks
are ones the predictor has seen under other settings (so this measures generalisation across settings,
not across families; ``advisor evaluate`` holds out families). Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from host_data import HOST_DATA

DATA = HOST_DATA


def main() -> int:
    from advisor.predictors import training
    from advisor.predictors.suite import energy_spec_of, fit_suite, predict_frame

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", default="chprune25-a8,chprune50-a8")
    args = ap.parse_args()
    held = [s.strip() for s in args.settings.split(",") if s.strip()]
    sel = training.select(DATA, "host", "onnxruntime-cpu")
    frame = sel.frame
    out = frame["setting"].isin(held).to_numpy()
    if not out.any():
        print(f"no rows of {held} in the host data", file=sys.stderr)
        return 1
    train, test = frame[~out], frame[out]
    suite = fit_suite(train, training.known_settings(train), energy_spec_of(sel.records, frame))
    pred = np.exp(predict_frame(suite, test)["pred_log_ratio"].to_numpy())
    err = np.abs(pred / test["ratio"].to_numpy() - 1.0) * 100.0
    print(f"settings never seen in training: {', '.join(held)} ({len(test)} rows, {test['model_sha'].nunique()} networks)")
    print(f"{'setting':16s} {'n':>5s} {'median |err|':>13s} {'p90 |err|':>10s} {'within 10%':>11s}")
    for name in held + ["all"]:
        m = np.ones(len(test), bool) if name == "all" else (test["setting"] == name).to_numpy()
        if m.any():
            print(f"{name:16s} {m.sum():5d} {np.median(err[m]):12.1f}% {np.percentile(err[m], 90):9.1f}% "
                  f"{np.mean(err[m] <= 10):10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
