"""What the layer-time model (advisor/predictors/kernels.py) learns from, and how well, families held out.

    .venv/bin/python benchmarks/layer_times.py

1. Channel divisibility: profiled depthwise convolutions whose channels are not a multiple of 8 (the
   structure kind ``mac_dw_u``), their time per MAC by how often 2 divides the channel count, against
   the aligned ones. The reason the layer model sees ``pow2`` of each channel count.
2. Leave-one-family-out: for each family, a ``KernelModel`` fitted (as ``suite.fit_kernel`` does) on the
   other families' profiled layers prices that family's layers; the median absolute log error (shown
   as a factor, exp of it) by layer kind and overall.

Reads the host profile records (their layer rows and onnxruntime node profiles). Prints figures;
asserts nothing. About a minute.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np
from host_data import HOST_DATA

DATA = HOST_DATA


def _layers(frame):
    """(family, layer row, measured us) of every profiled layer with a time."""
    out = []
    for fam, rows, us in zip(frame["family"], frame["k_layers1"], frame["k_us"], strict=True):
        if rows is None or us is None:
            continue
        out += [(fam, r, t) for r, t in zip(rows, us, strict=True) if t > 0.5]
    return out


def main() -> int:
    from advisor.predictors import training
    from advisor.predictors.kernels import KernelModel
    from advisor.predictors.layer_encoding import LAYER_FIELDS, pow2

    t0 = time.time()
    frame = training.select(DATA, "host", "onnxruntime-cpu").frame
    if "k_us" not in frame.columns:
        print("the host records carry no node profiles", file=sys.stderr)
        return 1
    layers = _layers(frame)
    kind_at, macs_at, cout_at = LAYER_FIELDS.index("kind"), LAYER_FIELDS.index("macs"), LAYER_FIELDS.index("c_out")
    print(f"{len(layers)} profiled layers with a time, {frame['model_sha'].nunique()} networks")

    print("\n1. depthwise convolutions, ns per MAC (median over layers)")
    dw = [(r, t) for _, r, t in layers if str(r[kind_at]).startswith("mac_dw_")]
    aligned = [1e3 * t / r[macs_at] for r, t in dw if r[kind_at] != "mac_dw_u"]
    print(f"  channels a multiple of 8 or 16: {np.median(aligned):.3f} ({len(aligned)} layers)")
    unal = [(r, t) for r, t in dw if r[kind_at] == "mac_dw_u"]
    p2 = pow2([r[cout_at] for r, _ in unal])
    for label, sel in (("divisible by 4", p2 >= 2), ("odd or twice odd", p2 < 2)):
        v = [1e3 * t / r[macs_at] for (r, t), s in zip(unal, sel, strict=True) if s]
        if v:
            print(f"  not a multiple of 8, {label}: {np.median(v):.3f} (p10 {np.percentile(v, 10):.3f}, "
                  f"p90 {np.percentile(v, 90):.3f}; {len(v)} layers)")

    print("\n2. layer time, each family held out: median |log error| as a factor (n layers)")
    fams = sorted({f for f, _, _ in layers})
    errs: dict = {}
    for fam in fams:
        train = [(r, t) for f, r, t in layers if f != fam]
        test = [(r, t) for f, r, t in layers if f == fam]
        # profiled times as they are: this scores the model against the profiler's own figures
        model = KernelModel(profiler_node_us=0.0).fit([r for r, _ in train], [t for _, t in train])
        pred = model.totals([(tuple(r),) for r, _ in test])
        for (r, t), p in zip(test, pred, strict=True):
            errs.setdefault(str(r[kind_at]), []).append(abs(math.log(p / t)))
            errs.setdefault("(all)", []).append(abs(math.log(p / t)))
    for k in sorted(errs, key=lambda k: (k != "(all)", k)):
        print(f"  {k:20s} x{math.exp(np.median(errs[k])):.2f}  ({len(errs[k])})")
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
