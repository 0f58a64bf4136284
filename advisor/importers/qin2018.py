"""Qin et al. 2018 ("To Compress, or Not to Compress"), Jetson TX2 + TensorFlow 1.6 GPU -> profile records.

Source folder ``qin2018-tx2`` (see its README for evidence classes and caveats). Records, all on
device ``jetson-tx2``, runtime ``tensorflow``:

* ``none``: baselines.csv (11 networks; NMT's values are a rough back-computation [D]).
* ``wq16`` / ``wq8`` / ``wq6``: quantization.csv (10 CNNs x 3). The study's weight quantization:
  weights stored in 16/8/6-bit fixed point, dequantized at run time by ops TF inserts, no
  retraining. ``wq6`` keeps the study's name: the advisor's registry has wq16, wq8 and wq4.
  latency = baseline x (1 + latency_increase_pct/100), energy likewise, size = baseline x
  (1 - storage_reduction_pct/100).
* ``prune-thr<T>``: pruning.csv threshold sweeps (VGG_16, ResNet_50 at 5-25 %, NMT at 15-75 %),
  family ``pruning-retrained``; size = baseline x (1 - T/100), the README's definition of T.
* ``prune-reported``: pruning_models.csv, the pruned models of Fig. 9 (absolute values).
* ``wq8+prune``: combined.csv (Fig. 10, VGG_16 and ResNet_50).

Accuracy: ``accuracy_drop_pct`` is in percentage points, as everywhere in the advisor. Per README
note C2, quantization.csv's and the Fig. 9 losses are read as relative drops (points = baseline
top-1 x loss / 100) and pruning.csv's as points; the published value is kept in ``published_loss_pct``.
"""
from __future__ import annotations

from pathlib import Path

