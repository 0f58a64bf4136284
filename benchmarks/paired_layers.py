"""Is the layer-time model's MAC-time ratio wrong because its training profiles drift, or because the
layer rows do not hold what sets a layer's speed? Answered on drift-free profiles of a sample.

    .venv/bin/python benchmarks/paired_layers.py [--per-family 8] [--families ...] [--settings ...]

1. A seeded sample of ``--per-family`` generated networks of each of ``--families`` is rebuilt from the
   zoo (sha256 checked) and compressed with each of ``--settings`` (``label_noise.prepare``). Each
   variant is profiled alternately with its original in one process (``ort_session.node_profile_pair``,
   30 pairs): both profiles share the process's drift, so the ratio of their MAC-layer times (the
   records' layer aliases, ``kernels.layer_times``) is the reference here.
2. Against it, per setting, the share within +-10% of: the layer-time model as the suite fits it (a
   sample of 20,000 layers) on all networks, and with the variant's family held out; the records' own
   profiles (original and variant each profiled alone, in processes of their own); the share-based
   estimate of ``layer_model_limits.py`` (measured ratio x MAC shares). Also the paired profiles'
   totals (2 us a node taken off) against the measured ratio.
3. In-sample, one depth-10 forest of 600 trees on every profiled layer (as ``layer_model_limits.py
   --in-sample``), scored on the sample: A, trained on the records as they are; B, the sampled
   networks' records given the paired layer times (their original's: the median over its pairs) and
   their other records left out. If B fits where A does not, drift in the training profiles is what
   held the fit back; where B does not fit either, the rows lack what sets those layers' speed.

Prints figures; asserts nothing. With the defaults (250 variants) about 4 minutes. Measure on a quiet
machine: nothing else running.
"""
from __future__ import annotations

import argparse
import logging
import random
import tempfile
from pathlib import Path

import numpy as np
from host_data import HOST_DATA
from layer_model_limits import PROFILER_US_PER_NODE, _node_totals, mac_shares

from advisor.predictors.evaluate import within_tol

FAMILIES = "residual,dense,plain,squeeze-excite,depthwise,multibranch,unet,convnext"
SETTINGS = "chprune50,chprune25,int8-static-pt,wq8"


def sample(records, families: list[str], settings: list[str], per_family: int, seed: int = 0) -> list[dict]:
    by = {(r["model"]["name"], r["setting"]["name"]): r for r in records
          if r.get("status") == "ok" and r["model"].get("kind") == "generated" and r["model"].get("family") in families}
    nets: dict[str, list[str]] = {}
    for name, setting in by:
        if setting == "none":
            nets.setdefault(by[(name, setting)]["model"]["family"], []).append(name)
    rng = random.Random(seed)
    picked = [n for f in families for n in rng.sample(sorted(nets.get(f, [])), min(per_family, len(nets.get(f, []))))]
    return [{"rid": by[(n, s)]["record_id"], "name": n, "sha": by[(n, s)]["model"]["sha256"],
             "family": by[(n, s)]["model"]["family"], "setting": s, "ratio": by[(n, s)]["ratio"]["ratio_median"],
             "aliases0": by[(n, "none")]["setting"]["structure"]["aliases1"],
             "aliases1": by[(n, s)]["setting"]["structure"]["aliases1"]}
            for n in picked for s in settings if (n, s) in by]


def profile_pairs(items: list[dict], work: Path) -> list[dict]:
    from label_noise import prepare

    from advisor.predictors import kernels
    from profiling.runtimes.ort_session import node_profile_pair

    out = []
    for it in prepare(items, work):
        b, v = node_profile_pair(it["base"], it["variant"], runs=30)
        l0, l1 = kernels.layer_times(it["aliases0"], b["nodes"]), kernels.layer_times(it["aliases1"], v["nodes"])
        cost = PROFILER_US_PER_NODE
        total = (sum(e[2] for e in v["nodes"]) - cost * len(v["nodes"])) / (sum(e[2] for e in b["nodes"]) -
                                                                           cost * len(b["nodes"]))
        out.append({**it, "l0": l0, "l1": l1, "pair": sum(l1) / sum(l0), "pair_total": total})
    return out


def _ratios(kernel, fr, layers) -> np.ndarray:
    t0, t1 = kernel.totals(list(fr["k_layers0"]) + list(fr["k_layers1"]), True, layers).reshape(2, -1)
    return t1 / t0


