"""Build every generated zoo network and print per-family counts, MACs, parameters, build time and
fp32 single-thread onnxruntime latency (the size budget of advisor.zoo.generator).

    .venv/bin/python benchmarks/zoo_generator_stats.py [--family F] [--per-family N] [--json FILE]

Latency: median of >= 5 timed runs (>= 50 ms of runs) after 2 warm-up runs, one intra-op thread.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections import defaultdict


def _latency_ms(model_bytes: bytes, params: dict) -> tuple[float, list[int]]:
    """(median latency in ms, output shape) of one inference on one CPU thread."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {}
    for i in sess.get_inputs():
        if i.type == "tensor(int64)":
            feed[i.name] = rng.integers(0, params.get("vocab", 2), size=i.shape).astype(np.int64)
        else:
            feed[i.name] = rng.standard_normal(i.shape).astype(np.float32)
    out = None
    for _ in range(2):
        out = sess.run(None, feed)[0]
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < 0.05:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), list(out.shape)


def measure(entry) -> dict:
    """Build, validate, extract features and time one entry."""
    from advisor.features import extract_features
    from advisor.modelio import from_proto

    t0 = time.perf_counter()
    model, _ = entry.build_model()
    build_s = time.perf_counter() - t0
    data = model.SerializeToString()
    feats = extract_features(from_proto(model))
    latency_ms, shape = _latency_ms(data, entry.params)
    return {"name": entry.name, "family": entry.family, "build_s": build_s, "macs": feats.macs_total,
            "params": feats.params_total, "est_macs": entry.params["est_macs"], "latency_ms": latency_ms,
            "shape_ok": shape == entry.params["output_shape"], "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data)}


def _row(label: str, rows: list[dict]) -> str:
    def rng(key, scale, fmt):
        vals = sorted(r[key] / scale for r in rows)
        return f"{vals[0]:{fmt}} {statistics.median(vals):{fmt}} {vals[-1]:{fmt}}"
    return (f"{label:15s} {len(rows):4d}  MACs(M) {rng('macs', 1e6, '8.2f')}  params(M) {rng('params', 1e6, '6.3f')}  "
            f"lat(ms) {rng('latency_ms', 1, '7.3f')}  sum {sum(r['latency_ms'] for r in rows):7.1f} ms  "
            f"build {sum(r['build_s'] for r in rows):6.1f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=0, help="only the first N of each family (0: all)")
    ap.add_argument("--family", help="only this family")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write every row to this file")
    args = ap.parse_args()
    from advisor.zoo.generator import generated_entries

    entries = generated_entries(args.seed)
    if args.family:
        entries = [e for e in entries if e.family == args.family]
    if args.per_family:
        entries = [e for e in entries if int(e.name.rsplit("-", 1)[1]) < args.per_family]
    start = time.perf_counter()
    rows = []
    for i, e in enumerate(entries):
        rows.append(measure(e))
        print(f"\r{i + 1}/{len(entries)} {e.name:28s}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    by_family = defaultdict(list)
    for r in rows:
        by_family[r["family"]].append(r)
    print(f"{'family':15s} {'n':>4s}  (min median max)")
    for family, fam_rows in by_family.items():
        print(_row(family, fam_rows))
    print(_row("ALL", rows))
    print(f"wall {time.perf_counter() - start:.1f} s; unique sha256 {len({r['sha256'] for r in rows})}/{len(rows)}; "
          f"output shapes ok {sum(r['shape_ok'] for r in rows)}/{len(rows)}; "
          f"MACs/estimate {min(r['macs'] / r['est_macs'] for r in rows):.2f}..{max(r['macs'] / r['est_macs'] for r in rows):.2f}")
    slow = sorted(rows, key=lambda r: -r["latency_ms"])[:5]
    print("slowest: " + ", ".join(f"{r['name']} {r['latency_ms']:.1f} ms" for r in slow))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
