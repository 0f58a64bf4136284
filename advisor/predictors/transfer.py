"""Device transfer: carry a bundle's FP32 baseline latency to another board by a spec-grounded factor.

No measurement is made up: the base bundle's models are kept byte for byte and the transfer is written
as a ``calibration.json`` in ``advisor.predictors.calibration``'s format (log offset, slope 1), so the
bundle loads through the ordinary ``load_bundle`` path.

The factor is roofline-style, from the device catalogue (``advisor.devices_data``): the base bundle's
own roofline prior ``max(t_mac * macs, t_byte * bytes) + t_node * n_compute_nodes`` is evaluated for each
study-zoo network with the base board's constants and with the constants rescaled to the target board
(``t_mac`` by the FP32 peak ratio, ``t_byte`` by the memory-bandwidth ratio, ``t_node`` by the GPU clock
ratio); the factor is the geometric mean of the per-network target/base ratios (range kept in the
manifest). It is *not* fitted on measurements when no same-network, same-runtime, same-precision pairs
with features exist on both boards (``n_fit_pairs`` in the manifest says how many were used).

Only ``none`` is offered: the base bundle was trained on ``none`` rows only (no ratio data, no ratio
intervals), so a setting's speed-up on the target board would rest on no fitted model. The published
TX2 TF FP32 -> TF-TRT FP16 ratios are recorded in the manifest for reference, not applied.
"""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np

from advisor.predictors.calibration import CALIBRATION_FILE, Calibration

METHOD = "device-transfer(spec ratio; fitted on 0 pairs)"
ROOT = Path(__file__).resolve().parents[2]
STUDY_FEATURES = ROOT / "datasets" / "jetson-tx2-tensorflow" / "study_features.json"
PUBLISHED = ROOT / "datasets" / "jetson-published" / "records.jsonl.gz"


def spec_scales(base_device: str, target_device: str) -> dict:
    """Multipliers of the roofline constants going from ``base_device`` to ``target_device``."""
    from advisor.devices import get_device

    b, t = get_device(base_device), get_device(target_device)
    return {"t_mac_ms": b.peak_tops["fp32"] / t.peak_tops["fp32"],
            "t_byte_ms": b.memory_bandwidth_gbs / t.memory_bandwidth_gbs,
            "t_node_ms": b.gpu.max_clock_mhz / t.gpu.max_clock_mhz,
            "source": {"fp32_tflops": [b.peak_tops["fp32"], t.peak_tops["fp32"]],
                       "memory_bandwidth_gbs": [b.memory_bandwidth_gbs, t.memory_bandwidth_gbs],
                       "gpu_clock_mhz": [b.gpu.max_clock_mhz, t.gpu.max_clock_mhz],
                       "order": [base_device, target_device]}}


def _roofline_ms(c: dict, f: dict) -> float:
    nbytes = f["weight_bytes_total"] + f["activation_bytes_total"]
    return max(c["t_mac_ms"] * f["macs_total"], c["t_byte_ms"] * nbytes) + c["t_node_ms"] * f["n_compute_nodes"]


def roofline_factor(base_constants: dict, scales: dict, networks: dict) -> dict:
    """Geometric mean (and range) of target/base roofline latency over ``networks`` (name -> features)."""
    tgt = {k: base_constants[k] * scales[k] for k in ("t_mac_ms", "t_byte_ms", "t_node_ms")}
    per = {n: _roofline_ms(tgt, f) / _roofline_ms(base_constants, f) for n, f in networks.items()}
    logs = np.log(list(per.values()))
    return {"factor": float(np.exp(logs.mean())), "min": float(min(per.values())), "max": float(max(per.values())),
            "n_networks": len(per), "per_network": per, "target_constants": tgt}


def _published(device: str) -> list[dict]:
    with gzip.open(PUBLISHED, "rt") as fh:
        return [r for r in map(json.loads, fh) if r["device"]["name"] == device]


def fp16_reference(device: str = "jetson-tx2") -> dict:
    """The published TF FP32 -> TF-TRT FP16 ratios on ``device`` (runtime and precision together)."""
    ratios = {r["model"]["name"]: r["ratio"]["ratio_median"] for r in _published(device)
              if r.get("ratio") and r["runtime"]["name"] == "tf-trt"} if PUBLISHED.exists() else {}
    vals = np.array(list(ratios.values()), float)
    return {"n_networks": len(vals), "median_ratio": float(np.median(vals)) if len(vals) else None,
            "range": [float(vals.min()), float(vals.max())] if len(vals) else None,
            "note": "TF FP32 -> TF-TRT FP16 mixes TensorRT's engine effect with FP16, so it overstates FP16 alone; "
                    "recorded for reference, not applied (the bundle offers only 'none')."}


