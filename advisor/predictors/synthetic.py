"""A TEST DOUBLE: schema-valid profile records of made-up networks whose targets follow known laws.

Nothing here is measured. Each network gets features consistent with its family's MAC mix; then

* baseline latency_ms = 2e-7 * MACs + 0.004 * n_compute_nodes  (times 1 +- ``noise``)
* ratio = setting effect, a function of the share of MACs the setting touches (times 1 +- ``noise``)
* fidelity loss grows with sparsity / fewer bits / lower int8 SQNR; accuracy drop (labels) on every
  ``labels_every``-th network = 40 x fidelity loss, in percentage points.

Used by the tests and as a smoke input of the benchmark; never as training data for a real bundle.
"""
from __future__ import annotations

import hashlib

import numpy as np

FAMILY_MIX = {  # family -> (share_conv, share_conv_depthwise, share_gemm, share_recurrent)
    "conv": (0.92, 0.0, 0.08, 0.0), "mobile": (0.55, 0.35, 0.10, 0.0),
    "mlp": (0.0, 0.0, 1.0, 0.0), "rnn": (0.0, 0.0, 0.2, 0.8), "hybrid": (0.5, 0.0, 0.3, 0.2)}


def _features(rng, family: str) -> dict:
    from advisor.features import feature_names

    conv, dw, gemm, rec = FAMILY_MIX[family]
    feats = {n: float(rng.uniform(0, 1)) for n in feature_names()}
    macs = float(10 ** rng.uniform(5, 8))
    feats.update(macs_total=macs, share_conv=conv, share_conv_depthwise=dw, share_gemm=gemm, share_recurrent=rec,
                 share_conv_grouped=0.0, share_matmul_dynamic=0.0, macs_conv=conv * macs, macs_gemm=gemm * macs,
                 macs_conv_depthwise=dw * macs, macs_recurrent=rec * macs, macs_conv_grouped=0.0,
                 macs_matmul_dynamic=0.0, n_compute_nodes=float(rng.integers(5, 60)),
                 weight_bytes_total=macs / float(rng.uniform(5, 50)), activation_bytes_total=macs / 20.0,
                 int8_sqnr_db_min=float(rng.uniform(25, 45)), sparsity_existing=0.0)
    return feats


def _ratio(name: str, feats: dict) -> float:
    from advisor.compression import get_setting
    from advisor.predictors.encoding import describe_setting, mac_ratio_prior, touched_macs_share

    d = describe_setting(name)
    touched = touched_macs_share(feats, d)
    fam = get_setting(name).family
    if fam == "precision":
        return 1.35
    if fam in ("quantization", "combined"):
        speed = 0.45 if d["s_calibrated"] else 0.6
        return mac_ratio_prior(feats, d) * (1.0 - (1.0 - speed) * touched) + 0.03
    if fam == "weight-only":
        return 1.0 + touched * (0.05 if d["s_weight_bits"] == 16 else 0.6 if d["s_weight_bits"] == 8 else 1.1)
    if fam == "structured-pruning":
        return mac_ratio_prior(feats, d)
    return 1.0


def _fidelity(name: str, feats: dict) -> float:
    from advisor.predictors.encoding import describe_setting

    d = describe_setting(name)
    loss = 1e-7 if name != "none" else 0.0
    loss += 0.5 * d["s_sparsity"] ** 2 + 0.3 * d["s_chprune"]
    if d["s_weight_bits"] < 32:
        loss += 10 ** (-feats["int8_sqnr_db_min"] / 10.0) * (2 ** (8 - min(d["s_weight_bits"], 16))) ** 2 / 4
    return float(min(loss, 0.95))


def make_synthetic_records(families=("conv", "mobile", "mlp", "rnn"), networks_per_family: int = 6,
                           settings: list[str] | None = None, noise: float = 0.03, labels_every: int = 3,
                           seed: int = 0, device: str = "synthetic", runtime: str = "onnxruntime-cpu") -> list[dict]:
    """Records (dicts, schema profiling.records) of ``networks_per_family`` networks per family x settings."""
    from advisor.compression import setting_names

    rng = np.random.default_rng(seed)
    settings = settings or setting_names()
    out = []
    for fam in families:
        for i in range(networks_per_family):
            feats = _features(rng, fam)
            sha = hashlib.sha256(f"{fam}-{i}-{seed}".encode()).hexdigest()
            base = 2e-7 * feats["macs_total"] + 0.004 * feats["n_compute_nodes"]
            base *= float(np.exp(rng.normal(0, noise)))
            labels = labels_every and i % labels_every == 0
            for s in settings:
                ratio = 1.0 if s == "none" else _ratio(s, feats) * float(np.exp(rng.normal(0, noise)))
                out.append(_record(f"syn-{fam}-{i:02d}", fam, sha, feats, s, base * ratio, ratio,
                                   _fidelity(s, feats), labels, device, runtime))
    return out


def _record(name, family, sha, feats, setting, latency_ms, ratio, fid, labels, device, runtime) -> dict:
    from advisor.compression import get_setting
    from advisor.features import FEATURE_SCHEMA_VERSION
    from profiling.records import SCHEMA_VERSION, record_key

    samples = [latency_ms * f for f in (0.98, 0.99, 1.0, 1.01, 1.03)]
    st = get_setting(setting)
    acc = {"source": "baseline-agreement", "cosine_mean": 1.0 - fid} if setting != "none" else {"source": "none"}
    if labels:
        acc = {"source": "labels", "top1": 0.9 - 0.4 * fid, "baseline_top1": 0.9, "accuracy_drop_pct": 40.0 * fid,
               "cosine_mean": 1.0 - fid}
    rec = {"schema_version": SCHEMA_VERSION, "record_id": record_key(sha, setting, device, runtime, 1),
           "created_utc": "2026-01-01T00:00:00Z", "status": "ok", "error": None,
           "model": {"name": name, "family": family, "kind": "synthetic", "sha256": sha, "features": dict(feats),
                     "feature_schema_version": FEATURE_SCHEMA_VERSION},
           "setting": {"name": setting, "family": st.family, "params": st.to_dict()["params"], "notes": {}},
           "device": {"name": device}, "runtime": {"name": runtime, "threads": 1}, "software": {},
           "protocol": {"warmup_runs": 1, "min_runs": 5, "max_runs": 5, "target_rel_ci": 0.05},
           "host": {"steal_pct": 0.0},
           "latency": {"samples_ms": samples, "mean_ms": float(np.mean(samples)), "median_ms": latency_ms,
                       "p90_ms": samples[-1], "min_ms": samples[0], "max_ms": samples[-1], "n_runs": 5,
                       "ci95_halfwidth_ms": 0.02 * latency_ms},
           "energy": {"source": "estimate:cpu-tdp-share", "energy_is_estimate": True, "energy_mj": 7.0 * latency_ms,
                      "assumptions": {"model": "cpu-tdp-share", "idle_mw": 0.0, "busy_core_mw": 7000.0, "cores": 2}},
           "memory": {"peak_rss_bytes": 1 << 26}, "accuracy": acc,
           "size": {"size_bytes": int(feats["weight_bytes_total"]), "compressed_size_bytes": int(feats["weight_bytes_total"])}}
    if setting != "none":
        rec["ratio"] = {"ratio_median": ratio, "ratio_ci95": [ratio * 0.97, ratio * 1.03], "baseline_median_ms":
                        latency_ms / ratio, "baseline_setting": "none"}
    return rec
