"""Does a latency ratio depend on how the two graphs take turns? Interleaved pairs against blocks.

    .venv/bin/python benchmarks/cache_protocol.py [--per-family 4] [--repeats 2] [--block 8] [--blocks 6]

The host labels (and the device profiler's ratios) alternate the original and the variant run by run
(``profiling.measure.measure_interleaved``): drift falls on both alike, but each graph then runs
with the other's weights and activations in the caches. A network deployed alone runs with its own.
For a network whose weights fit the caches alone but not beside another graph's, the two can differ.

For a seeded sample of ``--per-family`` variant records of each family (generated networks, rebuilt
and compressed again as in ``benchmarks/label_noise.py``), each repeat (one process, the items in its
own shuffled order) measures every variant twice in a row:

- interleaved: 3 warm-up pairs, then ``--pairs`` pairs; the median of the pairs' ratios;
- in blocks: ``--blocks`` blocks a graph, alternating (original first in even blocks), each of
  ``--block`` timed runs after one untimed run; the median variant run over the median original run.

Printed: how often each protocol agrees with itself from one repeat to the next, and with the other
(within +-10%), overall and per family, and the (family, setting) groups where the two protocols
differ most. Prints figures; asserts nothing. Measure on a quiet machine: nothing else running.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from label_noise import prepare, sample_records, within


def blocks_ratio(run_base, run_variant, block: int, blocks: int, clock=time.perf_counter) -> float:
    """Median variant run / median original run, the two taking turns in blocks of ``block`` runs."""
    times: dict = {run_base: [], run_variant: []}
    for k in range(2 * blocks):
        fn = (run_base, run_variant)[(k + k // 2) % 2]  # B V | V B | B V ...: each graph leads half the turns
        fn()  # the first run of a block warms the caches for this graph; not timed
        for _ in range(block):
            t0 = clock()
            fn()
            times[fn].append(clock() - t0)
    return statistics.median(times[run_variant]) / statistics.median(times[run_base])


def measure(items: list[dict], repeats: int, pairs: int, block: int, blocks: int) -> dict:
    """record id -> {"inter": [one per repeat], "block": [...]}."""
    from advisor.verify import paired_runs
    from profiling.measure import Protocol, measure_interleaved

    protocol = Protocol(warmup_runs=3, min_runs=pairs, max_runs=pairs, target_rel_ci=0.001, time_budget_s=1e6)
    got: dict = {it["rid"]: {"inter": [], "block": []} for it in items}
    for k in range(repeats):
        order = items[:]
        random.Random(2000 + k).shuffle(order)
        t0 = time.time()
        for it in order:
            run_base, run_variant = paired_runs(it["base"], it["variant"], threads=1)
            got[it["rid"]]["inter"].append(float(measure_interleaved(run_base, run_variant, protocol)[2]["ratio_median"]))
            got[it["rid"]]["block"].append(blocks_ratio(run_base, run_variant, block, blocks))
        print(f"  repeat {k + 1}: {len(order)} variants in {time.time() - t0:.0f} s", file=sys.stderr)
    return got


def _share(a, b) -> float:
    return float(np.mean(within(a, b)))


def report(items: list[dict], got: dict) -> None:
    fam = np.array([it["family"] for it in items])
    sett = np.array([it["setting"] for it in items])
    i1 = np.array([got[it["rid"]]["inter"][0] for it in items])
    i2 = np.array([got[it["rid"]]["inter"][-1] for it in items])
    b1 = np.array([got[it["rid"]]["block"][0] for it in items])
    b2 = np.array([got[it["rid"]]["block"][-1] for it in items])
    inter, blk = np.sqrt(i1 * i2), np.sqrt(b1 * b2)
    print(f"{len(items)} variants; within +-10%:")
    print(f"  interleaved, repeat 1 vs 2: {100 * _share(i1, i2):.1f}%   blocks, repeat 1 vs 2: {100 * _share(b1, b2):.1f}%")
    print(f"  blocks vs interleaved (each repeat): {100 * _share(b1, i1):.1f}% / {100 * _share(b2, i2):.1f}%; "
          f"their geometric means: {100 * _share(blk, inter):.1f}%")
    print("  per family (blocks vs interleaved, geometric means of the repeats; interleaved 1 vs 2):")
    for f in sorted(set(fam)):
        m = fam == f
        print(f"    {f:16s} {100 * _share(blk[m], inter[m]):5.1f}%   {100 * _share(i1[m], i2[m]):5.1f}%   (n={int(m.sum())})")
    d = np.log(blk / inter)
    groups = sorted({(f, s) for f, s in zip(fam, sett, strict=True)},
                    key=lambda g: -abs(float(np.median(d[(fam == g[0]) & (sett == g[1])]))))
    print("  largest median log(blocks / interleaved) by (family, setting):")
    for f, s in groups[:8]:
        m = (fam == f) & (sett == s)
        print(f"    {f:16s} {s:26s} {float(np.median(d[m])):+.3f}  (n={int(m.sum())}; interleaved "
              f"{float(np.median(inter[m])):.3g}, blocks {float(np.median(blk[m])):.3g})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/advisor-label-noise"))
    args = ap.parse_args()
    if args.repeats < 2 or args.pairs < 5 or args.per_family < 1 or args.block < 1 or args.blocks < 1:
        print("error: need --repeats >= 2, --pairs >= 5 and --per-family, --block, --blocks >= 1", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    items = prepare(sample_records(args.per_family, args.seed), args.work)
    print(f"  {len(items)} variants ready in {time.time() - t0:.0f} s", file=sys.stderr)
    if not items:
        print("error: no variant could be rebuilt", file=sys.stderr)
        return 1
    report(items, measure(items, args.repeats, args.pairs, args.block, args.blocks))
    print(f"({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
