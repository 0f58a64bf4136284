"""Where the host's latency-ratio misses sit, and how much of them the layer-time model
(``advisor.predictors.kernels``) carries. Families held out as ``advisor evaluate`` does, seed 0.

    .venv/bin/python benchmarks/layer_model_limits.py [--variants]

1. Misses by grouping: the share within +-10% as shipped; with the median error of each
   (family, setting) taken off every row of it (what a perfect per-family correction would give); with
   the median error of each (network, setting group) taken off (the error a network shares across
   related settings, e.g. int8-static per-tensor and per-channel).
2. The layer-time model's part. A variant's ratio is R = s0 * rM + (1 - s0) * rO, with s0 the original's
   MAC-layer share of its profiled time, rM the MAC-layer time ratio and rO the ratio of the rest. The
   profiles' shares (each node's time less the profiler's 2 us) and the measured R give rM and rO per
   variant (shares, unlike absolute profiled times, do not carry the process-to-process drift). Per setting: the share of the layer-time model's
   rM (fitted on the other families, as in each fold) within +-10% of the profiles' one, and the share
   of R within +-10% when rM is the model's and everything else is the profiles' (a perfect model of
   the rest). ``--in-sample``: the same with one large layer-time model (depth 10, 600 trees) fitted on
   every profiled layer of every network and scored on those networks: how well the layer rows can
   price their own layers at all.
3. The layer rows: how many distinct (network, row) pairs the profiles hold, how many rows occur in one
   network only, and how far the profiled times of one row spread across the networks that share it
   (median absolute deviation of log time, originals).
4. ``--variants``: the whole evaluation again with the layer-time model trained differently (about 50 s
   each): ``pooled-scale`` (each profile rescaled to its network's pooled latency times the measured
   ratio, less 2 us a profiled node: the fitted per-node profiler cost), ``float-pair-scale`` (only the
   profiles of settings that keep the graph's nodes, channel pruning, sparsity and wq16, rescaled to
   their original's profile times the measured ratio), ``distinct-rows`` (one row per distinct
   (network, layer row), at its median time, all of them), ``ridge-base`` (the trees fitted on the
   residual of a ridge regression, quadratic in the log shapes, one per kernel verdict).

Prints figures; asserts nothing. Parts 1-3 take about 1.5 minutes; ``--variants`` about 4 more.
"""
from __future__ import annotations

import argparse
import collections
import contextlib

import numpy as np
from host_data import HOST_DATA

from advisor.predictors.evaluate import within_tol

PROFILER_US_PER_NODE = 2.0  # profiled node time = latency + this per node (robust fit, 683 originals)
KEEPS_NODES = ("chprune10", "chprune25", "chprune50", "chprune25-a8", "chprune50-a8", "sparse50", "sparse75",
               "sparse90", "wq16")


def _node_totals(records) -> dict:
    """record id -> (sum of profiled node times in us, node count)."""
    out = {}
    for r in records:
        prof = r.get("node_profile") if r.get("status") == "ok" else None
        if prof and prof.get("nodes"):
            out[r["record_id"]] = (float(sum(e[2] for e in prof["nodes"])), len(prof["nodes"]))
    return out


def _evaluate(sel):
    from advisor.predictors import training

    rep, oof = training.evaluate_selection(sel)
    return rep, oof


def _line(label: str, rep: dict) -> str:
    r = rep["targets"]["ratio"]["methods"]["model"]
    return (f"   {label:<20} within +-10% {r['within_tol']:.1%}  median {r['median_abs_err_pct']:.2f}%  "
            f"p90 {r['p90_abs_err_pct']:.1f}%  rho {r['spearman_median']:.3f}")


