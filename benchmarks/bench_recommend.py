"""Time `advisor recommend` as a whole process on a ~100 MB model, and show torch is never imported.

    python benchmarks/bench_recommend.py [--runs 5] [--bundle DIR] [--model PATH]

Without --model it builds the zoo's ResNet-50 (102 MB, 25.6 M parameters) once into a temp folder.
Prints each run's wall time, the median (target: under 2 s), and the heavy modules found in
`sys.modules` of a recommend run (target: no torch, no xgboost, no sklearn).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADVISOR = str(Path(sys.executable).with_name("advisor"))
HEAVY = ("torch", "xgboost", "sklearn", "scipy", "onnxruntime.quantization", "matplotlib")


def build_resnet50(folder: Path) -> Path:
    from advisor.modelio import save_model
    from advisor.zoo.catalog import get_entry

    path = folder / "resnet50.onnx"
    model, _ = get_entry("resnet50").build_model()
    save_model(model, path)
    return path


def heavy_modules(model: Path, extra: list[str]) -> list[str]:
    code = ("import sys\nfrom advisor.cli.main import main\nsys.argv = ['advisor', 'recommend', " + repr(str(model))
            + ", '--device', 'host', '--max-latency', '1s', '--json'" + "".join(f", {a!r}" for a in extra) + "]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr
    return [line for line in err.splitlines() if line.startswith("HEAVY")]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()
    extra = ["--bundle", args.bundle] if args.bundle else []
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_resnet50(Path(tmp))
        print(f"model: {model} ({model.stat().st_size / 1e6:.1f} MB)")
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            proc = subprocess.run([ADVISOR, "recommend", str(model), "--device", "host", "--max-latency", "1s",
                                   *extra], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode not in (0, 3):
                sys.exit(f"advisor recommend failed: {proc.stderr.strip()}")
        print("runs (s): " + ", ".join(f"{t:.2f}" for t in times))
        print(f"median: {statistics.median(times):.2f} s (target < 2 s)")
        print(*heavy_modules(model, extra))