def build_transfer_bundle(base_dir, out, target_device: str = "jetson-tx2",
                          target_runtime: str = "onnxruntime-tensorrt", command: str = "") -> dict:
    """Write ``out``: ``base_dir``'s files (byte-identical) + a transfer ``calibration.json``; the manifest."""
    from datetime import datetime, timezone

    from advisor.predictors.bundle import MANIFEST, read_checked, sha256_bytes, write_bundle
    from advisor.predictors.predictor import clean_json

    base_dir = Path(base_dir)
    manifest, files = read_checked(base_dir)
    if CALIBRATION_FILE in files:
        raise ValueError(f"'{base_dir}' is already calibrated; transfer from its base bundle")
    consts = manifest["roofline"]
    scales = spec_scales(manifest["device"], target_device)
    nets = {n: e["features"] for n, e in json.loads(STUDY_FEATURES.read_text())["networks"].items()}
    rf = roofline_factor(consts, scales, nets)
    cal = Calibration(base_offset=math.log(rf["factor"]), base_slope=1.0, base_center=0.0,
                      ratio_offsets={}, n_networks=0, n_rows=0)
    m = {k: v for k, v in manifest.items() if k not in ("files", "evaluation", "evaluation_headline")}
    m.update(device=target_device, runtime=target_runtime, known_settings=["none"],
             base_known_settings=manifest["known_settings"],
             base_evaluation_headline=manifest.get("evaluation_headline"), evaluation_headline={},
             energy={"mode": "none", "note": "the base board's power model does not carry to the target board"},
             created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), command=command,
             calibration={
                 "method": METHOD, "file": CALIBRATION_FILE, "n_networks": 0, "n_rows": 0, "n_fit_pairs": 0,
                 "base_bundle": {"path": str(base_dir), "device": manifest["device"], "runtime": manifest["runtime"],
                                 "manifest_sha256": sha256_bytes((base_dir / MANIFEST).read_bytes()),
                                 "training_data_hash": manifest.get("training_data_hash")},
                 "factor": rf["factor"], "log_offset": math.log(rf["factor"]),
                 "derivation": {
                     "formula": "geometric mean over study-zoo networks of roofline_target/roofline_base, roofline = "
                                "max(t_mac*macs_total, t_byte*(weight_bytes_total+activation_bytes_total)) + "
                                "t_node*n_compute_nodes with the base bundle's fitted constants; target constants = "
                                "base x (fp32 TFLOPS base/target, bandwidth base/target, GPU clock base/target)",
                     "scales": scales, "base_constants": consts, "target_constants": rf["target_constants"],
                     "range": [rf["min"], rf["max"]], "n_networks": rf["n_networks"],
                     "per_network": rf["per_network"]},
                 "fit": "not fitted: datasets/jetson-published has no same-network pairs with features measured on "
                        "both boards with the same runtime and precision (TX2: TF FP32 and TF-TRT FP16 of TF-Slim "
                        "networks; Nano: torch2trt FP16, vgg16 the only one with features), so no held-out error "
                        "can be given; the baseline intervals are the base bundle's, shifted, and do not include "
                        "the transfer's own error",
                 "fp16_reference": fp16_reference(target_device),
                 "published_check": published_check(base_dir, rf["factor"], target_device)})
    write_bundle(out, clean_json(m), dict(files, **{CALIBRATION_FILE: cal.to_json()}))
    return m


def published_check(base_dir, factor: float, device: str = "jetson-tx2") -> dict:
    """Transferred FP32 TensorRT predictions next to the published TX2 rows with features (different
    runtimes, so a plausibility check, not an error figure)."""
    from advisor.predictors.predictor import load_bundle

    if not PUBLISHED.exists():
        return {}
    bundle = load_bundle("x", "x", base_dir)
    rows = {}
    for r in _published(device):
        if not r["model"].get("features_available"):
            continue
        name = r["model"]["name"]
        pred = bundle.predict(r["model"]["features"], ["none"])[0]["baseline_latency_ms"] * factor
        rows.setdefault(name, {"predicted_trt_fp32_ms": pred})[f"{r['runtime']['name']}_{r['setting']['name']}_ms"] = \
            r["latency"]["median_ms"]
    over = {n: v["predicted_trt_fp32_ms"] / v["tensorflow_none_ms"] for n, v in rows.items() if "tensorflow_none_ms" in v}
    return {"predicted_over_tf_fp32": over, "predicted_over_tf_fp32_median": float(np.median(list(over.values())))
            if over else None,
            "note": "predicted TX2 TensorRT FP32 vs published TX2 TensorFlow FP32 (upper bound: no TensorRT) and "
                    "TF-TRT FP16 (lower bound: FP16 too); not an error figure", "networks": rows}
