"""--verify on networks of families held out from training: is the measured latency of the
recommended setting inside its predicted 90% interval?

    python benchmarks/bench_verify.py [--families residual,transformer] [--per-family 8]

Trains a host bundle on datasets/host-cpu without the named families, builds networks of those
families from the zoo, runs `advisor recommend --apply --verify` on each (objective latency, no
budget, so the fastest predicted setting is measured), and prints the share within the interval
(target: >= 85%).
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from host_data import HOST_DATA

ROOT = Path(__file__).resolve().parents[1]
ADVISOR = str(Path(sys.executable).with_name("advisor"))


def held_out_profiles(families: set[str], out: Path) -> None:
    with gzip.open(out, "wt") as dst:
        for path in HOST_DATA:
            with gzip.open(path, "rt") as src:
                for line in src:
                    if json.loads(line)["model"]["family"] not in families:
                        dst.write(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="residual,transformer")
    ap.add_argument("--per-family", type=int, default=8)
    args = ap.parse_args()
    families = set(args.families.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        held_out_profiles(families, tmp / "train.jsonl.gz")
        bundle = tmp / "bundle"
        subprocess.run([ADVISOR, "train", "--profiles", str(tmp / "train.jsonl.gz"), "--device", "host", "--runtime",
                        "onnxruntime-cpu", "--out", str(bundle)], check=True, capture_output=True)
        names = [f"gen-{f}-{i:03d}" for f in sorted(families) for i in range(args.per_family)]
        subprocess.run([ADVISOR, "zoo", "build", *names, "-o", str(tmp / "models")], check=True, capture_output=True)
        hits = 0
        for name in names:
            proc = subprocess.run([ADVISOR, "recommend", str(tmp / "models" / f"{name}.onnx"), "--device", "host",
                                   "--bundle", str(bundle), "--apply", str(tmp / f"{name}-best.onnx"), "--verify",
                                   "--json"], capture_output=True, text=True)
            v = json.loads(proc.stdout)["verification"]
            hits += v["within_interval"]
            lo, hi = v["predicted_interval_ms"]
            print(f"{name:22s} {v['setting']:26s} predicted {v['predicted_latency_ms']:.3g} ms [{lo:.3g}, {hi:.3g}] "
                  f"measured {v['measured_latency_ms']:.3g} ms {'in' if v['within_interval'] else 'OUT'}", flush=True)
        print(f"within the 90% interval: {hits}/{len(names)} = {100 * hits / len(names):.0f}% (target >= 85%); "
              f"families held out of training: {', '.join(sorted(families))}")


if __name__ == "__main__":
    main()