def _big_fit(frame, layers):
    from advisor.predictors import kernels

    rows = frame[[u is not None for u in frame["k_us"]]]
    model = kernels.KernelModel(max_layers=10**7, members=1,  # one large forest, as before the members
                                profiler_node_us=0.0,  # scored against profiled times: none taken off
                                xgb_params={"max_depth": 10, "n_estimators": 600, "learning_rate": 0.1, "max_bin": 256})
    return model.fit_indexed(layers, layers.row_ids(layers.slots(list(rows["k_layers1"]))),
                             [t for ts in rows["k_us"] for t in ts])


def _table(d, cols: dict) -> None:
    print(f"   {'setting':<16} {'n':>4}  " + "  ".join(f"{c:>{max(len(c), 6)}}" for c in cols))
    groups = [*d.groupby("setting"), ("all", d)]
    for s, g in groups:
        vals = [f"{within_tol(np.log(g[c] / g[ref])).mean():>{max(len(name), 6)}.0%}" for name, (c, ref) in cols.items()]
        print(f"   {s:<16} {len(g):>4}  " + "  ".join(vals))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=8)
    ap.add_argument("--families", default=FAMILIES)
    ap.add_argument("--settings", default=SETTINGS)
    args = ap.parse_args()
    import pandas as pd

    from advisor.predictors import suite, training

    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's per-weight warnings
    sel = training.select(HOST_DATA, "host", "onnxruntime-cpu")
    items = sample(sel.records, args.families.split(","), args.settings.split(","), args.per_family)
    with tempfile.TemporaryDirectory() as tmp:
        d = pd.DataFrame(profile_pairs(items, Path(tmp)))
    f = sel.frame
    layers = suite.layer_index(f)
    fr = f.set_index("record_id").loc[d["rid"]]
    print(f"1. {len(d)} variants of {d['name'].nunique()} networks profiled beside their originals")
    d["all"] = _ratios(suite.fit_kernel(f, layers), fr, layers)
    d["held"] = np.nan
    for fam in d["family"].unique():
        m = (d["family"] == fam).to_numpy()
        d.loc[m, "held"] = _ratios(suite.fit_kernel(f[f["family"] != fam], layers), fr[m], layers)
    base = f[f["setting"] == "none"].drop_duplicates("model_sha").set_index("model_sha")
    d["alone"] = (fr["k_us"].map(sum).to_numpy() / fr["model_sha"].map(base["k_us"].map(sum)).to_numpy())
    totals = _node_totals(sel.records)

    share = pd.Series(mac_shares(f, totals).to_numpy(), index=f["record_id"])
    s1 = share.loc[fr.index].to_numpy()
    s0 = share.loc[base.loc[fr["model_sha"], "record_id"]].to_numpy()
    d["shares"] = d["ratio"] * s1 / s0
    print("2. Within +-10% of the paired MAC-time ratio (last column: the paired totals against the measured ratio)")
    _table(d, {"model, all networks": ("all", "pair"), "family held out": ("held", "pair"),
               "profiled alone": ("alone", "pair"), "shares x ratio": ("shares", "pair"),
               "paired totals": ("pair_total", "ratio")})
    d["A"] = _ratios(_big_fit(f, layers), fr, layers)
    f2 = f.copy()
    index = dict(zip(f2["record_id"], f2.index, strict=True))
    for rid, l1 in zip(d["rid"], d["l1"], strict=True):
        f2.at[index[rid], "k_us"] = tuple(l1)
    for sha, g in d.groupby(fr["model_sha"].to_numpy()):
        f2.at[index[base.loc[sha, "record_id"]], "k_us"] = tuple(np.median(np.array(list(g["l0"])), axis=0))
    nets = set(fr["model_sha"])
    keep = ~(f2["model_sha"].isin(nets) & ~f2["record_id"].isin(set(d["rid"])) & (f2["setting"] != "none"))
    d["B"] = _ratios(_big_fit(f2[keep], layers), fr, layers)
    print("3. In-sample, a depth-10 forest of 600 trees on every layer, within +-10% of the paired MAC-time ratio")
    _table(d, {"A: records as they are": ("A", "pair"), "B: sample given paired times": ("B", "pair")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
