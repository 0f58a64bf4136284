"""NAS-Performance-Modeling (Juneja et al., COINS 2025): Jetson Nano + TensorRT FP32 -> ``none`` records.

Source folder ``jetson-nano-nasperf``: one ``*model*.csv`` per stage folder (14 195 synthetic rows,
12 534 measured) and ``real_data/real_models.csv`` (9 real CNNs). Each measured row becomes an ``ok``
record on device ``jetson-nano``, runtime ``tensorrt``, setting ``none``; a row without measurements
becomes a ``skipped`` record (a row, not a gap). Energy is the GPU rail's mean power x latency (the
README's advice; idle not deducted), with the other rails alongside.

Features come from our rebuild of each name (``nasperf_arch``). Materializing every weight of 12.5k
networks (1.1 TB of float32) is out of reach, so ``NasperfFeatures`` takes every shape-derived
feature from the exact graph with unmaterialized weights and the weight-value statistics from
``weight_stand_in`` (identical conv weights, smaller Linear layer), cached per stand-in.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from advisor.importers.common import (
    energy_block,
    features_identity,
    latency_block,
    make_record,
    num,
    provenance,
    read_rows,
    size_block,
    source_ref,
)
from advisor.importers.nasperf_arch import ConvNetSpec, WeightSource, loaded_model, parse_name, weight_stand_in

DATASET = "jetson-nano-nasperf"
FOLDERS = ("conv_layers_1_5", "conv_layers_6_10", "dws", "dws_2", "expanded_high_mac", "expanded_high_mac_2",
           "misc_conv_models", "mixed_kernel_models_L2", "mixed_kernel_models_L5")
DEVICE = {"name": "jetson-nano", "description": "NVIDIA Jetson Nano 4 GB", "power_mode": "nvpmodel 0 (MAXN)"}
RUNTIME = {"name": "tensorrt", "precision": "fp32", "batch": 1, "workspace_bytes": 1 << 30,
           "engine": "ONNX (torch.onnx.export) -> TensorRT engine"}
SOFTWARE = {"source": "github.com/iCAS-Lab/NAS-Performance-Modeling @ 50e67092938231c516e28a8231d1754e80334024",
            "tensorrt": "not stated (JetPack on Jetson Nano)"}
ENERGY_SOURCE = "published:nasperf-nano (tegrastats POM_5V_GPU mean power x latency; idle not deducted)"
LATENCY_STATISTIC = "mean over ~60 s of back-to-back inferences (average_latency(ms))"
# Features that read weight values; every other feature follows from shapes alone.
WEIGHT_VALUE_FEATURES = ("weight_range_max", "weight_outlier_ratio_mean", "weight_outlier_ratio_max",
                         "sparsity_existing", "int8_sqnr_db_min", "int8_sqnr_db_mean", "int8_pc_sqnr_db_min",
                         "int8_pc_sqnr_db_mean", "int4_sqnr_db_min", "int4_sqnr_db_mean", "weight_share_below_0.01",
                         "weight_share_below_0.05", "weight_share_below_0.1")
# real_models.csv name -> (study zoo network, exact rebuild?, note). The 7 others are not rebuilt (ResNet50
# is torchvision's, whose MACs differ by 15 % from the study zoo's TF-Slim resnet_v1_50).
REAL_REBUILDS = {"VGG16": ("vgg16", True, "torchvision vgg16 = advisor.zoo.study vgg16 (138,357,544 params)"),
                 "VGG19": ("vgg19", True, "torchvision vgg19 = advisor.zoo.study vgg19 (143,667,240 params)")}


class NasperfFeatures:
    """Feature values of rebuilt synthetic networks (seeded weights; stand-in statistics cached)."""

    def __init__(self, seed: int = 0) -> None:
        self.weights = WeightSource(seed)
        self._stand_in: dict[ConvNetSpec, dict[str, float]] = {}

    def values(self, spec: ConvNetSpec) -> dict[str, float]:
        """Shape features of the exact graph + weight statistics of ``weight_stand_in(spec)``."""
        from advisor.features import extract_features

        values = dict(extract_features(loaded_model(spec)).values)
        stand_in = weight_stand_in(spec)
        if stand_in not in self._stand_in:
            full = extract_features(loaded_model(stand_in, self.weights)).values
            self._stand_in[stand_in] = {k: full[k] for k in WEIGHT_VALUE_FEATURES}
        values.update(self._stand_in[stand_in])
        return values

    def exact_values(self, spec: ConvNetSpec) -> dict[str, float]:
        """Features of the fully materialized rebuild (slow for big networks: validation only)."""
        from advisor.features import extract_features

        return dict(extract_features(loaded_model(spec, self.weights)).values)

    def identity(self, spec: ConvNetSpec, family: str) -> dict:
        sha = hashlib.sha256(f"{DATASET}:{spec.name}".encode()).hexdigest()
        arch = {"layers": spec.layers, "filters": spec.filters, "kernels": list(spec.kernels), "side": spec.side,
                "separable": spec.separable, "paddings": list(spec.paddings())}
        return features_identity(spec.name, family, sha, "dataset:name (no file: rebuilt from the name)",
                                 self.values(spec), architecture=arch, rebuild="advisor.importers.nasperf_arch",
                                 features_method="shape features exact; weight statistics from weight_stand_in")


def synthetic_rows(data_root: Path) -> list[dict]:
    """Every synthetic row with ``_folder`` and ``_file`` added, in folder order."""
    rows = []
    for folder in FOLDERS:
        files = sorted((Path(data_root) / DATASET / folder).glob("*.csv"))
        for f in files:
            rows += [dict(r, _folder=folder, _file=f.name) for r in read_rows(f)]
    return rows


def stratified_sample(rows: list[dict], n: int | None) -> list[dict]:
    """``n`` measured rows spread over the folders in proportion (deterministic: by name hash); None = all."""
    measured = [r for r in rows if num(r.get("average_latency(ms)")) is not None]
    if n is None or n >= len(measured):
        return measured
    out = []
    for folder in FOLDERS:
        group = sorted((r for r in measured if r["_folder"] == folder),
                       key=lambda r: hashlib.sha256(r["Model Name"].encode()).hexdigest())
        out += group[:round(n * len(group) / len(measured))]
    return out


def import_records(data_root: Path, created_utc: str, features: NasperfFeatures, sample: int | None = None,
                   study_identities: dict[str, dict] | None = None, progress=None) -> list[dict]:
    """ok records for the (sampled) measured synthetic rows and the rebuildable real models, and a
    skipped record for every synthetic row without measurements. ``study_identities``: zoo name ->
    model block (advisor.importers.study_features)."""
    rows = synthetic_rows(data_root)
    recs = []
    for i, row in enumerate(stratified_sample(rows, sample)):
        spec = parse_name(row["Model Name"])
        recs.append(_record(row, features.identity(spec, _family(spec)), created_utc, spec))
        if progress and (i + 1) % 500 == 0:
            progress(f"nasperf: {i + 1} networks")
    for row in rows:
        if num(row.get("average_latency(ms)")) is None:
            recs.append(_skipped(row, created_utc))
    real_csv = Path(data_root) / DATASET / "real_data" / "real_models.csv"
    for row in read_rows(real_csv) if real_csv.is_file() else []:
        rebuild = REAL_REBUILDS.get(row["Model Name"])
        if rebuild and study_identities and rebuild[0] in study_identities:
            model = dict(study_identities[rebuild[0]], name=row["Model Name"], rebuild_exact=rebuild[1],
                         rebuild_note=rebuild[2])
            recs.append(_record(dict(row, _folder="real_data", _file="real_models.csv"), model, created_utc, None))
    return recs


def _family(spec: ConvNetSpec) -> str:
    return "depthwise" if spec.separable else "plain"  # the generator zoo's family names


def _record(row: dict, model: dict, created_utc: str, spec: ConvNetSpec | None) -> dict:
    lat, params = num(row["average_latency(ms)"]), num(row["Total Parameters"])
    rails = {k: num(row[f"Avrg_POM_5V_{k}"]) for k in ("GPU", "CPU", "IN")}
    check = {"params_match": spec.param_count() == int(params)} if spec else {}
    prov = provenance(DATASET, [source_ref(DATASET, f"{row['_folder']}/{row['_file']}", row["_row"])],
                      {"latency_ms": "T", "energy_mj": "D", "size_bytes": "D"}, folder=row["_folder"],
                      published_params=int(params), published_macs=int(num(row["Total MACs"])), **check)
    energy = energy_block(rails["GPU"] * lat / 1000.0, ENERGY_SOURCE, False, power_mw_mean=rails["GPU"],
                          rails_power_mw_mean={f"POM_5V_{k}": v for k, v in rails.items()},
                          board_energy_mj=rails["IN"] * lat / 1000.0, n_inferences=num(row["num_inferences"]),
                          published_gpu_energy_per_inference_mj=num(row["GPU_energy_per_inference"]),
                          published_cpu_energy_per_inference_mj=num(row["CPU_energy_per_inference"]))
    setting = {"name": "none", "family": "baseline", "params": {}, "provenance": prov}
    return make_record(DATASET, model, setting, dict(DEVICE), dict(RUNTIME), dict(SOFTWARE), created_utc,
                       latency=latency_block(lat, LATENCY_STATISTIC), energy=energy,
                       size=size_block(4 * params, "4 bytes x published Total Parameters (fp32 weights)"),
                       memory={"peak_rss_bytes": None, "tegrastats_ram_used_mb": num(row["Avrg_RAM"])},
                       accuracy={"source": "none", "note": "untrained networks (random weights)"})


def _skipped(row: dict, created_utc: str) -> dict:
    spec = parse_name(row["Model Name"])
    sha = hashlib.sha256(f"{DATASET}:{spec.name}".encode()).hexdigest()
    model = {"name": spec.name, "family": _family(spec), "kind": "imported", "sha256": sha,
             "sha256_of": "dataset:name (no file: rebuilt from the name)", "features": {}, "features_available": False}
    prov = provenance(DATASET, [source_ref(DATASET, f"{row['_folder']}/{row['_file']}", row["_row"])], {},
                      folder=row["_folder"])
    return make_record(DATASET, model, {"name": "none", "family": "baseline", "params": {}, "provenance": prov},
                       dict(DEVICE), dict(RUNTIME), dict(SOFTWARE), created_utc, status="skipped",
                       error="the source lists this network without measurements (not run, or its run failed; "
                             "the source does not say)")
