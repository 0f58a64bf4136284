"""Harness overhead and stopping-rule behaviour.

    python benchmarks/bench_harness.py [--rounds 10] [--runs 200]

1. Overhead: the same model timed by a bare `session.run` loop and by profiling.measure.measure()
   with the same number of runs, alternating in rounds in one process. Prints the harness's wall
   time per run (bookkeeping between runs included) and the mean it reports (what enters records),
   each against the bare loop (target: under 2%).
2. Stopping rule: how many runs the default protocol (5% CI target) needed for a few tiny models.
"""
from __future__ import annotations

import argparse
import statistics
import time

from advisor.compression.data import synthetic
from advisor.modelio import from_proto
from advisor.zoo.tiny import build_tiny
from profiling.measure import Protocol, measure
from profiling.runtimes.ort_session import make_session


def _session(name):
    model = build_tiny(name)
    lm = from_proto(model)
    feed = next(synthetic(lm, n_samples=1).feeds())
    return make_session(model.SerializeToString(), threads=1), feed


def overhead(name: str, rounds: int, runs: int) -> None:
    sess, feed = _session(name)
    fixed = Protocol(warmup_runs=0, min_runs=runs, max_runs=runs, target_rel_ci=1e-9, time_budget_s=1e9)
    bare, harness, reported = [], [], []
    for _ in range(20):
        sess.run(None, feed)
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(runs):
            sess.run(None, feed)
        bare.append((time.perf_counter() - t0) * 1000 / runs)
        t0 = time.perf_counter()
        summary, _ = measure(lambda: sess.run(None, feed), fixed)
        harness.append((time.perf_counter() - t0) * 1000 / runs)
        reported.append(summary["mean_ms"])
    b, h, r = statistics.median(bare), statistics.median(harness), statistics.median(reported)
    print(f"{name:14s} bare loop {b:.4f} ms/run | harness wall {h:.4f} ms/run ({100 * (h - b) / b:+.2f}%) | "
          f"harness-reported mean {r:.4f} ms ({100 * (r - b) / b:+.2f}%)  [{rounds} rounds x {runs} runs]")


def stopping(names: list[str]) -> None:
    print("\nstopping rule (warm-up 5, min 10, max 300 runs, 5% CI target, 20 s budget):")
    for name in names:
        sess, feed = _session(name)
        summary, reason = measure(lambda s=sess, f=feed: s.run(None, f), Protocol())
        print(f"{name:16s} runs {summary['n_runs']:4d}  stop={reason:11s} median {summary['median_ms']:.4f} ms  "
              f"rel CI {100 * summary['rel_ci95']:.2f}%")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    for model in ("mlp", "plain_cnn", "residual_cnn"):
        overhead(model, args.rounds, args.runs)
    stopping(["mlp", "plain_cnn", "residual_cnn", "depthwise_cnn", "gru", "transformer"])
