"""The int8 replay against onnxruntime: the graph its quant_pre_process writes, and the size of what
its quantizers wrote in the host sweep.

    .venv/bin/python benchmarks/int8_replay_check.py [--families convnext,transformer,...] [--limit N]
        [--no-sizes]

For every zoo network of the families (rebuilt in code from the catalogue, as the sweep built it):

1. onnxruntime's ``quant_pre_process`` is run on it and its ops are counted, op type by op type,
   against the replay's pre-processed graph (``size._Context.pre_processed``: what the int8
   quantizers and the structure features read). Prints how many graphs agree exactly and the op
   types of the others.
2. Unless ``--no-sizes``: the size model's estimate for each int8 setting against the size the sweep
   recorded for that network and setting (``size.size_bytes`` of the records in
   ``datasets/host-cpu``; a network whose rebuild hashes differently is skipped). Prints the median,
   90th percentile and largest absolute % error and how many exceed 2%.

Prints figures; asserts nothing. All 720 networks take about 15 minutes (the pre-processing
dominates); ``--families convnext,transformer,vit,hybrid,mixer`` about 5.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from host_data import HOST_DATA

INT8 = ("int8-static-pt", "int8-static-pc", "int8-dynamic", "chprune25+int8-static-pc", "chprune50+int8-static-pc")


def recorded_sizes(families: set | None) -> dict:
    """(network name, setting) -> (recorded size in bytes, the network's sha256) from the host records."""
    out = {}
    for path in HOST_DATA:
        with gzip.open(path, "rt") as f:
            for line in f:
                r = json.loads(line)
                size = (r.get("size") or {}).get("size_bytes")
                if r.get("status") != "ok" or r["setting"]["name"] not in INT8 or not size:
                    continue
                if families is None or r["model"].get("family") in families:
                    out[(r["model"]["name"], r["setting"]["name"])] = (size, r["model"]["sha256"])
    return out


def pre_process_ops(model, work: Path) -> tuple[collections.Counter, collections.Counter]:
    """(onnxruntime's op counts, the replay's) for the pre-processed graph of ``model``."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from advisor.modelio import from_proto
    from advisor.predictors.size import _Context

    onnx.save(model, work / "m.onnx")
    quant_pre_process(str(work / "m.onnx"), str(work / "p.onnx"))
    real = collections.Counter(n.op_type for n in onnx.load(work / "p.onnx").graph.node)
    replayed = collections.Counter(n.op_type for n in _Context.of(from_proto(model)).pre_processed()[0].graph.node)
    return real, replayed


def main() -> int:
    import logging

    from advisor.modelio import from_proto
    from advisor.predictors.size import estimate_all
    from advisor.zoo.catalog import all_entries

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=None, help="comma-separated families (default: all)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many networks a family")
    ap.add_argument("--no-sizes", action="store_true", help="skip the size comparison")
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # the quantizer's per-tensor warnings
    families = set(args.families.split(",")) if args.families else None
    sizes = {} if args.no_sizes else recorded_sizes(families)
    entries, per_family = [], collections.Counter()
    for e in all_entries(kinds=["generated", "trained"]):
        if (families is None or e.family in families) and (args.limit is None or per_family[e.family] < args.limit):
            entries.append(e)
            per_family[e.family] += 1
    agree, differ, errors, skipped = 0, collections.Counter(), [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for e in entries:
            model, _ = e.build_model()
            real, replayed = pre_process_ops(model, Path(tmp))
            if real == replayed:
                agree += 1
            else:
                differ.update(k for k in set(real) | set(replayed) if real[k] != replayed[k])
                differ[f"family {e.family}"] += 1
            wanted = [s for s in INT8 if (e.name, s) in sizes]
            if not wanted:
                continue
            if hashlib.sha256(model.SerializeToString()).hexdigest() != sizes[(e.name, wanted[0])][1]:
                skipped += 1
                continue
            est = estimate_all(from_proto(model), wanted)
            errors += [100.0 * (est[s] / sizes[(e.name, s)][0] - 1.0) for s in wanted if est.get(s)]
    print(f"pre-processed graphs with onnxruntime's ops exactly: {agree} of {len(entries)}")
    if differ:
        print("  the others differ in: " + ", ".join(f"{k} ({v})" for k, v in differ.most_common()))
    if errors:
        err = np.abs(errors)
        print(f"int8 size estimates against the sweep's files: {len(err)} (networks skipped, rebuilt "
              f"differently: {skipped}); median {np.median(err):.2f}%, p90 {np.quantile(err, 0.9):.2f}%, "
              f"max {err.max():.2f}%, over 2%: {(err > 2).sum()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
