"""How good can a latency-ratio predictor get on the host data? Measurements that bound it.

    .venv/bin/python benchmarks/ceiling.py [--groups 10] [--skip-cv] [--learning-curve 0.25,0.5,0.75 [--seeds 2]]

1. Repeats. ``datasets/host-cpu/repeat-variants.jsonl.gz`` re-measured 395 variant records of 31
   networks an hour after the sweep, in new processes. Printed: the share of repeated ratios within
   +-10% of the original, per setting; how often the repeat falls inside the original's own 95%
   interval; and the correlation, across networks, of the repeat-minus-original differences of two
   settings of the same network. A positive correlation between settings that run the same kernels
   (``int8-static-pt`` / ``-pc``, ``chprune10`` / ``chprune25``) says that the measured ratios of a
   network move together from one measuring session to the next: no feature of the graph can
   predict that part.
2. Networks held out instead of families. The same training and evaluation as ``advisor evaluate``,
   but the folds are ``--groups`` random groups of networks, so every family is in every training
   set. This is what the predictor reaches when the architecture family is not new, an upper bound
   for the family-held-out figures (``advisor evaluate``), which the acceptance targets are set on.
   Also printed: how the model's residuals of related settings correlate, and its share within +-10%
   on the repeated variants against the sweep's ratio, the repeat's and their geometric mean (whether
   a label averaged over two sessions would turn misses into hits).

3. ``--learning-curve 0.25,0.5,0.75``: the family-held-out evaluation again, each fold fitted on that
   share of its training networks only (a seeded draw of whole networks; every held-out row still
   predicted), and on all of them. How the share within +-10% grows with the number of networks says
   whether more networks of the same families would close the gap to the target.

Prints figures; asserts nothing. Part 2 fits one suite per group (under a minute on the host); part 3
one suite per family and share (about 30 s a share).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from host_data import HOST_DATA, REPO

REPEATS = REPO / "datasets" / "host-cpu" / "repeat-variants.jsonl.gz"
# Pairs of settings whose graphs run the same kernel kinds, and pairs that share none.
RELATED = (("int8-static-pt", "int8-static-pc"), ("chprune25+int8-static-pc", "chprune50+int8-static-pc"),
           ("chprune10", "chprune25"), ("wq8", "wq4"))
UNRELATED = (("int8-static-pc", "chprune25"), ("fp16", "chprune50"), ("int8-dynamic", "wq8"))


def _ok_ratio(rec) -> float | None:
    r = (rec.get("ratio") or {}).get("ratio_median") if rec.get("status") == "ok" else None
    return float(r) if r else None


def _repeat_ratios() -> dict:
    """record id -> the repeat's ratio, for the repeated variants."""
    from profiling.records import read_records

    return {r["record_id"]: _ok_ratio(r) for r in read_records(REPEATS) if _ok_ratio(r)}


def _correlations(wide, pairs, label: str) -> None:
    """Print the correlation across networks (rows of ``wide``) of each pair of setting columns."""
    for a, b in pairs:
        if a in wide and b in wide:
            both = wide[[a, b]].dropna()
            r = np.corrcoef(both[a], both[b])[0, 1] if len(both) > 2 else float("nan")
            print(f"     {label:20s} {a:26s} {b:26s} r = {r:+.2f} ({len(both)} networks)")


def repeats_report(again: dict) -> None:
    import pandas as pd

    from profiling.records import read_records

    first = {}
    for path in HOST_DATA:
        for rec in read_records(path):
            if _ok_ratio(rec):
                first.setdefault(rec["record_id"], rec)
    rows = []
    for rid, rep in again.items():
        a = first.get(rid)
        if a is None:
            continue
        lo, hi = (a["ratio"].get("ratio_ci95") or [np.nan, np.nan])[:2]
        rows.append({"net": a["model"]["sha256"], "setting": a["setting"]["name"], "orig": _ok_ratio(a),
                     "rep": rep, "inside": lo <= rep <= hi})
    d = pd.DataFrame(rows)
    d["diff"] = np.log(d["rep"] / d["orig"])
    d["within"] = np.abs(d["rep"] / d["orig"] - 1.0) <= 0.1
    print(f"1. repeats: {len(d)} variant ratios of {d['net'].nunique()} networks measured again in new processes")
    print(f"   repeat within +-10% of the original: {d['within'].mean():.1%}; "
          f"inside the original's 95% interval: {d['inside'].mean():.1%}")
    print(f"   {'setting':26s} {'n':>3s} {'within 10%':>11s} {'median |diff|':>14s}")
    for name, g in d.groupby("setting"):
        print(f"   {name:26s} {len(g):3d} {g['within'].mean():10.0%} {np.median(np.abs(g['diff'])) * 100:13.1f}%")
    wide = d.pivot_table(index="net", columns="setting", values="diff")
    print("   correlation across networks of the repeat-minus-original log differences of two settings:")
    _correlations(wide, RELATED, "same kernels")
    _correlations(wide, UNRELATED, "different kernels")


def networks_held_out(groups: int, again: dict) -> None:
    from advisor.predictors import training

    sel = training.select(HOST_DATA, "host", "onnxruntime-cpu")
    frame = sel.frame
    nets = np.array(sorted(frame["model_sha"].unique()))
    draw = np.random.default_rng(0).integers(0, groups, len(nets))
    family = frame["family"].to_numpy()
    frame["family"] = frame["model_sha"].map(dict(zip(nets, [f"group-{g}" for g in draw], strict=True)))
    rep, oof = training.evaluate_selection(sel)
    r = rep["targets"]["ratio"]["methods"]["model"]
    print(f"2. networks held out ({groups} random groups of networks; every family in every training set)")
    print(f"   ratio: median error {r['median_abs_err_pct']:.2f}%, within +-10% {r['within_tol']:.1%}, "
          f"per-network Spearman {r['spearman_median']:.3f}, 90% interval coverage {r['coverage']:.1%}")
    var = (oof["setting"] != "none").to_numpy() & np.isfinite(oof["ratio"].to_numpy())
    ok = np.abs(np.exp(oof["pred_log_ratio"].to_numpy()) / oof["ratio"].to_numpy() - 1.0) <= 0.1
    res = oof[var].assign(res=oof["pred_log_ratio"][var] - np.log(oof["ratio"][var]))
    print("   correlation across networks of the model's log errors on two settings:")
    _correlations(res.pivot_table(index="model_sha", columns="setting", values="res"), RELATED + UNRELATED, "residuals")
    sub = oof[var & oof["record_id"].isin(again).to_numpy()]
    pred, first = np.exp(sub["pred_log_ratio"].to_numpy()), sub["ratio"].to_numpy()
    second = sub["record_id"].map(again).to_numpy(float)
    print(f"   on the {len(sub)} repeated variants, within +-10% of the sweep's ratio / the repeat's / their "
          "geometric mean: " + " / ".join(f"{np.mean(np.abs(pred / lab - 1) <= 0.1):.1%}"
                                          for lab in (first, second, np.sqrt(first * second)))
          + "; median error " + " / ".join(f"{np.median(np.abs(pred / lab - 1)) * 100:.2f}%"
                                         for lab in (first, second, np.sqrt(first * second))))
    print(f"   {'family':16s} {'within 10%':>11s}")
    fam = family[var]
    for name in sorted(set(fam), key=lambda f: ok[var][fam == f].mean()):
        print(f"   {name:16s} {ok[var][fam == name].mean():10.0%}")


def learning_curve(shares: list[float], seeds: int) -> None:
    import functools

    import pandas as pd

    from advisor.predictors import evaluate, training
    from advisor.predictors.encoding import SettingEncoder, design_matrix
    from advisor.predictors.suite import energy_spec_of, fit_suite, layer_index, predict_frame

    sel = training.select(HOST_DATA, "host", "onnxruntime-cpu")
    frame = sel.frame
    spec, names = energy_spec_of(sel.records, frame), training.known_settings(frame)
    design, layers = design_matrix(frame, SettingEncoder(names)), layer_index(frame)
    nets = np.array(sorted(frame["model_sha"].unique()))
    var = (frame["setting"] != "none").to_numpy() & np.isfinite(frame["ratio"].to_numpy())

    def fold(fam: str, keep: set):
        train = frame[(frame["family"] != fam) & frame["model_sha"].isin(keep)]
        suite = fit_suite(train, names, spec, None, design, layers)
        return predict_frame(suite, frame[frame["family"] == fam], design, native=True, layers=layers)

    print("3. learning curve (families held out; each fold fitted on a share of its training networks)")
    print(f"   {'share':>6s} {'seed':>4s} {'networks':>8s} {'within 10%':>11s} {'median error':>13s}")
    for share in sorted(set(shares)) + [1.0]:
        for seed in range(seeds if share < 1.0 else 1):
            keep = set(nets) if share >= 1.0 else set(nets[np.random.default_rng(seed).random(len(nets)) < share])
            jobs = [functools.partial(fold, fam, keep) for fam in sorted(frame["family"].unique())]
            pred = pd.concat(evaluate.run_jobs(jobs)).loc[frame.index]
            err = np.abs(np.exp(pred["pred_log_ratio"].to_numpy()[var]) / frame["ratio"].to_numpy()[var] - 1.0)
            print(f"   {share:6.2f} {seed:4d} {len(keep):8d} {np.mean(err <= 0.1):10.1%} {np.median(err) * 100:12.2f}%",
                  flush=True)


def _shares(text: str) -> list[float]:
    try:
        out = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected shares like 0.25,0.5, got {text!r}") from None
    if not out or not all(0.0 < v < 1.0 for v in out):
        raise argparse.ArgumentTypeError(f"shares must lie strictly between 0 and 1, got {text!r}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=10, help="random groups of networks held out in turn")
    ap.add_argument("--skip-cv", action="store_true", help="skip part 2 (networks held out)")
    ap.add_argument("--learning-curve", type=_shares, metavar="SHARES",
                    help="also part 3: comma-separated shares of training networks, e.g. 0.25,0.5,0.75")
    ap.add_argument("--seeds", type=int, default=2, help="draws of networks per share (part 3)")
    args = ap.parse_args()
    if args.groups < 2:
        print(f"error: --groups must be at least 2, got {args.groups}", file=sys.stderr)
        return 2
    if args.seeds < 1:
        print(f"error: --seeds must be at least 1, got {args.seeds}", file=sys.stderr)
        return 2
    again = _repeat_ratios()
    repeats_report(again)
    if not args.skip_cv:
        networks_held_out(args.groups, again)
    if args.learning_curve:
        learning_curve(args.learning_curve, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
