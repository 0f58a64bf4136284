"""Add per-node kernel times (onnxruntime's profiler, ``record["node_profile"]``) to profile records
made without them, for the layer-time model (``advisor.predictors.kernels``).

    .venv/bin/python datasets/add_node_profiles.py datasets/host-cpu/generated.jsonl.gz ... \
        --models DIR ... --variants DIR ... --cache /tmp/node-profiles.jsonl

Each ok record's measured file is found again: the original as ``DIR/<model.name>.onnx`` in
``--models`` (sha256 checked), a compressed variant as ``DIR/<sha256[:16]>-<setting>.onnx`` in
``--variants`` (the names ``advisor profile --work-dir`` gives them; ``+`` written ``_``), checked by
its size against the record's ``size.size_bytes``. Each file is profiled once, in this process, one
at a time, with ``profiling.runtimes.ort_session.node_profile`` (1 thread unless the record says
otherwise); results go to ``--cache`` as they come (resumable: an interrupted run picks up where it
stopped). Then every input file is rewritten atomically (gzip, same order) with the profiles.
Records whose file is not found keep no node profile and are counted. Run nothing else meanwhile:
the per-node times are timings.

``--pair``: each variant is profiled alternately with its original in one process
(``ort_session.node_profile_pair``); its record's ``node_profile`` then carries ``"paired": true`` and
the original's profile of that process as ``"baseline"``, the yardstick that puts every profile of a
network on one scale (``advisor.predictors.dataset.paired_scales``). ``--cache-only``: fill the cache
and rewrite nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _variant(rec: dict, dirs: list[Path]) -> Path | None:
    from advisor.profile import variant_file_name

    name = variant_file_name(rec["model"]["sha256"], rec["setting"]["name"])
    want = (rec.get("size") or {}).get("size_bytes")
    for d in dirs:
        p = d / name
        if p.is_file() and (want is None or p.stat().st_size == want):
            return p
    return None


def _original(rec: dict, dirs: list[Path], seen: dict) -> Path | None:
    from add_structure import _in_dirs

    sha = rec["model"]["sha256"]
    if sha not in seen:
        seen[sha] = _in_dirs(rec["model"].get("name", ""), sha, dirs)
    return seen[sha]


def _load_cache(path: Path) -> dict:
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                d = json.loads(line)
                prof = dict(d["node_profile"])
                if d.get("node_profile_baseline"):  # --pair: the original's profile from the same process
                    prof["baseline"] = d["node_profile_baseline"]
                out[(d["sha256"], d["setting"], int(d.get("threads", 1)))] = prof
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by an interrupt
    return out


def main() -> int:
    from add_structure import _read, _write

    from profiling.runtimes.ort_session import node_profile, node_profile_pair

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--models", nargs="*", type=Path, default=[])
    ap.add_argument("--variants", nargs="*", type=Path, default=[])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--pair", action="store_true",
                    help="profile each variant alternately with its original in one process "
                         "(node_profile_pair): the record's node_profile also holds the original's as 'baseline'")
    ap.add_argument("--cache-only", action="store_true", help="fill the cache; rewrite no record file")
    args = ap.parse_args()
    all_records = {}
    for path in args.files:
        all_records[path] = _read(path)
        if all_records[path] is None:
            return 1
    cache, originals = _load_cache(args.cache), {}
    t0, done = time.time(), 0
    with open(args.cache, "a") as out:
        for records in all_records.values():
            for rec in records:
                if rec["status"] != "ok" or rec["runtime"]["name"] != "onnxruntime-cpu":
                    continue
                key = (rec["model"]["sha256"], rec["setting"]["name"], int(rec["runtime"]["threads"]))
                if key in cache:
                    continue
                f = _original(rec, args.models, originals) if key[1] == "none" else _variant(rec, args.variants)
                if f is None:
                    continue
                line = {"sha256": key[0], "setting": key[1], "threads": key[2], "file": str(f)}
                if args.pair and key[1] != "none":
                    base = _original(rec, args.models, originals)
                    if base is None:
                        continue
                    line["node_profile_baseline"], prof = node_profile_pair(str(base), str(f), threads=key[2])
                    cache[key] = dict(prof, baseline=line["node_profile_baseline"])
                else:
                    prof = cache[key] = node_profile(str(f), None, threads=key[2])
                line.update({"measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                             "loadavg": os.getloadavg()[0], "node_profile": prof})
                out.write(json.dumps(line) + "\n")
                out.flush()
                done += 1
                if done % 200 == 0:
                    print(f"{done} profiled ({time.time() - t0:.0f} s)", file=sys.stderr)
    if args.cache_only:
        return 0
    for path, records in all_records.items():
        added = missing = 0
        for rec in records:
            if rec["status"] != "ok":
                continue
            prof = cache.get((rec["model"]["sha256"], rec["setting"]["name"], int(rec["runtime"]["threads"])))
            if prof:
                rec["node_profile"] = prof
                added += 1
            else:
                missing += 1
        _write(path, records)
        print(f"{path}: {added} record(s) given node profiles, {missing} ok record(s) without (file not found)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
