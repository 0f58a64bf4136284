"""Rebuild the imported data sets: published Jetson measurements -> profile records (gzipped JSONL).

    .venv/bin/python datasets/build_imports.py [--data ../shared/data] [--only qin2018,published,nasperf]
                                               [--nasperf-sample N] [--check-features N]

Writes, next to this script:

* jetson-tx2-tensorflow/records.jsonl.gz   Qin et al. 2018 (advisor.importers.qin2018)
* jetson-tx2-tensorflow/study_features.json  features of the 11 study networks (built once, then reused)
* jetson-published/records.jsonl.gz, pairs.csv   tf_trt_models + torch2trt tables (advisor.importers.published_tables)
* jetson-nano-tensorrt/records.jsonl.gz    NAS-Performance-Modeling (advisor.importers.nasperf)

Single-threaded on purpose (torch and numpy each keep to one core). Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data"
PARTS = ("qin2018", "published", "nasperf")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def study_identities() -> dict[str, dict]:
    """Zoo name -> model block with features, for all 11 study networks (cached)."""
    from advisor.importers.study_features import ensure_cache
    from advisor.zoo.study import STUDY_NAMES

    return ensure_cache(HERE / "jetson-tx2-tensorflow" / "study_features.json", list(STUDY_NAMES), progress=log)


def build_qin(data: Path, created: str) -> int:
    from advisor.importers import qin2018
    from advisor.importers.common import write_records

    ids = {ident["paper_name"]: ident for ident in study_identities().values()}
    recs = qin2018.import_records(data, ids, created)
    return write_records(HERE / "jetson-tx2-tensorflow" / "records.jsonl.gz", recs)


def build_published(data: Path, created: str) -> int:
    from advisor.importers import published_tables
    from advisor.importers.common import write_records

    recs = published_tables.import_records(data, study_identities(), created)
    out = HERE / "jetson-published"
    n = write_records(out / "records.jsonl.gz", recs)
    _write_pairs(out / "pairs.csv", recs)
    return n


def _write_pairs(path: Path, recs: list[dict]) -> None:
    """A flat, human-readable table of the published records (one row each)."""
    cols = ["device", "runtime", "setting", "network", "family", "has_features", "latency_ms", "throughput_per_s",
            "ratio_vs_tf_fp32", "ratio_vs_pytorch_fp16", "source_rows"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in sorted(recs, key=lambda r: (r["device"]["name"], r["model"]["name"], r["runtime"]["name"])):
            lat = r["latency"]
            w.writerow([r["device"]["name"], r["runtime"]["name"], r["setting"]["name"], r["model"]["name"],
                        r["model"]["family"], bool(r["model"]["features"]), lat["median_ms"],
                        lat.get("throughput_per_s", ""), (r.get("ratio") or {}).get("ratio_median", ""),
                        lat.get("latency_ratio_vs_pytorch_fp16", ""),
                        ";".join(str(s["row"]) for s in r["setting"]["provenance"]["sources"])])


def build_nasperf(data: Path, created: str, sample: int | None, check: int) -> int:
    from advisor.importers import nasperf
    from advisor.importers.common import write_records

    feats = nasperf.NasperfFeatures()
    recs = nasperf.import_records(data, created, feats, sample=sample, study_identities=study_identities(),
                                  progress=log)
    ok = [r for r in recs if r["status"] == "ok" and "params_match" in r["setting"]["provenance"]]
    mismatched = [r["model"]["name"] for r in ok if not r["setting"]["provenance"]["params_match"]]
    log(f"nasperf: {len(ok)} synthetic ok records, parameter count mismatches: {len(mismatched)} {mismatched[:5]}")
    if check:
        check_features(data, feats, check)
    return write_records(HERE / "jetson-nano-tensorrt" / "records.jsonl.gz", recs)


def check_features(data: Path, feats, n: int) -> None:
    """Print the largest |stand-in - exact| of each weight-value feature over ``n`` sampled networks."""
    from advisor.importers import nasperf
    from advisor.importers.nasperf_arch import parse_name

    rows = nasperf.stratified_sample(nasperf.synthetic_rows(data), n)
    worst = dict.fromkeys(nasperf.WEIGHT_VALUE_FEATURES, 0.0)
    other = 0.0
    for row in rows:
        spec = parse_name(row["Model Name"])
        fast, exact = feats.values(spec), feats.exact_values(spec)
        for k in exact:
            d = abs(fast[k] - exact[k])
            if k in worst:
                worst[k] = max(worst[k], d)
            else:
                other = max(other, d / max(1.0, abs(exact[k])))
    log(f"feature check over {len(rows)} networks: max relative difference of shape features {other:.3g}")
    for k, d in worst.items():
        log(f"  {k:28s} max |stand-in - exact| = {d:.4g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--nasperf-sample", type=int, default=None,
                    help="import only N measured synthetic networks, stratified by folder (default: all)")
    ap.add_argument("--check-features", type=int, default=20,
                    help="compare stand-in and exact features on N synthetic networks (0 = skip)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from advisor.importers.common import now_utc

    created = now_utc()
    builders = {"qin2018": lambda: build_qin(args.data, created),
                "published": lambda: build_published(args.data, created),
                "nasperf": lambda: build_nasperf(args.data, created, args.nasperf_sample, args.check_features)}
    for part in args.only.split(","):
        if part not in builders:
            sys.exit(f"Unknown part '{part}'. Known: {', '.join(PARTS)}.")
        t0 = time.perf_counter()
        n = builders[part]()
        print(f"{part}: {n} records in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
