"""How the held-out latency-ratio figure grows with training data: would more networks, or more
families, close the gap to the 85% target? Families held out as ``advisor evaluate`` does, seed 0.

    .venv/bin/python benchmarks/learning_curve.py [--draws 2]

Every fold scores the same rows (all of the held-out family's variants); only the training rows shrink:

1. **Networks per family.** Each fold is trained on a share (25%, 50%, 75%, 100%) of every other
   family's networks, drawn by network (a hash of its sha256 and the draw), so a network's settings stay
   together.
2. **Families.** Each fold is trained on all the networks of ``k`` of the other families, drawn at
   random per fold and draw (k = 4, 8, 12, 16, and all of them).

``--part networks`` or ``--part families`` runs one of the two.

Prints the share of variant ratios within +-10% per point (mean over ``--draws`` draws, and each draw).
Asserts nothing. About 2 minutes a point on two cores with the five ratio forests (14 points with two
draws).
"""
from __future__ import annotations

import argparse
import hashlib

import numpy as np
from host_data import HOST_DATA

SHARES = (0.25, 0.5, 0.75, 1.0)
FAMILY_COUNTS = (4, 8, 12, 16)  # and all the other families


def _kept(sha: str, share: float, draw: int) -> bool:
    """Whether network ``sha`` is in the ``share`` drawn for ``draw`` (uniform in [0, 1) by hash)."""
    return int(hashlib.sha256(f"{sha}:{draw}".encode()).hexdigest()[:8], 16) / 2**32 < share


def _within(sel, design, layers, names, spec, train_of) -> float:
    """Share within +-10% over every held-out variant, each family predicted by a suite fitted on the
    other families' rows in ``train_of(family)`` (a boolean mask over the frame's rows)."""
    from advisor.predictors.base import seed_params
    from advisor.predictors.evaluate import assemble_folds, fold_jobs, run_jobs, within_tol

    f = sel.frame
    pred = assemble_folds(f, run_jobs(fold_jobs(f, names, spec, seed_params(0), None, design, layers,
                                                train_of=train_of)))["pred_log_ratio"]
    v = f[(f["setting"] != "none") & (f["ratio"] > 0)]
    err = pred.reindex(v.index).to_numpy(float) - np.log(v["ratio"].to_numpy(float))
    return float(within_tol(err[np.isfinite(err)]).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=2, help="draws per point below 100%% / all the other families")
    ap.add_argument("--part", choices=("both", "networks", "families"), default="both", help="which curve to run")
    args = ap.parse_args()

    from advisor.predictors.encoding import SettingEncoder, design_matrix
    from advisor.predictors.suite import energy_spec_of, layer_index
    from advisor.predictors.training import known_settings, select

    sel = select(HOST_DATA, "host", "onnxruntime-cpu")
    f = sel.frame
    names = known_settings(f)
    spec = energy_spec_of(sel.records, f)
    design = design_matrix(f, SettingEncoder(names))
    layers = layer_index(f)
    families = sorted(f["family"].unique())
    sha = f["model_sha"].to_numpy(object)
    fam_col = f["family"].to_numpy(object)
    print(f"host/onnxruntime-cpu: {f['model_sha'].nunique()} networks, {len(families)} families; "
          "ratio within +-10%, families held out, seed 0")

    others = len(families) - 1
    shares = SHARES if args.part != "families" else ()
    counts = [k for k in FAMILY_COUNTS if k < others] + [others] if args.part != "networks" else []
    if shares:
        print("1. Networks per family (share of each training family's networks)")
    for share in shares:
        figs = []
        for draw in range(1 if share >= 1 else args.draws):
            mask = np.array([_kept(s, share, draw) for s in sha])
            figs.append(_within(sel, design, layers, names, spec, lambda fam, m=mask: m))
        print(f"   {share:>5.0%} of the networks: {np.mean(figs):.1%}  ({', '.join(f'{x:.1%}' for x in figs)})")

    if counts:
        print(f"2. Families (k of the {others} others, drawn per fold)")
    for k in counts:
        figs = []
        for draw in range(1 if k >= others else args.draws):
            rng = np.random.default_rng(1000 * k + draw)
            chosen = {fam: set(rng.choice([x for x in families if x != fam], size=k, replace=False))
                      for fam in families}
            figs.append(_within(sel, design, layers, names, spec,
                                lambda fam, c=chosen: np.isin(fam_col, list(c[fam]))))
        print(f"   {k:>2} families: {np.mean(figs):.1%}  ({', '.join(f'{x:.1%}' for x in figs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