def misses(oof) -> None:
    v = oof[oof["setting"] != "none"]
    err = v["pred_log_ratio"] - np.log(v["ratio"])
    by_fam = err - err.groupby([v["family"], v["setting"]]).transform("median")
    by_net = err - err.groupby([v["model_sha"], v["setting_family"]]).transform("median")
    print("1. Misses by grouping (ratio within +-10%)")
    print(f"   as shipped {within_tol(err).mean():.1%}; median error of each (family, setting) taken off "
          f"{within_tol(by_fam).mean():.1%}; of each (network, setting group) {within_tol(by_net).mean():.1%}")


def mac_shares(frame, totals: dict):
    """Each row's MAC-layer share of its record's profiled time (``_node_totals``), both sums less the
    profiler's cost of each node they hold (``PROFILER_US_PER_NODE``): a fixed cost per node would
    otherwise lower the MAC share of a pruned (faster) variant with the same nodes. NaN without a profile."""
    mac = frame["k_us"].map(lambda us: float(sum(u - PROFILER_US_PER_NODE for u in us if u > 0)) if us is not None
                            else np.nan)
    tot = frame["record_id"].map(lambda i: totals.get(i, (np.nan, 0))[0] -
                                 PROFILER_US_PER_NODE * totals.get(i, (0, 0))[1])
    return mac / tot


