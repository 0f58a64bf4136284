"""Rebuild the compressed variant files of profile records, named as ``advisor profile --work-dir``
names them, for the scripts that profile them again (``add_node_profiles.py --variants DIR``).

    .venv/bin/python datasets/build_variants.py datasets/host-cpu/generated.jsonl.gz ... \
        --models DIR ... --out DIR [--shard K/N]

For each ok record of a compressed setting (runtime onnxruntime-cpu), its original is found as
``DIR/<model.name>.onnx`` in ``--models`` (sha256 checked; ``advisor zoo build NAME... -o DIR`` makes
them) and compressed again with ``advisor.api.compress`` into ``--out`` as
``<sha256[:16]>-<setting>.onnx`` (``+`` written ``_``), with ``DIR/<model.name>.npz`` as calibration
data where present, as the sweep used it. A file whose size differs from the record's
``size.size_bytes`` is removed and counted: the profiling scripts would not take it. Files already
there are kept (rerun to resume). ``--shard K/N`` builds every N-th variant from the K-th (0-based), so
N processes can share the work; compressing is CPU work, so never beside a measurement.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def main() -> int:
    from add_structure import _in_dirs, _read

    from advisor import api
    from advisor.errors import AdvisorError
    from advisor.profile import variant_file_name

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--models", nargs="+", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--shard", default="0/1", help="K/N: build every N-th variant, starting at the K-th")
    args = ap.parse_args()
    try:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 0 <= k < n:
            raise ValueError
    except ValueError:
        print(f"error: --shard takes K/N with 0 <= K < N, got '{args.shard}'.", file=sys.stderr)
        return 2
    todo: dict[tuple[str, str], tuple[str, int | None]] = {}
    for path in args.files:
        records = _read(path)
        if records is None:
            return 1
        for r in records:
            if r["status"] == "ok" and r["setting"]["name"] != "none" and r["runtime"]["name"] == "onnxruntime-cpu":
                todo[(r["model"]["sha256"], r["setting"]["name"])] = (r["model"].get("name", ""),
                                                                     (r.get("size") or {}).get("size_bytes"))
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's per-weight warnings
    built = kept = missing = mismatched = failed = 0
    t0 = time.time()
    for sha, setting in sorted(todo)[k::n]:
        name, want = todo[(sha, setting)]
        dest = args.out / variant_file_name(sha, setting)
        if dest.is_file():
            kept += 1
            continue
        original = _in_dirs(name, sha, args.models)
        if original is None:
            missing += 1
            continue
        data = original.with_suffix(".npz")
        try:
            api.compress(original, setting, dest, data=data if data.is_file() else None, check_fidelity=False)
        except AdvisorError as exc:
            print(f"{name} {setting}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if want is not None and dest.stat().st_size != want:
            dest.unlink()
            mismatched += 1
        else:
            built += 1
    print(f"{built} variant(s) built, {kept} already there, {mismatched} of another size than the record's "
          f"(removed), {missing} without their original, {failed} failed ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