from advisor.importers.common import (
    MB_BYTES,
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

DATASET = "qin2018-tx2"
DEVICE = {"name": "jetson-tx2", "description": "NVIDIA Jetson TX2; inference on the 256-core Pascal GPU",
          "power_mode": "not stated by the study", "batch": "not stated (probably 1)"}
RUNTIME = {"name": "tensorflow", "precision": "fp32 graph (quantized variants add TF quantize/dequantize ops)"}
SOFTWARE = {"tensorflow": "1.6", "cudnn": "6.0", "cuda": "8.0.64", "os": "Ubuntu 16.04, Linux 4.4.15",
            "source": "Qin et al., ISPA 2018, doi:10.1109/BDCloud.2018.00110 (via shared/data/qin2018-tx2)"}
ENERGY_SOURCE = "published:qin2018-tx2 (INA3221 rails, idle deducted)"
FAMILIES = {"Inception": "inception", "ResNet": "resnet", "VGG": "vgg", "MobileNet": "mobilenet", "NMT": "rnn-seq2seq"}
# pruning_models.csv rows: the threshold whose Fig. 5 point matches Fig. 4 (README "Pruning threshold") [D].
REPORTED_THRESHOLD_PCT = {"VGG_16": 10, "ResNet_50": 15, "NMT": 60}


def import_records(data_root: Path, identities: dict[str, dict], created_utc: str) -> list[dict]:
    """Every record of the study. ``identities``: paper name (e.g. ``ResNet_50``) -> model block of our
    rebuild (features); a network missing from it gets a name-only block without features."""
    folder = Path(data_root) / DATASET
    base = {r["network"]: r for r in read_rows(folder / "baselines.csv")}
    ctx = _Context(base, identities, created_utc)
    recs = [ctx.baseline(row) for row in base.values()]
    recs += [ctx.quantized(row) for row in read_rows(folder / "quantization.csv")]
    recs += [ctx.pruned(row) for row in read_rows(folder / "pruning.csv")]
    recs += [ctx.reported(row) for row in read_rows(folder / "pruning_models.csv") if row["network"] in base]
    recs += [ctx.combined(row) for row in read_rows(folder / "combined.csv")]
    return recs


class _Context:
    """Baselines and identities shared by the per-file record builders."""

    def __init__(self, base: dict[str, dict], identities: dict[str, dict], created_utc: str) -> None:
        self.base, self.identities, self.created_utc = base, identities, created_utc

    def model(self, network: str) -> dict:
        family = next((f for prefix, f in FAMILIES.items() if network.startswith(prefix)), "unknown")
        return self.identities.get(network) or name_identity(DATASET, network, family, paper_name=network)

    def record(self, network: str, setting: dict, **blocks) -> dict:
        return make_record(DATASET, self.model(network), setting, dict(DEVICE), dict(RUNTIME), dict(SOFTWARE),
                           self.created_utc, **blocks)

    def baseline(self, row: dict) -> dict:
        ev = "D" if row["derived"] == "true" else "F"
        prov = provenance(DATASET, [source_ref(DATASET, "baselines.csv", row["_row"])],
                          {"latency_ms": ev, "energy_mj": ev, "size_bytes": ev, "top1": "T", "bleu": "T"},
                          notes=row["notes"])
        return self.record(row["network"], {"name": "none", "family": "baseline", "params": {}, "provenance": prov},
                           latency=latency_block(num(row["latency_ms"])),
                           energy=energy_block(num(row["energy_j"]) * 1000.0, ENERGY_SOURCE, True),
                           size=size_block(num(row["size_mb"]) * MB_BYTES, "published size_mb x 10**6"),
                           accuracy=_accuracy(row, None, None))

    def quantized(self, row: dict) -> dict:
        b, bits = self.base[row["network"]], int(row["bits"])
        ratio = 1.0 + num(row["latency_increase_pct"]) / 100.0
        refs = [source_ref(DATASET, "quantization.csv", row["_row"]), source_ref(DATASET, "baselines.csv", b["_row"])]
        prov = provenance(DATASET, refs, {"ratio": "F", "latency_ms": "D", "energy_mj": "D", "size_bytes": "D",
                                          "accuracy_drop_pct": "D", "published_loss_pct": "F"},
                          method="baseline x published percentage")
        setting = {"name": f"wq{bits}", "family": "weight-only", "params": {"bits": bits}, "provenance": prov,
                   "study_method": f"{bits}-bit fixed-point weights, dequantized at run time by TF ops; no retraining"}
        if bits not in (16, 8, 4):
            setting["registry_note"] = f"'wq{bits}' is the study's setting; the advisor's registry has wq16, wq8, wq4"
        energy = energy_block(num(b["energy_j"]) * 1000.0 * (1.0 + num(row["energy_increase_pct"]) / 100.0),
                              ENERGY_SOURCE, True, peak_power_reduction_pct=num(row["peak_power_reduction_pct"]),
                              fig8_energy_mj=_times(num(row["energy_j"]), 1000.0))
        return self.record(row["network"], setting,
                           latency=latency_block(num(b["latency_ms"]) * ratio, fig8_latency_ms=num(row["latency_ms"])),
                           ratio=ratio_block(ratio, num(b["latency_ms"])), energy=energy,
                           size=size_block(num(b["size_mb"]) * MB_BYTES * (1.0 - num(row["storage_reduction_pct"]) / 100.0),
                                           "baseline size x (1 - storage_reduction_pct/100)"),
                           memory={"peak_rss_bytes": None,
                                   "memory_footprint_reduction_pct": num(row["memory_footprint_reduction_pct"])},
                           accuracy=_accuracy(b, num(row["top1_loss_pct"]), "relative",
                                              fig8_top1_loss_pct=num(row["fig8_top1_loss_pct"])))

    def pruned(self, row: dict) -> dict:
        b, thr = self.base[row["network"]], int(row["threshold_pct"])
        ratio = 1.0 - num(row["latency_reduction_pct"]) / 100.0
        refs = [source_ref(DATASET, "pruning.csv", row["_row"]), source_ref(DATASET, "baselines.csv", b["_row"])]
        prov = provenance(DATASET, refs, {"ratio": "F", "latency_ms": "D", "energy_mj": "D", "size_bytes": "D",
                                          "accuracy_drop_pct": "F"}, method="baseline x published percentage")
        setting = {"name": f"prune-thr{thr}", "family": "pruning-retrained", "params": {"threshold_pct": thr},
                   "study_method": "low-ranking neurons removed, then retrained (tool not named)", "provenance": prov}
        energy = energy_block(num(b["energy_j"]) * 1000.0 * (1.0 - num(row["energy_reduction_pct"]) / 100.0),
                              ENERGY_SOURCE, True, power_reduction_pct=num(row["power_reduction_pct"]))
        return self.record(row["network"], setting, latency=latency_block(num(b["latency_ms"]) * ratio),
                           ratio=ratio_block(ratio, num(b["latency_ms"])), energy=energy,
                           size=size_block(num(b["size_mb"]) * MB_BYTES * (1.0 - thr / 100.0),
                                           "baseline size x (1 - threshold_pct/100); threshold = share of size pruned"),
                           accuracy=_accuracy(b, num(row["accuracy_loss_pct"]), "points"))

    def reported(self, row: dict) -> dict:
        b, net = self.base[row["network"]], row["network"]
        refs = [source_ref(DATASET, "pruning_models.csv", row["_row"]), source_ref(DATASET, "baselines.csv", b["_row"])]
        prov = provenance(DATASET, refs, {"latency_ms": "F", "energy_mj": "F", "size_bytes": "F", "ratio": "D",
                                          "accuracy_drop_pct": "D", "threshold_pct": "D"},
                          note="Fig. 9 pruned model; threshold inferred from Fig. 4 = Fig. 5 (README)")
        setting = {"name": "prune-reported", "family": "pruning-retrained", "provenance": prov,
                   "params": {"threshold_pct": REPORTED_THRESHOLD_PCT[net], "threshold_inferred": True}}
        mem = {"peak_rss_bytes": None, "memory_footprint_before_pct": num(row["memory_footprint_before_pct"]),
               "memory_footprint_after_pct": num(row["memory_footprint_after_pct"])}
        return self.record(net, setting, latency=latency_block(num(row["latency_ms"])),
                           ratio=ratio_block(num(row["latency_ms"]) / num(b["latency_ms"]), num(b["latency_ms"])),
                           energy=energy_block(num(row["energy_j"]) * 1000.0, ENERGY_SOURCE, True,
                                               fig4_power_reduction_pct=num(row["fig4_power_reduction_pct"])),
                           size=size_block(num(row["size_mb"]) * MB_BYTES, "published size_mb x 10**6"), memory=mem,
                           accuracy=_accuracy(b, num(row["loss_pct"]), "relative"))

    def combined(self, row: dict) -> dict:
        net = row["network"]
        before, after = num(row["latency_ms_before"]), num(row["latency_ms_after"])
        prov = provenance(DATASET, [source_ref(DATASET, "combined.csv", row["_row"])],
                          {"latency_ms": "F", "energy_mj": "F", "size_bytes": "F", "top1": "F", "ratio": "D"},
                          technique=row["technique"])
        setting = {"name": "wq8+prune", "family": "combined", "provenance": prov,
                   "params": {"steps": ["wq8", "pruning-retrained"], "threshold_pct": None}}
        top1_b, top1_a = num(row["top1_pct_before"]), num(row["top1_pct_after"])
        acc = {"source": "labels", "metric": "top1", "top1": top1_a / 100.0, "baseline_top1": top1_b / 100.0,
               "accuracy_drop_pct": top1_b - top1_a, "loss_basis": "points (before and after printed)"}
        return self.record(net, setting, latency=latency_block(after), ratio=ratio_block(after / before, before),
                           energy=energy_block(num(row["energy_j_after"]) * 1000.0, ENERGY_SOURCE, True),
                           size=size_block(num(row["size_mb_after"]) * MB_BYTES, "published size_mb x 10**6"),
                           accuracy=acc)


def _accuracy(base: dict, loss_pct: float | None, basis: str | None, **extra) -> dict:
    """Accuracy block from the baseline row and a published loss (None for the baseline itself)."""
    top1 = num(base.get("top1_pct"))
    if top1 is None:  # NMT: BLEU, whose loss basis (points or relative) the paper does not make clear
        out = {"source": "published-bleu", "metric": "bleu", "baseline_bleu": num(base.get("bleu"))}
        return out if loss_pct is None else dict(out, published_loss_pct=loss_pct, loss_basis="unknown")
    if loss_pct is None:
        return {"source": "labels", "metric": "top1", "top1": top1 / 100.0,
                "dataset": "ILSVRC 2012 validation, 50K images"}
    drop_pp = top1 * loss_pct / 100.0 if basis == "relative" else loss_pct
    return {"source": "labels", "metric": "top1", "top1": (top1 - drop_pp) / 100.0, "baseline_top1": top1 / 100.0,
            "accuracy_drop_pct": drop_pp, "published_loss_pct": loss_pct,
            "loss_basis": f"{basis} (README note C2: likely, not certain)", **extra}


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor
