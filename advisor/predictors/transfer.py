"""Device transfer: carry a bundle's FP32 baseline latency to another board, and add the FP16 setting.

No measurement is made up: the base bundle's models are kept byte for byte and the transfer is written
as a ``calibration.json`` in ``advisor.predictors.calibration``'s format (log offset, slope 1; a log
ratio offset for the ``precision`` setting family), so the bundle loads through ``load_bundle``.

* **Board factor, fitted.** Same-network TensorRT FP16 latencies published for both boards
  (``datasets/jetson-published``: TX2 TF-TRT vs Nano torch2trt for ResNet-50/101/152; Nano vs AGX
  Xavier torch2trt for 18 torchvision networks) give target/base ratios; the factor is their geometric
  mean, with each network held out in turn for an error figure. The spec-grounded factor (the base
  bundle's roofline prior with constants rescaled by the catalogue's FLOPS, bandwidth and clock
  ratios, ``roofline_factor``) is kept beside it: on Nano -> TX2 and Nano -> Xavier it shows how far specs
  alone miss, and it is the fallback for a board with no published pair. Both boards of a pair have
  GPUs with a 2:1 FP16:FP32 rate (Maxwell, Pascal), so a factor fitted at FP16 is applied to FP32.
* **FP16 ratio, fitted.** For the TX2 networks of the tf_trt_models table that the zoo builds (features
  known), measured TensorRT FP16 latency / (the base bundle's FP32 prediction x board factor) per
  network; the ``fp16`` ratio is their geometric mean, evaluated leave-one-network-out (factor and ratio
  refitted without the network). The table's own ratio (TF-TRT FP16 / TensorFlow FP32) mixes TensorRT's
  engine effect with FP16, so it is only compared against, never used as the FP16 ratio.

Other settings are not offered: the base bundle saw ``none`` rows only and no published table measures
them on these boards.
"""
from __future__ import annotations

import functools
import gzip
import json
import math
from pathlib import Path

import numpy as np

from advisor.predictors.calibration import CALIBRATION_FILE, Calibration

METHOD = "device-transfer(published same-network TensorRT pairs; spec ratio as fallback)"
ROOT = Path(__file__).resolve().parents[2]
STUDY_FEATURES = ROOT / "datasets" / "jetson-tx2-tensorflow" / "study_features.json"
PUBLISHED = ROOT / "datasets" / "jetson-published" / "records.jsonl.gz"
# The same architecture in both tables: TF-Slim name (TX2 table) -> torchvision name (Nano/Xavier tables).
# torchvision's ResNets are v1.5 (stride on the 3x3 conv, ~5% more MACs than TF-Slim's v1).
SAME_NETWORK = {"resnet_v1_50": "resnet50", "resnet_v1_101": "resnet101", "resnet_v1_152": "resnet152"}
TRT_FP16 = {("tf-trt", "fp16"), ("tensorrt", "fp16")}


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


@functools.cache
def _published(device: str) -> tuple[dict, ...]:
    """The published records of ``device`` (read once: the held-out fits ask for them many times)."""
    with gzip.open(PUBLISHED, "rt") as fh:
        return tuple(r for r in map(json.loads, fh) if r["device"]["name"] == device)


def _trt_fp16_ms(device: str) -> dict:
    return {r["model"]["name"]: float(r["latency"]["median_ms"]) for r in _published(device)
            if (r["runtime"]["name"], r["setting"]["name"]) in TRT_FP16}


def _gmean(values) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(list(values), float)))))


def pair_factor(base_device: str, target_device: str, exclude: str | None = None) -> dict:
    """Target/base TensorRT FP16 latency over the networks published for both boards (geometric mean),
    each network's held-out error (factor from the others), and the pairs. ``exclude``: a network
    (target-table name) left out, for nested leave-one-out."""
    base, tgt = _trt_fp16_ms(base_device), _trt_fp16_ms(target_device)
    names = {t: b for t, b in SAME_NETWORK.items() if t in tgt and b in base}
    names.update({n: n for n in sorted(set(tgt) & set(base))})
    pairs = {t: tgt[t] / base[b] for t, b in names.items() if t != exclude}
    if not pairs:
        return {"factor": None, "n_pairs": 0, "pairs": {}}
    held_out = {n: _gmean(v for m, v in pairs.items() if m != n) / pairs[n] - 1.0 for n in pairs} \
        if len(pairs) > 1 else {}
    errs = np.abs(list(held_out.values())) * 100.0
    return {"factor": _gmean(pairs.values()), "n_pairs": len(pairs), "pairs": pairs,
            "names": {t: b for t, b in names.items() if t in pairs}, "held_out_rel_err": held_out,
            "held_out_median_abs_err_pct": float(np.median(errs)) if len(errs) else None,
            "held_out_max_abs_err_pct": float(np.max(errs)) if len(errs) else None}


