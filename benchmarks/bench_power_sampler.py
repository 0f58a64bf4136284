"""Achieved sampling rate of PowerSampler and its cost to the work it measures.

Runs a fixed workload with and without the sampler thread, alternating, and prints the median
times, the overhead and the rate achieved. Two workloads: a pure-Python loop (holds the GIL, the
worst case: the sampler must win the GIL back every period) and numpy matrix products (release
the GIL, like onnxruntime/TensorRT inference). The default source reads the TX2 sysfs fixture
(real file reads); ``--source detect`` uses this host's own sensor.

    python benchmarks/bench_power_sampler.py [--hz 200] [--repeats 5] [--source fixture|detect]

Runs on Python 3.6 too (for a Jetson).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import profiling.power as pw  # noqa: E402
from profiling.power.sampler import PowerSampler  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "power" / "tx2_jetpack4"


def python_loop(n=3_000_000):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def numpy_loop(n=40, size=256):
    a = np.random.default_rng(0).standard_normal((size, size)) if hasattr(np.random, "default_rng") \
        else np.random.standard_normal((size, size))
    for _ in range(n):
        a = np.tanh(a @ a.T / size)
    return a


def timed(work):
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def bench(name, work, source, hz, repeats):
    bare, sampled, rates = [], [], []
    work()  # warm-up
    for _ in range(repeats):
        bare.append(timed(work))
        with PowerSampler(source, hz=hz) as sampler:
            with sampler.measure() as window:
                sampled.append(timed(work))
        rates.append(window["samples_hz"])
    b, s = statistics.median(bare), statistics.median(sampled)
    print(f"{name:14s} bare {b * 1000:8.1f} ms  with sampler {s * 1000:8.1f} ms  "
          f"overhead {100 * (s - b) / b:+6.1f} %  rate {statistics.median(rates):6.1f} Hz "
          f"(min {min(rates):6.1f}, target {hz})")


def read_cost_us(source, n=2000):
    reader = source.read_power_mw if source.kind == "power" else source.read_energy_counters_uj
    t0 = time.perf_counter()
    for _ in range(n):
        reader()
    return (time.perf_counter() - t0) / n * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hz", type=float, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--source", choices=("fixture", "detect"), default="fixture")
    args = parser.parse_args()
    source = pw.detect(str(FIXTURE)) if args.source == "fixture" else pw.detect()
    if source.kind == "none":
        sys.exit("no power source on this host; use --source fixture")
    print(f"source {source.name} ({source.kind}), one read {read_cost_us(source):.1f} us, "
          f"Python {sys.version.split()[0]}, switch interval {sys.getswitchinterval() * 1000:.1f} ms")
    with PowerSampler(source, hz=args.hz) as sampler:
        with sampler.measure() as idle:
            time.sleep(1.0)
    print(f"{'idle (sleep)':14s} rate {idle['samples_hz']:6.1f} Hz over {idle['window_s']:.2f} s")
    bench("python loop", python_loop, source, args.hz, args.repeats)
    bench("numpy matmul", numpy_loop, source, args.hz, args.repeats)
    source.close()


if __name__ == "__main__":
    main()
