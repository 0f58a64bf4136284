"""Rebuild the host-cpu characterisation data set: zoo -> `advisor profile` -> gzipped JSONL.

    python datasets/host-cpu/build_dataset.py [--work DIR] [--kinds generated,trained,study] [--limit N]

Every step is a plain `advisor` command (printed before it runs), so the same data can be made on
any device. Interrupt it at any point and rerun: `advisor profile` resumes, and the zoo build skips
networks already built. The gzipped record files land next to this script.
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADVISOR = str(Path(sys.executable).with_name("advisor"))
# Full-size study networks take 0.1-2 s per inference on this CPU: fewer settings, shorter protocol.
# int8-static is left out for the study networks: onnxruntime's calibrator on VGG-16 (553 MB) needed
# over 24 GB of memory here (the run was OOM-killed).
STUDY_SETTINGS = "none,fp16,int8-dynamic,wq8,chprune50"
# A 0.5 s budget per variant keeps the ~5000 generated variants near an hour on 2 cores; the interleaved
# ratio still reaches its 5% CI within it for most variants (each record says how it stopped).
PROFILE = {
    "generated": ["--settings", "all", "--time-budget", "0.5s", "--compress-jobs", "2", "--accuracy-samples", "4"],
    "trained": ["--settings", "all", "--time-budget", "0.5s"],
    "study": ["--settings", STUDY_SETTINGS, "--min-runs", "3", "--max-runs", "10", "--time-budget", "2s",
              "--accuracy-samples", "2", "--timeout", "900s"],
}
# The NMT (844 MB) is left out of the host sweep: its variants alone would take longer than the rest.
STUDY_SKIP = {"nmt"}


def run(cmd: list[str]) -> None:
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def build_kind(kind: str, work: Path, limit: int | None) -> None:
    models = work / kind
    models.mkdir(parents=True, exist_ok=True)
    names = _names(kind, limit)
    run([ADVISOR, "zoo", "build", *names, "-o", str(models)])
    out = work / f"{kind}.jsonl"
    files = [str(models / f"{n}.onnx") for n in names]
    run([ADVISOR, "profile", *files, "--out", str(out), "--work-dir", str(work / f"{kind}-variants"),
         *PROFILE[kind]])
    with open(out, "rb") as src, gzip.open(HERE / f"{kind}.jsonl.gz", "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)


def _names(kind: str, limit: int | None) -> list[str]:
    from advisor.zoo.catalog import all_entries

    by_family: dict[str, list[str]] = {}
    for e in all_entries(kinds=[kind]):
        by_family.setdefault(e.family, []).append(e.name)
    # Round-robin over families: a sweep stopped early still covers every family.
    names = [n for group in itertools.zip_longest(*by_family.values()) for n in group if n and n not in STUDY_SKIP]
    return names[:limit] if limit else names


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/advisor-dataset"))
    ap.add_argument("--kinds", default="generated,trained",
                    help="add ,study for the full-size study networks (needs > 24 GB RAM for VGG variants here)")
    ap.add_argument("--limit", type=int, default=None, help="networks per kind (for a quick try)")
    args = ap.parse_args()
    for kind in args.kinds.split(","):
        t0 = time.time()
        build_kind(kind, args.work, args.limit)
        print(f"# {kind}: {time.time() - t0:.0f} s", flush=True)
