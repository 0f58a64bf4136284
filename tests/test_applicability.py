"""Which training networks a new network resembles (advisor.predictors.applicability)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from advisor.predictors import applicability as A


def _network(share_conv: float, share_gemm: float, macs: float, seed: int, share_recurrent: float = 0.0) -> dict:
    rng = np.random.default_rng(seed)
    v = {n: 0.0 for n in A.SHARES}
    v["share_conv"], v["share_gemm"], v["share_recurrent"] = share_conv, share_gemm, share_recurrent
    v["share_elementwise_flops"] = 0.01 * rng.random()
    v["macs_total"] = macs * (1 + 0.1 * rng.random())
    v["params_total"] = macs / 50 * (1 + 0.1 * rng.random())
    v["n_compute_nodes"] = 20 + rng.integers(0, 5)
    v["activation_bytes_total"] = macs / 10 * (1 + 0.1 * rng.random())
    return v


def _frame(n: int = 12) -> pd.DataFrame:
    """Uncompressed rows of three families (convolutional, fully connected, recurrent), plus a variant
    row each."""
    rows = []
    for i in range(n):
        for fam, v in (("cnn", _network(0.95, 0.05, 3e7, i)), ("mlp", _network(0.0, 1.0, 2e5, 100 + i)),
                       ("rnn", _network(0.0, 0.1, 5e6, 200 + i, share_recurrent=0.9))):
            feats = {f"f_{k}": x for k, x in v.items()}
            rows.append({"model_sha": f"{fam}{i}", "family": fam, "setting": "none", **feats})
            rows.append({"model_sha": f"{fam}{i}", "family": fam, "setting": "wq8", **feats})
    return pd.DataFrame(rows)


def test_a_network_is_placed_among_the_family_it_resembles():
    table = A.fit(_frame())
    assert table["families"].count("cnn") == 12 and len(table["points"]) == 36  # one point a network
    got = A.describe(table, _network(0.9, 0.1, 2.5e7, 999), {"cnn": {"within_tol": 0.91}})
    assert got["family"] == "cnn" and got["neighbours"] == {"cnn": 5} and not got["far"]
    assert got["family_within_10pct"] == 0.91
    mlp = A.describe(table, _network(0.0, 1.0, 2.1e5, 998))
    assert mlp["family"] == "mlp" and mlp["family_within_10pct"] is None  # no per-family figures given


def test_a_network_unlike_any_training_network_is_far():
    table = A.fit(_frame())
    odd = _network(0.0, 0.0, 1e10, 7)
    odd["share_matmul_dynamic"] = 1.0  # an op kind no training network has, and 300x the MACs
    got = A.describe(table, odd)
    assert got["far"] and got["distance_vs_held_out"] > table["other_family_distance"]["p90"] / \
        table["other_family_distance"]["median"]


@pytest.mark.parametrize("bad", [None, math.nan, True, "12"])
def test_missing_or_odd_features_describe_nothing(bad):
    table = A.fit(_frame())
    v = _network(0.9, 0.1, 2.5e7, 1)
    v["macs_total"] = bad
    assert A.describe(table, v) is None
    assert A.describe(None, _network(0.9, 0.1, 2.5e7, 1)) is None  # bundles trained before the table


def test_one_family_gives_no_table():
    f = _frame()
    assert A.fit(f[f["family"] == "cnn"]) is None  # nothing to hold out against
    assert A.fit(f.drop(columns=["f_share_gemm"])) is None


def test_held_out_check_counts_far_and_near_networks_predictions():
    f = _frame()
    oof = f.assign(ratio=1.0, pred_log_ratio=np.where(f["family"] == "mlp", math.log(1.5), math.log(1.05)))
    check = A.held_out_check(f, oof)
    # each network judged against the other families' table, as when its family is held out
    far = {}
    for fam in ("cnn", "mlp", "rnn"):
        table = A.fit(f[f["family"] != fam])
        for _, r in f[(f["family"] == fam) & (f["setting"] == "none")].iterrows():
            far[r["model_sha"]] = A.describe(table, {n: r[f"f_{n}"] for n in A.FEATURES})["far"]
    assert check["far"]["n_networks"] + check["near"]["n_networks"] == 36 == check["far"]["n"] + check["near"]["n"]
    assert check["far"]["n_networks"] == sum(far.values()) > 0
    for key, flag in (("far", True), ("near", False)):
        nets = [k for k, v in far.items() if v == flag]
        hits = [not k.startswith("mlp") for k in nets]  # the MLPs' ratio is predicted 50% off
        assert check[key]["within_10pct"] == (round(sum(hits) / len(hits), 4) if hits else None)


def test_the_shipped_host_bundle_places_the_example_and_the_reason_says_so():
    from advisor.api import recommend
    from advisor.decision import Constraints
    from advisor.predictors.predictor import load_bundle

    bundle = load_bundle("host", "onnxruntime-cpu")
    m = bundle.manifest
    assert len(bundle.applicability["points"]) == m["n_networks"] and m["applicability"]["file"] == A.FILE
    rec = recommend("examples/resnet8.onnx", "host", Constraints(max_size_bytes=100_000))
    near = rec.model["nearest_training"]
    assert sum(near["neighbours"].values()) == 5 and near["family"] in near["neighbours"]
    share = m["evaluation"]["per_family_ratio"][near["family"]]["within_tol"]
    assert near["family_within_10pct"] == share
    assert (f"with the '{near['family']}' family held out, {100 * share:.0f}% of its ratios were predicted within "
            "±10%") in rec.reason


def test_the_reason_cautions_about_a_network_far_from_the_training_data():
    from types import SimpleNamespace

    from advisor.advise import _nearest_text

    near = {"family": "shuffle", "neighbours": {"shuffle": 3, "convnext": 2}, "nearest_distance": 2.5,
            "distance_vs_held_out": 4.3, "far": True, "family_within_10pct": 0.805}
    check = {"far": {"n_networks": 69, "n": 790, "within_10pct": 0.7937},
             "near": {"n_networks": 651, "n": 9068, "within_10pct": 0.8392}}
    text = _nearest_text(SimpleNamespace(model={"nearest_training": near}, bundle={"applicability_check": check}))
    assert "5 nearest training networks by graph make-up (op shares and size): 3 'shuffle', 2 'convnext'" in text
    assert "with the 'shuffle' family held out, 80% of its ratios were predicted within ±10%" in text
    assert "4.3x as far" in text and "such networks had 79% of their ratios within ±10%, the others 84%" in text
    near_one = dict(near, far=False)
    assert "as far" not in _nearest_text(SimpleNamespace(model={"nearest_training": near_one}, bundle={}))
    assert _nearest_text(SimpleNamespace(model={"nearest_training": None}, bundle={})) == ""


def test_the_table_round_trips_through_its_file_and_a_malformed_one_is_none():
    import json

    f = _frame()
    table = A.fit(f)
    table["held_out_check"] = A.held_out_check(f, f.assign(ratio=1.0, pred_log_ratio=0.0))
    summary, raw = A.to_file(table)
    assert summary["file"] == A.FILE and "points" not in summary and summary["held_out_check"] == table["held_out_check"]
    assert A.from_file(raw) == json.loads(json.dumps(table))
    assert A.from_file(None) is None and A.from_file(b"not json") is None
    short = dict(table, points=table["points"][:-1])  # one family name too many
    assert A.from_file(json.dumps(short).encode()) is None
    other = dict(table, features=table["features"][::-1])  # a table of other features
    assert A.from_file(json.dumps(other).encode()) is None
