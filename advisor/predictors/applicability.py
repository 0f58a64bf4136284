"""Which training networks a new network resembles, and how far it lies from all of them.

The held-out figures of a bundle are per architecture family (``evaluation.per_family_ratio``): on
the host, a family held out had 68% (MLPs) to 99% (GRUs) of its ratios within +-10%. A network's own
figure is better told by the families it resembles than by the mean. ``fit`` keeps each training
network's graph make-up -- the MAC shares of its op kinds and its size, the ``advisor inspect``
features in ``FEATURES`` -- standardised, with its family; ``describe`` finds a new network's ``K``
nearest training networks and says which families they belong to and how far the nearest is, against
how far each training network's nearest network of *another* family is (the situation of a family
held out). The bundle keeps the table as its file ``applicability.json`` (sha256-checked like the
models) and a summary in ``manifest["applicability"]``; bundles without it describe nothing.
"""
from __future__ import annotations

import json
import math
import numbers

import numpy as np

# Op-kind MAC shares (what runs) and size (how much); logs of the sizes.
SHARES = ("share_conv", "share_conv_depthwise", "share_conv_grouped", "share_gemm", "share_matmul_dynamic",
          "share_recurrent", "share_elementwise_flops")
LOGS = ("macs_total", "params_total", "n_compute_nodes", "activation_bytes_total")
FEATURES = SHARES + LOGS
K = 5
FILE = "applicability.json"
SUMMARY = ("features", "k", "other_family_distance", "held_out_check")  # what the manifest repeats


def to_file(table: dict) -> tuple[dict, bytes]:
    """(the manifest's summary, the file's bytes) of a table (``fit``, with ``held_out_check``)."""
    return ({"file": FILE, **{k: table[k] for k in SUMMARY if k in table}},
            json.dumps(table, separators=(",", ":")).encode())


def from_file(raw: bytes | None) -> dict | None:
    """The table in a bundle's ``FILE`` bytes (None without the file, or when it is not one)."""
    if raw is None:
        return None
    try:
        table = json.loads(raw)
        n = len(table["points"])
        ok = (n == len(table["families"]) and len(table["center"]) == len(table["scale"]) == len(table["features"])
              and all(len(p) == len(table["features"]) for p in table["points"]) and table["other_family_distance"]["p90"] >= 0)
    except (ValueError, KeyError, TypeError):
        return None
    return table if ok and tuple(table["features"]) == FEATURES else None


def _vector(values: dict) -> np.ndarray | None:
    """The ``FEATURES`` of one network (feature name -> value) as numbers; None when one is missing."""
    out = []
    for name in FEATURES:
        v = values.get(name)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            return None
        out.append(math.log10(max(float(v), 1.0)) if name in LOGS else float(v))
    return np.array(out)


def fit(frame) -> dict | None:
    """The table ``describe`` reads, from a training frame's uncompressed rows (``f_<feature>`` columns,
    ``family``); None without such rows (or with fewer than two families)."""
    base = frame[frame["setting"] == "none"].drop_duplicates(subset=["model_sha"])
    cols = [f"f_{n}" for n in FEATURES]
    if base.empty or not set(cols) <= set(base.columns):
        return None
    rows = [(_vector(dict(zip(FEATURES, r, strict=True))), fam)
            for r, fam in zip(base[cols].to_numpy(float), base["family"], strict=True)]
    rows = [(v, f) for v, f in rows if v is not None]
    families = sorted({f for _, f in rows})
    if len(families) < 2:
        return None
    X = np.array([v for v, _ in rows])
    center, scale = X.mean(0), X.std(0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (X - center) / scale
    fam = np.array([f for _, f in rows], dtype=object)
    d = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1))
    other = np.where(fam[:, None] != fam[None, :], d, np.inf).min(1)  # to the nearest network of another family
    return {"features": list(FEATURES), "log10": list(LOGS), "center": center.round(6).tolist(),
            "scale": scale.round(6).tolist(), "points": Z.round(4).tolist(), "families": fam.tolist(), "k": K,
            "other_family_distance": {"median": round(float(np.median(other)), 4),
                                      "p90": round(float(np.quantile(other, 0.9)), 4)}}


def describe(table: dict | None, values: dict, per_family: dict | None = None) -> dict | None:
    """For a network's features ``values``: ``neighbours`` (family -> how many of the ``k`` nearest
    training networks), ``family`` (the most frequent; the nearest breaks a tie), ``nearest_distance``
    (standardised units) and ``distance_vs_held_out`` (that distance over the median distance from a
    training network to the nearest network of another family: above the table's p90 ratio the network
    is farther from the training data than a held-out family typically was), and, from
    ``per_family`` (``evaluation.per_family_ratio``), ``family_within_10pct``: that family's held-out
    share of ratios within +-10%. None without a table or with a feature missing."""
    if not table:
        return None
    v = _vector(values)
    if v is None or len(v) != len(table["features"]):
        return None
    z = (v - np.asarray(table["center"], float)) / np.asarray(table["scale"], float)
    d = np.sqrt(((np.asarray(table["points"], float) - z) ** 2).sum(1))
    order = np.argsort(d, kind="stable")[: int(table.get("k", K))]
    fams = [table["families"][i] for i in order]
    counts: dict = {}
    for f in fams:
        counts[f] = counts.get(f, 0) + 1
    top = max(counts.values())
    family = next(f for f in fams if counts[f] == top)  # ties: the family of the nearer network
    ref = table["other_family_distance"]
    out = {"family": family, "neighbours": counts, "nearest_distance": round(float(d[order[0]]), 3),
           "distance_vs_held_out": round(float(d[order[0]]) / ref["median"], 2) if ref["median"] > 0 else None,
           "far": bool(d[order[0]] > ref["p90"]), "family_within_10pct": None}
    own = (per_family or {}).get(family) or {}
    if own.get("within_tol") is not None:
        out["family_within_10pct"] = float(own["within_tol"])
    return out


def held_out_check(frame, oof) -> dict | None:
    """How the held-out ratio figures differ between networks near the training data and far from it:
    each family is held out of the table in turn (as of the predictor in ``oof``, the out-of-fold frame
    of ``training._evaluate``), each of its networks described against the rest, and the share of its
    variants' out-of-fold ratio predictions within +-10% counted for the ``far`` ones and the others."""
    base = frame[frame["setting"] == "none"].drop_duplicates(subset=["model_sha"])
    far: dict = {}
    for fam in sorted(base["family"].unique()):
        table = fit(frame[frame["family"] != fam])
        for _, r in base[base["family"] == fam].iterrows():
            got = describe(table, {n: r.get(f"f_{n}") for n in FEATURES})
            if got is not None:
                far[r["model_sha"]] = got["far"]
    var = oof[(oof["setting"] != "none") & (oof["ratio"] > 0) & np.isfinite(oof["pred_log_ratio"])]
    hit = np.abs(np.exp(var["pred_log_ratio"].to_numpy(float) - np.log(var["ratio"].to_numpy(float))) - 1) <= 0.1
    flag = var["model_sha"].map(far)
    out = {}
    for key, mask in (("far", flag == True), ("near", flag == False)):  # noqa: E712 - NaN (undescribed) in neither
        m = mask.to_numpy(bool)
        out[key] = {"n_networks": int(var.loc[m, "model_sha"].nunique()), "n": int(m.sum()),
                    "within_10pct": round(float(hit[m].mean()), 4) if m.any() else None}
    return out