def mac_part(sel, oof, totals: dict, in_sample: bool = False) -> None:
    import pandas as pd

    from advisor.predictors import kernels, suite

    f = sel.frame
    layers = suite.layer_index(f)
    v = oof[(oof["setting"] != "none")].copy()
    v["kern"] = np.nan
    big = None
    if in_sample:  # one large forest on every profiled layer of every network, scored on the same networks
        rows = f[[u is not None for u in f["k_us"]]]
        big = kernels.KernelModel(max_layers=10**7, members=1,  # one large forest, as before the members
                                  xgb_params={"max_depth": 10, "n_estimators": 600, "learning_rate": 0.1, "max_bin": 256})
        big.fit_indexed(layers, layers.row_ids(layers.slots(list(rows["k_layers1"]))),
                        [t for ts in rows["k_us"] for t in ts])
    for fam in sorted(f["family"].unique()):
        kernel = big or suite.fit_kernel(f[f["family"] != fam], layers)
        test = v[v["family"] == fam]
        if kernel is None or test.empty:
            continue
        t0, t1 = kernel.totals(list(f.loc[test.index, "k_layers0"]) + list(f.loc[test.index, "k_layers1"]), True,
                               layers).reshape(2, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            v.loc[test.index, "kern"] = t1 / t0
    share = mac_shares(f, totals)
    base = f[f["setting"] == "none"].drop_duplicates("model_sha")
    s0 = v["model_sha"].map(dict(zip(base["model_sha"], share.loc[base.index], strict=True)))
    s1 = share.loc[v.index]
    R = v["ratio"]
    rM, rO = R * s1 / s0, R * (1 - s1) / (1 - s0)
    only_mac = s0 * v["kern"] + (1 - s0) * rO
    ok = np.isfinite(rM) & np.isfinite(v["kern"]) & np.isfinite(rO) & (rO > 0) & (v["kern"] > 0)
    v = v[ok]
    kerr = pd.Series(within_tol(np.log(v["kern"] / rM[ok])), v.index)
    hit = pd.Series(within_tol(v["pred_log_ratio"] - np.log(v["ratio"])), v.index)
    hit_mac = pd.Series(within_tol(np.log(only_mac[ok] / v["ratio"])), v.index)
    print(f"2. The layer-time model's part ({len(v)} variants with profiles"
          + ("; --in-sample: one depth-10 forest of 600 trees fitted on every layer of every network)" if in_sample
             else ")"))
    print(f"   {'setting':<26} {'n':>4}  model's MAC ratio within +-10%  ratio within +-10%: as shipped / rest perfect")
    for s, idx in v.groupby("setting").groups.items():
        print(f"   {s:<26} {len(idx):>4}  {kerr.loc[idx].mean():>30.0%}  {hit.loc[idx].mean():>19.0%} / "
              f"{hit_mac.loc[idx].mean():.0%}")
    print(f"   {'all':<26} {len(v):>4}  {kerr.mean():>30.0%}  {hit.mean():>19.1%} / {hit_mac.mean():.1%}")
    if not in_sample:  # how far a record's profile drifts as a whole
        raw_sum = f["k_us"].map(lambda us: float(sum(us)) if us is not None else np.nan)
        m0 = v["model_sha"].map(dict(zip(base["model_sha"], raw_sum.loc[base.index], strict=True)))
        raw = pd.Series(within_tol(np.log(raw_sum.loc[v.index] / m0 / rM[ok])), v.index)
        same = v["setting"].str.startswith(("sparse", "wq16"))
        print(f"   the profiled MAC-layer time over the original's (two processes) within +-10% of rM: {raw.mean():.0%} "
              f"({raw[same].mean():.0%} of the sparse and wq16 variants, whose work is the original's)")


def layer_rows(sel) -> None:
    f = sel.frame
    f = f[[u is not None for u in f["k_us"]]]
    pairs = {(sha, r) for sha, ls in zip(f["model_sha"], f["k_layers1"], strict=True) for r in ls}
    base = f[f["setting"] == "none"].drop_duplicates("model_sha")
    times = collections.defaultdict(dict)
    for sha, ls, us in zip(base["model_sha"], base["k_layers1"], base["k_us"], strict=True):
        for r, u in zip(ls, us, strict=True):
            if u > 0.5:
                times[r].setdefault(sha, np.log(u))
    nets = collections.Counter(len(t) for t in times.values())
    spread = [np.median(np.abs(x - np.median(x))) for x in (np.array(list(t.values())) for t in times.values())
              if len(x) >= 3]
    print("3. Layer rows")
    print(f"   {len(pairs)} distinct (network, row) pairs in all records; of the originals' {len(times)} distinct rows, "
          f"{nets[1] / len(times):.0%} occur in one network only, {len(spread)} in 3 or more")
    print(f"   one row's profiled time across the networks that share it: median absolute deviation "
          f"{np.median(spread):.1%} (log scale)")


@contextlib.contextmanager
def _kernel_variant(name: str, sel, totals: dict):
    """Fits inside run with the layer-time model trained as ``name`` (an experiment hook)."""
    from advisor.predictors import kernels, suite

    f = sel.frame
    saved_us, saved_fit, saved_trees, saved_times = (f["k_us"].copy(), suite.fit_kernel, kernels.KernelModel._fit_trees,
                                                     kernels.KernelModel.row_times)
    if name in ("pooled-scale", "float-pair-scale"):
        base = f[f["setting"] == "none"].drop_duplicates("model_sha").set_index("model_sha")
        pooled = (base["baseline_pooled_ms"].fillna(base["latency_ms"]) * 1000.0).to_dict()
        p0 = {sha: totals.get(rid, (np.nan, 0))[0] for sha, rid in base["record_id"].items()}
        new = []
        for rid, us, setting, sha, ratio in zip(f["record_id"], f["k_us"], f["setting"], f["model_sha"], f["ratio"],
                                                 strict=True):
            p, n = totals.get(rid, (np.nan, 0))
            r = 1.0 if setting == "none" else float(ratio)
            if name == "pooled-scale":
                padj = p - PROFILER_US_PER_NODE * n
                scale = r * pooled.get(sha, np.nan) / padj if padj > 0.2 * p else np.nan
            else:
                scale = r * p0.get(sha, np.nan) / p if setting in KEEPS_NODES else np.nan
            new.append(tuple(u * scale for u in us) if us is not None and np.isfinite(scale) else us)
        f["k_us"] = new
    elif name == "distinct-rows":
        def fit_distinct(frame, layers=None, seed=0):
            rows = frame[[u is not None for u in frame["k_us"]]]
            times, fams = collections.defaultdict(list), {}
            for sha, fam, ls, us in zip(rows["model_sha"], rows["family"], rows["k_layers1"], rows["k_us"], strict=True):
                for r, u in zip(ls, us, strict=True):
                    if u > 0.5:
                        times[(sha, r)].append(u)
                        fams[(sha, r)] = fam
            keys = list(times)
            model = kernels.KernelModel(max_layers=len(keys)).fit([k[1] for k in keys],
                                                                  [float(np.median(times[k])) for k in keys],
                                                                  [fams[k] for k in keys])
            return model if model.usable else None

        suite.fit_kernel = fit_distinct
    elif name == "ridge-base":
        from advisor.predictors.base import booster_predict, fit_booster

        shape = ["l_log_c_out", "l_log_c_in", "l_log_positions", "l_log_window"]

        def design(M, groups):
            z = [M[c].to_numpy(float) for c in shape]
            B = np.stack([np.ones(len(M)), *z, *[a * b for i, a in enumerate(z) for b in z[i:]],
                          M["l_pow2_c_out"].to_numpy(float), M["l_pow2_c_in"].to_numpy(float)], 1)
            return np.concatenate([B] + [B * M[g].to_numpy(float)[:, None] for g in groups], 1)

        def fit_trees(self, matrices, samples):  # one member: its first sample
            us = samples[0]
            self.n_layers_, self.target_, self.boosters_ = len(us), self.TARGET, []
            if len(us) >= self.min_layers:
                X = matrices[0]()
                y = np.log(us) - X["l_log_macs"].to_numpy()
                self.groups_ = [c for c in X.columns if c.startswith("l_verdict=")]
                D = design(X, self.groups_)
                self.mu_, self.sd_ = D.mean(0), np.where(D.std(0) > 0, D.std(0), 1.0)
                self.mu_[0], self.sd_[0] = 0.0, 1.0
                Dn = (D - self.mu_) / self.sd_
                A = Dn.T @ Dn + 30.0 * np.eye(D.shape[1])
                A[0, 0] -= 30.0
                self.beta_ = np.linalg.solve(A, Dn.T @ y)
                params = {"max_depth": 6, "n_estimators": 100, "learning_rate": 0.15, **(self.xgb_params or {})}
                self.boosters_ = [fit_booster(X, y - Dn @ self.beta_, params)]
            return self

        def row_times(self, index, native=False):
            M = self._matrix(None, index)
            base = ((design(M, self.groups_) - self.mu_) / self.sd_) @ self.beta_
            return np.exp(booster_predict(self.boosters_[0], M, native) + base + M["l_log_macs"].to_numpy())

        kernels.KernelModel._fit_trees, kernels.KernelModel.row_times = fit_trees, row_times
    try:
        yield
    finally:
        f["k_us"] = saved_us
        suite.fit_kernel, kernels.KernelModel._fit_trees, kernels.KernelModel.row_times = (saved_fit, saved_trees,
                                                                                          saved_times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", action="store_true", help="part 4: evaluate four ways of training the model")
    ap.add_argument("--in-sample", action="store_true",
                    help="part 2 also with one large layer-time model fitted on all networks (about 1 minute)")
    args = ap.parse_args()
    from advisor.predictors import training

    sel = training.select(HOST_DATA, "host", "onnxruntime-cpu")
    totals = _node_totals(sel.records)
    shipped, oof = _evaluate(sel)
    misses(oof)
    mac_part(sel, oof, totals)
    if args.in_sample:
        mac_part(sel, oof, totals, in_sample=True)
    layer_rows(sel)
    if args.variants:
        print("4. The layer-time model trained differently (families held out, seed 0)")
        print(_line("as shipped", shipped))
        for name in ("pooled-scale", "float-pair-scale", "distinct-rows", "ridge-base"):
            with _kernel_variant(name, sel, totals):
                print(_line(name, _evaluate(sel)[0]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
