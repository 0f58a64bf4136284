"""Size error on the study's TX2 networks: the advisor's size model against Qin et al.'s storage figures.

Size is computed from the graph, not learned (``advisor.predictors.size``), so "held out" is automatic:
nothing of the study's sizes enters the prediction. For each study network with published sizes
(``datasets/jetson-tx2-tensorflow/records.jsonl.gz``: baseline ``size_mb``; 16/8-bit sizes = baseline x
(1 - storage reduction)), the predicted compressed size is the published baseline x the size model's
ratio (``wq16``/``wq8`` bytes over ``none`` bytes on the zoo's ONNX build of the same network), and the
error is against the published compressed size. The uncompressed ONNX file against the published
model size is printed too (different frameworks, so not an error of the size model).

    .venv/bin/python benchmarks/study_size_check.py [--models DIR] [--write trained_predictors/jetson-tx2/tensorflow]

``--models``: folder with ``<name>.onnx`` zoo builds (default: build them into a temporary folder with
``advisor zoo build``, minutes and ~3 GB of disk for the 11 networks). ``--write``: add the figures to
that bundle's manifest (``size_check``), rewriting it atomically with its files unchanged.
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "datasets" / "jetson-tx2-tensorflow" / "records.jsonl.gz"
SETTINGS = ("wq16", "wq8")


def published_sizes() -> dict:
    """network -> {setting: published size in bytes} for none and the weight-only settings."""
    out: dict[str, dict] = {}
    with gzip.open(RECORDS, "rt") as fh:
        for rec in map(json.loads, fh):
            name, setting = rec["model"]["name"], rec["setting"]["name"]
            size = (rec.get("size") or {}).get("size_bytes")
            if rec["status"] == "ok" and size and setting in ("none",) + SETTINGS:
                out.setdefault(name, {})[setting] = float(size)
    return out


def check(models: Path) -> dict:
    from advisor.modelio import load_model
    from advisor.predictors.size import estimate_all

    rows, errs = {}, []
    for name, sizes in sorted(published_sizes().items()):
        path = models / f"{name}.onnx"
        if not path.exists():
            subprocess.run([str(Path(sys.executable).with_name("advisor")), "zoo", "build", name, "-o", str(models)],
                           check=False, stdout=subprocess.DEVNULL)
        if not path.exists() or "none" not in sizes:
            rows[name] = {"error": "no ONNX build or no published baseline size"}
            continue
        est = estimate_all(load_model(path), ("none",) + SETTINGS)
        row = {"onnx_none_bytes": est["none"], "published_none_bytes": sizes["none"]}
        for s in SETTINGS:
            if s in sizes and est.get(s):
                pred = sizes["none"] * est[s] / est["none"]
                row[s] = {"published_bytes": sizes[s], "predicted_bytes": pred, "rel_err": pred / sizes[s] - 1.0}
                errs.append(abs(pred / sizes[s] - 1.0) * 100.0)
        rows[name] = row
        print(f"{name:14s} " + "  ".join(f"{s} {row[s]['rel_err'] * 100:+6.1f}%" for s in SETTINGS if s in row),
              file=sys.stderr)
    e = np.array(errs)
    return {"n": int(len(e)), "median_abs_err_pct": float(np.median(e)) if len(e) else None,
            "p90_abs_err_pct": float(np.percentile(e, 90)) if len(e) else None,
            "max_abs_err_pct": float(e.max()) if len(e) else None,
            "protocol": "computed from each network's own graph (nothing learned): predicted = published baseline "
                        "size x size-model ratio on the zoo ONNX build; against the published compressed size",
            "command": "python benchmarks/study_size_check.py --write trained_predictors/jetson-tx2/tensorflow",
            "networks": rows}


def write(bundle: Path, result: dict) -> None:
    from advisor.predictors.bundle import read_checked, write_bundle

    manifest, files = read_checked(bundle)
    manifest["size_check"] = result
    write_bundle(bundle, manifest, files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=None)
    ap.add_argument("--write", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = check(args.models or Path(tmp))
    print(json.dumps({k: v for k, v in result.items() if k != "networks"}, indent=1))
    if args.write:
        write(args.write, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
