"""Would the host's latency-ratio predictor get better with information it cannot have? Oracles and
ensembles that bound what the missing 7-8 points (85% within +-10%, families held out) could come from.

    .venv/bin/python benchmarks/oracles.py [--seeds 3] [--skip-oracles] [--ops-of fp16]

1. Node profiles against the labels. Each record's node profile (onnxruntime's profiler, taken after
   the sweep in a process of its own, ``datasets/add_node_profiles.py``) gives a total run time. The
   ratio of a variant's total to its original's is printed against the measured ratio (both in one
   process, interleaved): how often it falls within +-10%, per setting group, and with a per-node
   profiler cost taken off. Low agreement means that no quantity taken from these profiles (layer
   times, non-MAC times) can stand in for the label, which bounds what oracles built on them show.
2. Oracles, families held out as ``advisor evaluate`` does (seed 0), against the model as shipped:
   a. the layer-time model's MAC-layer times replaced by the measured ones (the sums of the
      profiled layer times of the variant and of the original);
   b. the executed graph as extra tree inputs: the log ratio of the nodes onnxruntime ran (variant /
      original, from the profiles) and the change in its Q/DQ, QLinearConv, float Conv, Reorder, Cast,
      QGemm and MatMulNBits counts per original node -- what a replay of onnxruntime's own graph
      optimizer would tell the trees.
3. Seed ensembles: the out-of-fold predictions of ``--seeds`` fits with different seeds (every random
   draw: XGBoost's sampling, the layer-time model's sample of layers) averaged on the log scale, and
   the share within +-10% after 1, 2, ... of them: the variance part of the error.

4. ``--ops-of SETTING``: where that setting's variants change the graph onnxruntime runs, from the
   profiles, per family: the measured ratio (median) and the op types whose node count and time
   (share of the original's profiled run) changed most, each a median over the family's networks.
   Node counts are exact; times carry the profiles' process-to-process noise (part 1).

Prints figures; asserts nothing. On the 23 families, one fit of all the folds takes about 3 minutes
on the host (2 cores): ``--seeds 5 --skip-oracles`` ran 16 minutes (2026-11-30, 84.3 / 84.5 / 84.4 /
84.7% with 2 / 3 / 4 / 5 seeds averaged). With 18 families a fit took about 40 s.
"""
from __future__ import annotations

import argparse
import collections
import contextlib

import numpy as np
from host_data import HOST_DATA

EXEC_OPS = ("DequantizeLinear", "QuantizeLinear", "QLinearConv", "Conv", "ReorderInput", "ReorderOutput", "Cast",
            "QGemm", "MatMulNBits", "DynamicQuantizeMatMul")
GROUPS = (("int8-static", "int8-static"), ("channel pruning", "chprune"), ("weight-only 8/4-bit", "wq"),
          ("fp16", "fp16"), ("int8-dynamic", "int8-dynamic"), ("sparse / wq16", ("sparse", "wq16")))


def _profiles(records) -> dict:
    """record id -> (profiled run us, node count, Counter of executed op types, us per op type)."""
    out = {}
    for r in records:
        prof = r.get("node_profile") if r.get("status") == "ok" else None
        if prof and prof.get("nodes"):
            counts, times = collections.Counter(), collections.defaultdict(float)
            for _, op, us in prof["nodes"]:
                counts[op] += 1
                times[op] += float(us)
            out[r["record_id"]] = (float(prof["run_us"]), len(prof["nodes"]), counts, dict(times))
    return out


def _within(pred_log, obs) -> float:
    from advisor.predictors.evaluate import within_tol

    return float(np.mean(within_tol(np.asarray(pred_log, float) - np.log(obs))))


def profiles_vs_labels(frame, prof: dict) -> None:
    print("1. Node profiles (each in its own process) against the measured ratios")
    base = frame[frame["setting"] == "none"].drop_duplicates("model_sha").set_index("model_sha")["record_id"]
    v = frame[(frame["setting"] != "none") & frame["record_id"].isin(prof) & np.isfinite(frame["ratio"])]
    v = v[v["model_sha"].map(base).isin(prof)]
    run1 = np.array([prof[i][0] for i in v["record_id"]])
    n1 = np.array([prof[i][1] for i in v["record_id"]], float)
    b = v["model_sha"].map(base)
    run0 = np.array([prof[i][0] for i in b])
    n0 = np.array([prof[i][1] for i in b], float)
    obs = v["ratio"].to_numpy(float)
    print(f"   {len(v)} variants; profiled total / measured latency of the originals: median "
          f"{np.median(run0 / (frame.set_index('record_id').loc[b, 'latency_ms'].to_numpy(float) * 1000)):.2f}")
    for cost in (0.0, 4.5):
        ratio = (run1 - cost * n1) / np.maximum(run0 - cost * n0, 1.0)
        parts = []
        for name, prefix in GROUPS:
            m = v["setting"].str.startswith(prefix).to_numpy()
            parts.append(f"{name} {_within(np.log(ratio[m]), obs[m]):.0%}")
        print(f"   profiled ratio within +-10% of the measured one ({cost:g} us a node taken off): "
              f"{_within(np.log(ratio), obs):.1%} ({'; '.join(parts)})")


@contextlib.contextmanager
def _ratio_inputs(extra):
    """Run the fits with ``extra(X, frame)`` applied to the ratio model's inputs (an experiment hook)."""
    from advisor.predictors import suite

    plain = suite.ratio_inputs

    def hooked(X, frame, kernel, native=False, layers=None):
        return extra(plain(X, frame, kernel, native, layers), frame)

    suite.ratio_inputs = hooked
    try:
        yield
    finally:
        suite.ratio_inputs = plain


