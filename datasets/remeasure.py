"""Measure the latency ratios of profile records again, in passes, and keep the passes in the records.

    .venv/bin/python datasets/remeasure.py measure datasets/host-cpu/generated.jsonl.gz ... \
        --models DIR ... --variants DIR ... --out PASS.jsonl [--seed K] [--pairs 60] [--budget 1.0]
    .venv/bin/python datasets/remeasure.py apply datasets/host-cpu/generated.jsonl.gz ... --passes PASS.jsonl ...

The host sweep timed each variant against its original for 10 to 200 interleaved pairs until the 95%
CI of the log ratio was within 5%, in 0.5 s, while other jobs shared the two cores; a re-measurement of
450 of its variants in quiet passes of 60 pairs (``benchmarks/label_noise.py``) agreed with itself for
98.8% and with the sweep for 93.8%. ``measure`` is one such pass over every ok variant record of the
files: each variant is timed interleaved with its original in this process, one intra-op thread, after
3 warm-up pairs, for up to ``--pairs`` pairs or ``--budget`` seconds (at least 10 pairs), in an order
shuffled by ``--seed``. A measurement taken while hypervisor steal exceeded 10% is taken again (once).

Models are looked up as ``DIR/<model.name>.onnx`` in ``--models`` (sha256 checked against the
record's); variants as ``DIR/<model sha256[:16]>-<setting, '+' as '_'>.onnx`` in ``--variants`` (their
size must equal the record's ``size.size_bytes``, or the variant is compressed again with
``advisor.api.compress`` into the first ``--variants`` folder). An item that cannot be matched is
skipped and counted. Each result is one JSON line appended (and fsynced) to ``--out``; a pass that is
interrupted resumes where it stopped (the record ids already in ``--out`` are skipped).

``apply`` writes every pass's result into its record as ``ratio.remeasured`` (a list, one entry per
pass: ``ratio_median``, ``ratio_ci95``, ``n_pairs``, ``steal_pct``, ``created_utc``, ``pass``), keeping
the sweep's own ``ratio.ratio_median``; each file is rewritten atomically. What the predictors learn
from a record with re-measurements is ``advisor.predictors.dataset.ratio_label``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

HIGH_STEAL_PCT = 10.0


def _records(path: Path) -> list[dict]:
    from profiling.records import read_records

    return list(read_records(str(path), strict=True))


def _variant_name(rec: dict) -> str:
    return f"{rec['model']['sha256'][:16]}-{rec['setting']['name'].replace('+', '_')}.onnx"


def _passes_spread(ratio: dict) -> float | None:
    """How far a record's re-measured passes are apart (largest over smallest, minus 1); None with
    fewer than two. The passes are read as the label reads them (``dataset.pass_ratios``)."""
    from advisor.predictors.dataset import pass_ratios

    values = pass_ratios(ratio)
    return max(values) / min(values) - 1.0 if len(values) >= 2 else None


def _items(files: list[Path], disagree: float | None = None) -> list[dict]:
    """The ok variant records of ``files`` to measure; with ``disagree`` (a fraction), only those whose
    re-measured passes are more than that apart."""
    out = []
    for path in files:
        for r in _records(path):
            if r.get("status") != "ok" or r["setting"]["name"] == "none" or not (r.get("ratio") or {}).get("ratio_median"):
                continue
            if disagree is not None and not ((_passes_spread(r["ratio"]) or 0.0) > disagree):
                continue
            out.append({"rid": r["record_id"], "name": r["model"]["name"], "sha": r["model"]["sha256"],
                        "setting": r["setting"]["name"], "size": (r.get("size") or {}).get("size_bytes"),
                        "variant": _variant_name(r), "threads": int(r["runtime"].get("threads") or 1)})
    return out


class _Files:
    """Finds (and checks) each item's original and variant files."""

    def __init__(self, models: list[Path], variants: list[Path]):
        self.models, self.variants, self._sha = models, variants, {}

    def model(self, item: dict) -> Path | None:
        for d in self.models:
            p = d / f"{item['name']}.onnx"
            if p.is_file():
                if p not in self._sha:
                    from advisor.api import file_sha256

                    self._sha[p] = file_sha256(p)
                if self._sha[p] == item["sha"]:
                    return p
        return None

    def variant(self, item: dict, model: Path) -> Path | None:
        for d in self.variants:
            p = d / item["variant"]
            if p.is_file() and (item["size"] is None or p.stat().st_size == item["size"]):
                return p
        dest = self.variants[0] / item["variant"]
        npz = model.with_suffix(".npz")
        try:
            from advisor import api

            api.compress(model, item["setting"], dest, data=npz if npz.is_file() else None, check_fidelity=False)
        except Exception as exc:  # noqa: BLE001 - an item that cannot be compressed again is skipped
            print(f"  {item['name']} {item['setting']}: not compressed ({str(exc).splitlines()[0][:80]})", file=sys.stderr)
            return None
        if item["size"] is not None and dest.stat().st_size != item["size"]:
            print(f"  {item['name']} {item['setting']}: compressed again to another size; skipped", file=sys.stderr)
            return None
        return dest


