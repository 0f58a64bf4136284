"""Hand-transcribed Jetson latency tables (tf_trt_models, torch2trt) -> profile records.

Source folder ``jetson-published-tables`` (one long-format CSV). Each (source, device, network,
framework, precision) with a ``latency_ms`` row becomes one ``ok`` record; its ``throughput_per_s``
row, when there is one, rides along in the latency block.

* tf_trt_models, Jetson TX2: TensorFlow FP32 -> runtime ``tensorflow``, setting ``none``; TF-TRT FP16
  -> runtime ``tf-trt``, setting ``fp16``, with a ratio block against the TF FP32 latency. That ratio
  mixes two changes (TensorRT's graph optimisation and FP16), and says so (``baseline_runtime``).
* torch2trt, Jetson Nano and AGX Xavier: *both* columns are FP16 (the PyTorch column runs the
  torchvision model in float16), so both become setting ``fp16``, on runtimes ``pytorch`` and
  ``tensorrt``; there is no FP32 baseline and hence no ratio block. The TensorRT record carries
  ``latency.latency_ratio_vs_pytorch_fp16`` instead.

Features only where a study zoo network is the same architecture (``REBUILDS``); elsewhere the model
block has ``features: {}`` and a family taken from the name.
"""
from __future__ import annotations

from pathlib import Path

from advisor.importers.common import (
    energy_block,
    latency_block,
    make_record,
    name_identity,
    num,
    provenance,
    ratio_block,
    read_rows,
    size_block,
    source_ref,
)

DATASET = "jetson-published-tables"
FILE = "jetson_published_tables.csv"
DEVICES = {"Jetson TX2": "jetson-tx2", "Jetson Nano": "jetson-nano", "Jetson AGX Xavier": "jetson-agx-xavier"}
RUNTIMES = {"TensorFlow 1.x": "tensorflow", "TF-TRT (TensorRT, JetPack 3.2)": "tf-trt", "PyTorch": "pytorch",
            "TensorRT via torch2trt": "tensorrt"}
SETTINGS = {"FP32": "none", "FP16": "fp16"}
SOFTWARE = {
    "tf_trt_models": {"jetpack": "3.2", "tensorflow": "1.x (exact version not stated)",
                      "source": "github.com/NVIDIA-AI-IOT/tf_trt_models README.md @ a6acb80c644bf89890dc15bf872f4758fad1b7bf"},
    "torch2trt": {"source": "github.com/NVIDIA-AI-IOT/torch2trt docs/benchmarks/jetson_nano.md @ 353a703d744ae0910225501045b3"
                            "ba25545631f3, jetson_xavier.md @ d1e7d4ce3171e1fdcb8b47a550d14e24317694dd",
                  "torchvision": "not stated"},
}
_TF_SLIM = "the TF-Slim network the study zoo rebuilds"
# (source, network) -> (study zoo network, exact rebuild?, note). torchvision's ResNets are left out: the
# study zoo's TF-Slim resnet_v1 strides at the end of each block, torchvision at the start (same
# parameters, but resnet50 has 3.48 G MACs against torchvision's 4.09 G).
REBUILDS = {
    **{("tf_trt_models", f"inception_v{i}"): (f"inception_v{i}", True, _TF_SLIM) for i in (1, 2, 3, 4)},
    **{("tf_trt_models", f"resnet_v1_{d}"): (f"resnet{d}", True, _TF_SLIM) for d in (50, 101, 152)},
    ("tf_trt_models", "mobilenet_v1_1p0_224"): ("mobilenet_v1", True, _TF_SLIM),
    **{("torch2trt", f"vgg{d}"): (f"vgg{d}", True, "torchvision vgg = study zoo vgg (same layers)") for d in (16, 19)},
}
# Name prefix -> family label, first match wins.
_FAMILIES = (("ssd_", "ssd-detector"), ("inception_resnet", "inception-resnet"), ("inception", "inception"),
             ("resnet", "resnet"), ("vgg", "vgg"), ("mobilenet", "mobilenet"), ("densenet", "densenet"),
             ("squeezenet", "squeezenet"), ("shufflenet", "shufflenet"), ("mnasnet", "mnasnet"), ("alexnet", "alexnet"))