def spec_check(base_constants: dict, base_device: str, nets: dict) -> dict:
    """The spec-only factor next to the fitted one for every board with published pairs to the base."""
    out = {}
    for target in ("jetson-tx2", "jetson-agx-xavier"):
        fitted = pair_factor(base_device, target)
        if not fitted["n_pairs"]:
            continue
        spec = roofline_factor(base_constants, spec_scales(base_device, target), nets)["factor"]
        out[target] = {"spec_factor": spec, "fitted_factor": fitted["factor"], "n_pairs": fitted["n_pairs"],
                       "spec_error_pct": (spec / fitted["factor"] - 1.0) * 100.0}
    return out


def fp16_fit(base_dir, base_device: str, target_device: str) -> dict:
    """The FP16/FP32 TensorRT ratio on ``target_device`` and its leave-one-network-out error (see module doc)."""
    from advisor.predictors.predictor import load_bundle

    bundle = load_bundle("x", "x", base_dir)
    recs = _published(target_device)
    tf32 = {r["model"]["name"]: float(r["latency"]["median_ms"]) for r in recs
            if (r["runtime"]["name"], r["setting"]["name"]) == ("tensorflow", "none")}
    rows = {}
    for r in recs:
        if (r["runtime"]["name"], r["setting"]["name"]) in TRT_FP16 and r["model"].get("features_available"):
            fp32 = bundle.predict(r["model"]["features"], ["none"])[0]["baseline_latency_ms"]
            rows[r["model"]["name"]] = {"measured_fp16_ms": float(r["latency"]["median_ms"]),
                                        "base_fp32_pred_ms": fp32, "tf_fp32_ms": tf32.get(r["model"]["name"])}
    if len(rows) < 3:
        return {"ratio": None, "n_networks": len(rows), "networks": rows}
    full = pair_factor(base_device, target_device)["factor"]

    def ratios(factor, skip=None):
        return {n: v["measured_fp16_ms"] / (v["base_fp32_pred_ms"] * factor) for n, v in rows.items() if n != skip}

    per = ratios(full)
    for n, v in rows.items():  # refit factor and ratio without n, then predict n's FP16 latency
        f = pair_factor(base_device, target_device, exclude=n)["factor"]
        r16 = _gmean(ratios(f, skip=n).values())
        v["fp16_ratio_in_fit"] = per[n]
        v["held_out_pred_fp16_ms"] = v["base_fp32_pred_ms"] * f * r16
        v["held_out_rel_err"] = v["held_out_pred_fp16_ms"] / v["measured_fp16_ms"] - 1.0
        if v["tf_fp32_ms"]:
            v["table_ratio_measured"] = v["measured_fp16_ms"] / v["tf_fp32_ms"]
            v["table_ratio_predicted"] = v["held_out_pred_fp16_ms"] / v["tf_fp32_ms"]
    errs = np.array([abs(v["held_out_rel_err"]) for v in rows.values()]) * 100.0
    logres = np.array([-math.log1p(v["held_out_rel_err"]) for v in rows.values()])  # log(measured/predicted)
    return {"ratio": _gmean(per.values()), "n_networks": len(rows), "range": [min(per.values()), max(per.values())],
            "held_out_median_abs_err_pct": float(np.median(errs)), "held_out_p90_abs_err_pct": float(np.percentile(errs, 90)),
            "held_out_within_10pct": float(np.mean(errs <= 10.0)), "held_out_log_residuals": logres.tolist(),
            "networks": rows,
            "note": "the TX2 table's ratio is TF-TRT FP16 / TensorFlow FP32; predicted as held-out FP16 latency / the "
                    "table's TF FP32, so its relative error equals the FP16 latency's"}


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
    base_device, consts = manifest["device"], manifest["roofline"]
    nets = {n: e["features"] for n, e in json.loads(STUDY_FEATURES.read_text())["networks"].items()}
    rf = roofline_factor(consts, spec_scales(base_device, target_device), nets)
    pf = pair_factor(base_device, target_device)
    factor = pf["factor"] or rf["factor"]
    fp16 = fp16_fit(base_dir, base_device, target_device) if pf["factor"] else {"ratio": None}
    offsets = {"precision": math.log(fp16["ratio"])} if fp16.get("ratio") else {}
    cal = Calibration(base_offset=math.log(factor), base_slope=1.0, base_center=0.0, ratio_offsets=offsets,
                      n_networks=pf["n_pairs"], n_rows=pf["n_pairs"] + fp16.get("n_networks", 0))
    m = {k: v for k, v in manifest.items() if k not in ("files", "evaluation", "evaluation_headline")}
    m.update(device=target_device, runtime=target_runtime, known_settings=["none"] + (["fp16"] if offsets else []),
             base_known_settings=manifest["known_settings"],
             base_evaluation_headline=manifest.get("evaluation_headline"), evaluation_headline=_headline(pf, fp16),
             energy={"mode": "none", "note": "the base board's power model does not carry to the target board "
                                             "(calibration.energy_check)"},
             conformal=_intervals(manifest["conformal"], pf, fp16),
             created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), command=command,
             calibration={
                 "method": METHOD, "file": CALIBRATION_FILE, "n_networks": pf["n_pairs"],
                 "n_rows": cal.n_rows, "n_fit_pairs": pf["n_pairs"],
                 "base_bundle": {"path": str(base_dir), "device": base_device, "runtime": manifest["runtime"],
                                 "manifest_sha256": sha256_bytes((base_dir / MANIFEST).read_bytes()),
                                 "training_data_hash": manifest.get("training_data_hash")},
                 "factor": factor, "log_offset": math.log(factor), "fitted": pf,
                 "spec": {"factor": rf["factor"], "range": [rf["min"], rf["max"]], "n_networks": rf["n_networks"],
                          "formula": "geometric mean over study-zoo networks of roofline_target/roofline_base, roofline "
                                     "= max(t_mac*macs_total, t_byte*(weight_bytes_total+activation_bytes_total)) + "
                                     "t_node*n_compute_nodes with the base bundle's constants; target constants = base x "
                                     "(fp32 TFLOPS, bandwidth, GPU clock ratios of the catalogue)",
                          "per_network": rf["per_network"], "check_against_pairs": spec_check(consts, base_device, nets)},
                 "fp16": fp16, "energy_check": energy_check(base_dir, nets),
                 "caveats": ["TX2 pairs: TF-TRT (JetPack 3.2, TensorFlow around the engine) vs Nano torch2trt "
                             "(JetPack 4.x): TF overhead makes the TX2 side, hence the factor, slightly high",
                             "3 TX2 pairs, all ResNets; the factor is applied to every architecture",
                             "intervals: the base bundle's, widened by the range of the held-out residuals of the "
                             "factor (baseline) and of the FP16 fit (fp16)"]})
    write_bundle(out, clean_json(m), dict(files, **{CALIBRATION_FILE: cal.to_json()}))
    return m