def _ratio(base: Path, variant: Path, threads: int, pairs: int, budget: float) -> dict:
    from advisor.verify import paired_runs
    from profiling.measure import Protocol, measure_interleaved, read_cpu_times, steal_pct

    run_base, run_variant = paired_runs(base, variant, threads)
    protocol = Protocol(warmup_runs=3, min_runs=min(10, pairs), max_runs=pairs, target_rel_ci=0.001,
                        time_budget_s=budget, interleaved=True)
    attempts = 0
    while True:
        attempts += 1
        before = read_cpu_times()
        _, _, r = measure_interleaved(run_base, run_variant, protocol)
        steal = steal_pct(before, read_cpu_times())
        if steal is None or steal <= HIGH_STEAL_PCT or attempts == 2:
            break
    return {"ratio_median": float(r["ratio_median"]), "ratio_ci95": [float(x) for x in r["ratio_ci95"]],
            "n_pairs": int(r["n_pairs"]), "steal_pct": steal, "attempts": attempts}


def measure(files: list[Path], models: list[Path], variants: list[Path], out: Path, seed: int, pairs: int,
            budget: float, disagree: float | None = None) -> int:
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's per-weight warnings
    items = _items(files, disagree)
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            try:
                done.add(json.loads(line)["rid"])
            except (ValueError, KeyError):
                continue  # a torn last line from a kill
    todo = [it for it in items if it["rid"] not in done]
    random.Random(seed).shuffle(todo)
    print(f"{len(items)} variant records, {len(done)} already measured in {out.name}, {len(todo)} to go", file=sys.stderr)
    where = _Files(models, variants)
    skipped, t0 = 0, time.time()
    for i, it in enumerate(todo):
        base = where.model(it)
        var = where.variant(it, base) if base is not None else None
        if var is None:
            skipped += 1
            continue
        r = _ratio(base, var, it["threads"], pairs, budget)
        line = json.dumps({"rid": it["rid"], "pass": seed, "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **r})
        fd = os.open(str(out), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if (i + 1) % 250 == 0:
            print(f"  {i + 1}/{len(todo)} in {time.time() - t0:.0f} s ({skipped} skipped)", file=sys.stderr, flush=True)
    print(f"done: {len(todo) - skipped} measured, {skipped} skipped, {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


def apply(files: list[Path], passes: list[Path]) -> int:
    from profiling.records import rewrite_records

    got: dict[str, dict[int, dict]] = {}
    for p in passes:
        for line in p.read_text().splitlines():
            try:
                x = json.loads(line)
            except ValueError:
                continue
            got.setdefault(x.pop("rid"), {})[int(x["pass"])] = x  # a pass's newest line per record
    for path in files:
        records, n = _records(path), 0
        for r in records:
            g = got.get(r["record_id"])
            if g and r.get("ratio"):
                kept = {int(p["pass"]): p for p in r["ratio"].get("remeasured") or [] if isinstance(p, dict) and "pass" in p}
                kept.update(g)  # a pass given again replaces the record's own
                r["ratio"]["remeasured"] = [kept[k] for k in sorted(kept)]
                n += 1
        rewrite_records(path, records)
        print(f"{path}: {n} of {len(records)} records with re-measurements", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("files", nargs="+", type=Path)
    m.add_argument("--models", nargs="+", type=Path, required=True)
    m.add_argument("--variants", nargs="+", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--pairs", type=int, default=60)
    m.add_argument("--budget", type=float, default=1.0)
    m.add_argument("--disagree", type=float, default=None, metavar="PCT",
                   help="only records whose re-measured passes are more than PCT %% apart (largest over smallest)")
    a = sub.add_parser("apply")
    a.add_argument("files", nargs="+", type=Path)
    a.add_argument("--passes", nargs="+", type=Path, required=True)
    args = ap.parse_args(argv)
    missing = [p for p in args.files + (args.passes if args.cmd == "apply" else []) if not p.is_file()]
    if missing:
        print(f"error: no such file: {missing[0]}", file=sys.stderr)
        return 2
    if args.cmd == "measure" and (args.pairs < 10 or args.budget <= 0):
        print("error: need --pairs >= 10 and --budget > 0", file=sys.stderr)
        return 2
    if args.cmd == "measure" and args.disagree is not None and not args.disagree >= 0:
        print("error: need --disagree >= 0 (a percentage)", file=sys.stderr)
        return 2
    from profiling.records import RecordError

    try:
        if args.cmd == "measure":
            args.variants[0].mkdir(parents=True, exist_ok=True)
            disagree = None if args.disagree is None else args.disagree / 100.0
            return measure(args.files, args.models, args.variants, args.out, args.seed, args.pairs, args.budget, disagree)
        return apply(args.files, args.passes)
    except (RecordError, OSError, ValueError) as exc:  # a file that is not what it should be: one line
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every finished measurement is kept; the same command resumes the pass", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
