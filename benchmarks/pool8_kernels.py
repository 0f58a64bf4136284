"""How fast onnxruntime's CPU provider runs a pooling layer in float and in 8 bits, one op at a time.

    .venv/bin/python benchmarks/pool8_kernels.py [--runs 50]

For MaxPool and AveragePool (2x2 and 3x3 windows, stride 2, 12-64 channels at 28-120 pixels), three
one-pool graphs, each timed by onnxruntime's profiler (1 thread, median kernel time of ``--runs``
runs, us):

- ``float``: the pool on float tensors;
- ``qdq``: QuantizeLinear -> DequantizeLinear -> pool -> QuantizeLinear -> DequantizeLinear, as a
  quantizer writes it between two float ops: onnxruntime drops the Q/DQ around a MaxPool and runs it
  on the 8-bit tensor, and fuses an AveragePool into QLinearAveragePool, both channels-first;
- ``after int conv``: the same after a QDQ 1x1 convolution, which onnxruntime fuses into a
  QLinearConv and moves to channels-last, where its 8-bit MaxPool is NhwcMaxPool.

The pool kernels each graph ran are printed with their times (two pools of one kind in a graph would
be summed; these graphs have one). Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse

import numpy as np

SHAPES = ((12, 120), (24, 60), (64, 56), (16, 28))
WINDOWS = ((2, 2), (3, 2))


def _graph(op: str, c: int, h: int, k: int, s: int, mode: str):
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
                        numpy_helper.from_array(np.array(0, np.uint8), "z")]
    x = "x"

    def qdq(name: str, out: str) -> None:
        nodes.extend([helper.make_node("QuantizeLinear", [name, "s", "z"], [out + "_q"]),
                      helper.make_node("DequantizeLinear", [out + "_q", "s", "z"], [out])])

    if mode != "float":
        qdq(x, "xd")
        x = "xd"
    if mode == "after int conv":
        w = np.random.default_rng(0).integers(-64, 64, (c, c, 1, 1)).astype(np.int8)
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(0.01, np.float32), "ws"),
                  numpy_helper.from_array(np.array(0, np.int8), "wz")]
        nodes += [helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"]),
                  helper.make_node("Conv", [x, "wd"], ["c"]), helper.make_node("Relu", ["c"], ["cr"])]
        qdq("cr", "cd")
        x = "cd"
    nodes.append(helper.make_node(op, [x], ["p"], kernel_shape=[k, k], strides=[s, s]))
    if mode == "float":
        nodes.append(helper.make_node("Identity", ["p"], ["y"]))
    else:
        qdq("p", "y")
    ho = (h - k) // s + 1
    graph = helper.make_graph(nodes, "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, h])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, ho, ho])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _kernel_times(model, x: np.ndarray, runs: int) -> dict:
    """Median kernel time (us) per run of each op type the session ran
    (``profiling.runtimes.ort_session.node_profile``: 1 thread, warm-up runs left out)."""
    from profiling.runtimes.ort_session import node_profile

    prof = node_profile(model.SerializeToString(), {"x": x}, threads=1, min_runs=runs, budget_s=0.0)
    per_op: dict = {}
    for _, op, us in prof["nodes"]:
        per_op[op] = per_op.get(op, 0.0) + us
    return per_op


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    rng = np.random.default_rng(0)
    for op in ("MaxPool", "AveragePool"):
        for c, h in SHAPES:
            for k, s in WINDOWS:
                x = rng.standard_normal((1, c, h, h)).astype(np.float32)
                parts = []
                for mode in ("float", "qdq", "after int conv"):
                    t = _kernel_times(_graph(op, c, h, k, s, mode), x, args.runs)
                    pools = {o: v for o, v in t.items() if "Pool" in o}
                    parts.append(f"{mode}: " + ", ".join(f"{o} {v:.0f}" for o, v in pools.items()))
                print(f"{op} {k}x{k}/{s}, {c} ch, {h}x{h}:  " + ";  ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