def energy_check(base_dir, nets: dict) -> dict:
    """Why energy is not carried: the base bundle's predicted power next to the TX2's measured power for
    the study networks (Qin et al., TensorFlow FP32, board energy minus idle). The two boards' figures
    differ in definition (Nano: 5 V GPU/CPU rails) and their ratio is far from constant."""
    from advisor.predictors.predictor import load_bundle

    tx2 = ROOT / "datasets" / "jetson-tx2-tensorflow" / "records.jsonl.gz"
    bundle = load_bundle("x", "x", base_dir)
    if not tx2.exists() or bundle.suite.energy.get("mode") != "measured":
        return {}
    ratios = {}
    with gzip.open(tx2, "rt") as fh:
        for r in map(json.loads, fh):
            name = r["model"]["name"]
            if r["status"] != "ok" or r["setting"]["name"] != "none" or name not in nets:
                continue
            p = bundle.predict(nets[name], ["none"])[0]
            ratios[name] = (r["energy"]["energy_mj"] / r["latency"]["median_ms"]) / (p["energy_mj"] / p["latency_ms"])
    vals = list(ratios.values())
    return {"tx2_measured_over_base_predicted_power": ratios, "range": [min(vals), max(vals)] if vals else None,
            "decision": "energy off for the target: a single power factor would be off by up to "
                        f"{(max(vals) / _gmean(vals) - 1) * 100:.0f}% (held in, let alone held out)" if vals else ""}


def _headline(pf: dict, fp16: dict) -> dict:
    out = {}
    if pf.get("held_out_median_abs_err_pct") is not None:
        out["board_factor"] = {"n": pf["n_pairs"], "median_abs_err_pct": pf["held_out_median_abs_err_pct"],
                               "max_abs_err_pct": pf["held_out_max_abs_err_pct"],
                               "protocol": "each same-network pair held out from the factor"}
    if fp16.get("ratio"):
        out["fp16_latency"] = {"n": fp16["n_networks"], "median_abs_err_pct": fp16["held_out_median_abs_err_pct"],
                               "p90_abs_err_pct": fp16["held_out_p90_abs_err_pct"],
                               "within_tol": fp16["held_out_within_10pct"], "tolerance": "10 pct",
                               "protocol": "leave-one-network-out on the TX2 tf_trt_models table (factor and ratio "
                                           "refitted without the network); equals the error of the table's FP16 ratio"}
    return out


def _intervals(base: dict, pf: dict, fp16: dict) -> dict:
    """Base conformal quantiles widened by the held-out residual ranges of the factor and the FP16 ratio."""
    import copy

    q = copy.deepcopy(base)
    res = [-math.log1p(e) for e in (pf.get("held_out_rel_err") or {}).values()]
    lo, hi = (min(res + [0.0]), max(res + [0.0]))
    for key in ("baseline_latency", "latency"):
        if key in q:
            q[key]["global"] = [q[key]["global"][0] + lo, q[key]["global"][1] + hi]
    if fp16.get("ratio"):
        r = fp16["held_out_log_residuals"]
        q["ratio"] = {"alpha": q.get("ratio", {}).get("alpha", 0.1), "global": [0.0, 0.0], "n": len(r),
                      "groups": {"precision": [min(r), max(r)]}}
        lat = q.get("latency") or {"alpha": 0.1, "global": [0.0, 0.0], "groups": {}}
        lat.setdefault("groups", {})["precision"] = [lat["global"][0] + min(r), lat["global"][1] + max(r)]
        q["latency"] = lat
    q["method"] = (base.get("method", "") + "; transferred: widened by the held-out residual range of the board "
                   "factor and of the FP16 fit")
    return q