def family_of(network: str) -> str:
    """The family label of a published network name (``unknown`` when no prefix matches)."""
    return next((fam for prefix, fam in _FAMILIES if network.startswith(prefix)), "unknown")


def import_records(data_root: Path, study_identities: dict[str, dict], created_utc: str) -> list[dict]:
    """One record per published latency; ``study_identities``: zoo name -> model block with features."""
    rows = read_rows(Path(data_root) / DATASET / FILE)
    groups: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        key = (row["source"], row["device"], row["network"], row["framework"], row["precision"])
        groups.setdefault(key, {})[row["metric"]] = row
    recs = []
    for key, metrics in groups.items():
        if "latency_ms" not in metrics:
            continue
        source, device, network = key[:3]
        baseline = _baseline(groups, key)
        recs.append(_record(key, metrics, baseline, _model(source, network, study_identities), created_utc))
    return recs


def _baseline(groups: dict, key: tuple) -> dict | None:
    """The latency row this record is compared with: TF FP32 for TF-TRT, PyTorch for torch2trt."""
    source, device, network, framework, _ = key
    if RUNTIMES[framework] == "tf-trt":
        return groups.get((source, device, network, "TensorFlow 1.x", "FP32"), {}).get("latency_ms")
    if RUNTIMES[framework] == "tensorrt":
        return groups.get((source, device, network, "PyTorch", "FP16"), {}).get("latency_ms")
    return None


def _model(source: str, network: str, study_identities: dict[str, dict]) -> dict:
    rebuild = REBUILDS.get((source, network))
    if rebuild and rebuild[0] in study_identities:
        return dict(study_identities[rebuild[0]], name=network, rebuild_exact=rebuild[1], rebuild_note=rebuild[2])
    return name_identity(DATASET, network, family_of(network), rebuild_note="no rebuild: features left empty")


def _record(key: tuple, metrics: dict, baseline: dict | None, model: dict, created_utc: str) -> dict:
    source, device, network, framework, precision = key
    lat_row, tput_row = metrics["latency_ms"], metrics.get("throughput_per_s")
    refs = [source_ref(DATASET, FILE, r["_row"]) for r in (lat_row, tput_row, baseline) if r]
    evidence = {"latency_ms": "T", **({"ratio": "D"} if baseline else {})}
    setting = {"name": SETTINGS[precision], "family": "baseline" if precision == "FP32" else "precision",
               "params": {}, "provenance": provenance(DATASET, refs, evidence, note=lat_row["note"])}
    lat = num(lat_row["value"])
    extra = {"throughput_per_s": num(tput_row["value"])} if tput_row else {}
    blocks = {}
    if baseline and RUNTIMES[framework] == "tf-trt":
        blocks["ratio"] = ratio_block(lat / num(baseline["value"]), num(baseline["value"]), baseline_runtime="tensorflow",
                                      note="TF FP32 -> TF-TRT FP16: runtime and precision change together")
    elif baseline:
        extra["latency_ratio_vs_pytorch_fp16"] = lat / num(baseline["value"])
    runtime = {"name": RUNTIMES[framework], "framework": framework, "precision": precision.lower(),
               "batch": int(lat_row["batch"])}
    dev = {"name": DEVICES[device], "description": device, **({"power_mode": "MAX-N + jetson_clocks"}
                                                            if source == "tf_trt_models" else {})}
    return make_record(f"{DATASET}:{source}", dict(model, input_size=int(lat_row["input_size"])), setting, dev, runtime,
                       dict(SOFTWARE[source]), created_utc, latency=latency_block(lat, "published table value", **extra),
                       energy=energy_block(None, "none (not published)", None),
                       size=size_block(None, "not published"), accuracy={"source": "none"}, **blocks)
