"""Every MAC layer's kernel kind in the host records against the node onnxruntime's profiler timed for it.

    .venv/bin/python benchmarks/kernel_kinds_check.py [--settings none,chprune25,...]

Each record's variant layer rows (``setting.structure.layers1``, the structure replay) are matched to
its profiled nodes (``node_profile``) by the names the profiler may give the layer (``aliases1``,
``kernels._event_keys``), and two verdicts are compared:

1. Float convolutions: whether the replay calls the layer blocked (kinds ``*_a16_*`` / ``*_a8_*`` and
   ``mac_dw_a16`` / ``mac_dw_a8``) and whether onnxruntime ran its NCHWc kernel (the node's name
   carries ``nchwc``). Counted per convolution category (group 1, depthwise, grouped).
2. Convolutions, Gemms and MatMuls: whether the replay's verdict is integer (``int``), packed weights
   (``nbits``) or float, against the op onnxruntime ran (QLinearConv / QGemm / QLinearMatMul /
   MatMulIntegerToFloat / DynamicQuantizeMatMul / DynamicQuantizeLSTM / MatMulNBits, or a float op).

Prints the agreement tables; asserts nothing. About 1 minute (reads the 13,000 records once).
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import sys

from host_data import HOST_DATA

INTEGER_OPS = {"QLinearConv", "QGemm", "QLinearMatMul", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
               "DynamicQuantizeLSTM", "MatMulInteger", "ConvInteger"}


def replay_verdict(row) -> str:
    """"int", "nbits" or "float" for a layer row (``kernels.LAYER_FIELDS``)."""
    if row[2] in ("int", "int_pc", "nbits"):
        return "int" if row[2] == "int_pc" else row[2]
    return "int" if row[0].startswith("mac_int_") else "float"


def ran(op: str) -> str:
    return "int" if op in INTEGER_OPS else "nbits" if op == "MatMulNBits" else "float"


def blocked(row) -> bool:
    return "_a16_" in row[0] or "_a8_" in row[0] or row[0] in ("mac_dw_a16", "mac_dw_a8")


def main() -> int:
    from advisor.predictors.kernels import MAC_EVENT_OP, _event_keys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", default=None, help="comma-separated settings (default: all)")
    args = ap.parse_args()
    wanted = set(args.settings.split(",")) if args.settings else None
    layout = collections.Counter()  # (category, replay blocked, onnxruntime blocked) -> layers
    kinds = collections.Counter()  # (setting, replay verdict, onnxruntime verdict) -> layers
    unmatched = 0
    for path in HOST_DATA:
        with gzip.open(path, "rt") as f:
            for line in f:
                r = json.loads(line)
                s, prof = r["setting"].get("structure"), r.get("node_profile")
                if r.get("status") != "ok" or not s or not prof or not s.get("layers1"):
                    continue
                setting = r["setting"]["name"]
                if wanted is not None and setting not in wanted:
                    continue
                events = {}
                for name, op, _ in prof["nodes"]:
                    if MAC_EVENT_OP.search(op):
                        for key in _event_keys(name):
                            events.setdefault(key, (name, op))
                for row, aliases in zip(s["layers1"], s.get("aliases1") or [], strict=False):
                    hit = next((events[a] for a in aliases if a in events), None)
                    if hit is None:
                        unmatched += 1
                        continue
                    kinds[(setting, replay_verdict(row), ran(hit[1]))] += 1
                    if row[3].startswith("conv") and replay_verdict(row) == "float" and ran(hit[1]) == "float":
                        layout[(row[3], blocked(row), "nchwc" in hit[0].lower())] += 1
    print("float convolutions, blocked (NCHWc) verdict: replay vs onnxruntime")
    for cat in sorted({k[0] for k in layout}):
        rows = {k[1:]: v for k, v in layout.items() if k[0] == cat}
        agree = rows.get((True, True), 0) + rows.get((False, False), 0)
        print(f"  {cat:15s} {agree} of {sum(rows.values())} agree  "
              f"(replay blocked / ran plain {rows.get((True, False), 0)}, "
              f"replay plain / ran blocked {rows.get((False, True), 0)})")
    print("MAC layers, integer / packed / float verdict: replay vs onnxruntime")
    for setting in sorted({k[0] for k in kinds}):
        rows = {k[1:]: v for k, v in kinds.items() if k[0] == setting}
        agree = sum(v for (a, b), v in rows.items() if a == b)
        off = ", ".join(f"{a}->{b} {v}" for (a, b), v in sorted(rows.items()) if a != b)
        print(f"  {setting:26s} {agree} of {sum(rows.values())} agree" + (f"  ({off})" if off else ""))
    print(f"layers with no profiled node matched by name: {unmatched}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
