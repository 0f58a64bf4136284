"""Time the analytic size model on a ~100 MB network and compare it with really applying each setting.

Run: .venv/bin/python benchmarks/bench_size_model.py [--model resnet50] [--runs 5] [--no-actual]

Prints the median wall-clock seconds of ``estimate_all`` over every registered setting (target: well
under 0.5 s), then one row per setting: the real ``ByteSize()`` of the applied setting, the estimate,
the error, and how long applying took. ``--no-actual`` skips applying. Static int8 settings are
skipped once one of them has taken over ``--max-apply-s`` seconds (their calibration dominates).
The model is a study network (advisor.zoo.study; resnet50 is 102 MB) or, with ``--model wide_cnn``,
eleven 512-channel 3x3 convolutions (104 MB) built with onnx.helper alone.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from advisor.compression import get_setting, setting_names
from advisor.modelio import from_proto
from advisor.predictors.size import estimate_all


def wide_cnn(layers: int = 11, width: int = 512) -> onnx.ModelProto:
    """``layers`` Conv(3x3, ``width`` -> ``width``) + Relu on a 1 x width x 14 x 14 input, then a Gemm head."""
    rng = np.random.default_rng(0)
    nodes, inits, x = [], [], "input"
    for i in range(layers):
        w = (rng.standard_normal((width, width, 3, 3), dtype=np.float32) * 0.02)
        inits += [numpy_helper.from_array(w, f"conv{i}.weight"),
                  numpy_helper.from_array(np.zeros(width, np.float32), f"conv{i}.bias")]
        nodes += [helper.make_node("Conv", [x, f"conv{i}.weight", f"conv{i}.bias"], [f"c{i}"], name=f"/conv{i}",
                                   kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"/relu{i}")]
        x = f"r{i}"
    inits += [numpy_helper.from_array(rng.standard_normal((10, width), dtype=np.float32), "fc.weight"),
              numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["pooled"], name="/pool"),
              helper.make_node("Flatten", ["pooled"], ["flat"], name="/flatten"),
              helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], name="/fc", transB=1)]
    graph = helper.make_graph(nodes, "wide_cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                [1, width, 14, 14])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def build(name: str) -> onnx.ModelProto:
    if name == "wide_cnn":
        return wide_cnn()
    from advisor.zoo.study import build_study

    return build_study(name)[0]


def time_estimates(lm, runs: int) -> tuple[dict, float, float]:
    """(estimates, first call s, median of ``runs`` later calls s)."""
    t0 = time.perf_counter()
    estimates = estimate_all(lm)
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        estimate_all(lm)
        times.append(time.perf_counter() - t0)
    return estimates, first, statistics.median(times)


def compare(lm, estimates: dict, max_apply_s: float) -> list:
    """Rows (setting, actual bytes or None, estimate or None, apply seconds or None, note)."""
    rows, slow_static = [], False
    for name in setting_names():
        est = estimates[name]
        setting = get_setting(name)
        if est is None:
            rows.append((name, None, None, None, f"n/a: {setting.check(lm)}"))
            continue
        if slow_static and setting.needs_calibration:
            rows.append((name, None, est, None, f"skipped: a static int8 apply took > {max_apply_s:g} s"))
            continue
        t0 = time.perf_counter()
        actual = setting.apply(lm).model.ByteSize()
        took = time.perf_counter() - t0
        slow_static |= setting.needs_calibration and took > max_apply_s
        rows.append((name, actual, est, took, ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", help="a study network name or 'wide_cnn'")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-actual", action="store_true", help="only time the estimates")
    parser.add_argument("--max-apply-s", type=float, default=60.0)
    args = parser.parse_args()
    print(f"building {args.model} ...", file=sys.stderr)
    lm = from_proto(build(args.model))
    size_mb = lm.model.ByteSize() / 1e6
    estimates, first, median = time_estimates(lm, args.runs)
    print(f"model: {args.model}, {size_mb:.1f} MB, {len(lm.model.graph.node)} nodes, {len(estimates)} settings")
    print(f"estimate_all: first call {first:.3f} s, median of {args.runs} later calls {median:.3f} s")
    if args.no_actual:
        return
    print(f"{'setting':26s} {'actual B':>12s} {'estimate B':>12s} {'diff B':>8s} {'error':>8s} {'apply s':>8s}")
    errors = []
    for name, actual, est, took, note in compare(lm, estimates, args.max_apply_s):
        if actual is None:
            print(f"{name:26s} {'-':>12s} {est if est is not None else '-':>12} {'':>8s} {'':>8s} {'':>8s} {note}")
            continue
        err = 100 * (est - actual) / actual
        errors.append(abs(err))
        print(f"{name:26s} {actual:12d} {est:12d} {est - actual:+8d} {err:+7.3f}% {took:8.1f}")
    print(f"max |error| over {len(errors)} applied settings: {max(errors):.3f}%")


if __name__ == "__main__":
    main()