def _fit(sel, seed: int = 0):
    from advisor.predictors import training
    from advisor.predictors.base import seed_params

    rep, oof = training.evaluate_selection(sel, xgb_params=seed_params(seed))
    r = rep["targets"]["ratio"]["methods"]["model"]
    return r, oof


def _line(label: str, r: dict) -> str:
    return (f"   {label:<44} within +-10% {r['within_tol']:.1%}  median {r['median_abs_err_pct']:.2f}%  "
            f"p90 {r['p90_abs_err_pct']:.1f}%  rho {r['spearman_median']:.3f}")


def oracles(sel, prof: dict, shipped: dict) -> None:
    print("2. Oracles (families held out, seed 0)")
    print(_line("as shipped", shipped))
    frame = sel.frame
    base = frame[frame["setting"] == "none"].drop_duplicates("model_sha").set_index("model_sha")

    def measured_layers(X, rows):
        t1 = np.array([sum(u) for u in rows["k_us"]], float)
        t0 = np.array([sum(u) for u in base.loc[rows["model_sha"], "k_us"]], float)
        X["q0_kern_us"], X["q1_kern_us"] = t0, t1
        with np.errstate(divide="ignore", invalid="ignore"):
            X["x_log_kern"] = np.where((t0 > 0) & (t1 > 0), np.log(t1 / np.maximum(t0, 1e-9)), np.nan)
        return X

    with _ratio_inputs(measured_layers):
        print(_line("a. measured MAC-layer times", _fit(sel)[0]))

    def executed(X, rows):
        e1 = [prof.get(i) for i in rows["record_id"]]
        e0 = [prof.get(i) for i in base.loc[rows["model_sha"], "record_id"]]
        ok = np.array([a is not None and b is not None for a, b in zip(e0, e1, strict=True)])
        n0 = np.array([b[1] if b else np.nan for b in e0], float)
        n1 = np.array([a[1] if a else np.nan for a in e1], float)
        X["x_exec_log_nodes"] = np.where(ok, np.log(n1 / n0), np.nan)
        for op in EXEC_OPS:
            d = [(a[2].get(op, 0) - b[2].get(op, 0)) if a and b else np.nan for a, b in zip(e1, e0, strict=True)]
            X[f"x_exec_{op}"] = np.asarray(d, float) / n0
        return X

    with _ratio_inputs(executed):
        print(_line("b. executed graph as tree inputs", _fit(sel)[0]))


def ensembles(sel, first, seeds: int) -> None:
    print(f"3. Seed ensembles (families held out; out-of-fold predictions of seeds 0-{seeds - 1} averaged)")
    preds = [first["pred_log_ratio"].to_numpy(float)]
    m = ((first["setting"] != "none") & np.isfinite(first["ratio"])).to_numpy()
    obs = first["ratio"].to_numpy(float)[m]
    singles = [_within(preds[0][m], obs)]
    for seed in range(1, seeds):
        preds.append(_fit(sel, seed)[1]["pred_log_ratio"].to_numpy(float))
        singles.append(_within(preds[-1][m], obs))
    for k in range(1, seeds + 1):
        mean = np.mean(preds[:k], axis=0)
        print(f"   {k} seed(s) averaged: within +-10% {_within(mean[m], obs):.1%}"
              + (f"   (single seeds: {', '.join(f'{s:.1%}' for s in singles[:k])})" if k > 1 else ""))


def ops_of(frame, prof: dict, setting: str, top: int = 4) -> None:
    print(f"4. What onnxruntime runs differently in '{setting}' variants (median per family: node count, "
          "time as a share of the original's run)")
    base = frame[frame["setting"] == "none"].drop_duplicates("model_sha").set_index("model_sha")["record_id"]
    rows = frame[(frame["setting"] == setting) & frame["record_id"].isin(prof)]
    for fam, part in rows.groupby("family"):
        dn, dt = collections.defaultdict(list), collections.defaultdict(list)
        for rid, sha in zip(part["record_id"], part["model_sha"], strict=True):
            if base.get(sha) not in prof:
                continue
            (_, _, n1, t1), (run0, _, n0, t0) = prof[rid], prof[base[sha]]
            for op in set(n1) | set(n0):
                dn[op].append(n1.get(op, 0) - n0.get(op, 0))
                dt[op].append((t1.get(op, 0.0) - t0.get(op, 0.0)) / run0)
        moved = sorted(dn, key=lambda o: -abs(float(np.median(dt[o]))))[:top]
        desc = ", ".join(f"{o} {np.median(dn[o]):+g} ({np.median(dt[o]):+.1%})" for o in moved)
        print(f"   {fam:<15} ratio {part['ratio'].median():.3f}: {desc}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="fits averaged in part 3 (>= 1)")
    ap.add_argument("--skip-oracles", action="store_true", help="leave out part 2")
    ap.add_argument("--ops-of", metavar="SETTING", help="part 4 for this setting (e.g. fp16)")
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    from advisor.predictors import training

    sel = training.select(HOST_DATA, "host", "onnxruntime-cpu")
    prof = _profiles(sel.records)
    profiles_vs_labels(sel.frame, prof)
    shipped, first = _fit(sel)
    if not args.skip_oracles:
        oracles(sel, prof, shipped)
    ensembles(sel, first, args.seeds)
    if args.ops_of:
        ops_of(sel.frame, prof, args.ops_of)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
