"""Time load_model + extract_features on a ~100 MB model (a chain of Gemm layers).

Run: .venv/bin/python benchmarks/bench_features.py [--runs 5] [--fp16]
Prints the median wall-clock seconds of the whole path (file -> ModelFeatures). Target: well under 1 s.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from advisor.features import extract_features
from advisor.modelio import load_model


def build_gemm_chain(width: int = 2048, layers: int = 6, fp16: bool = False) -> onnx.ModelProto:
    """A Gemm chain with ``layers`` weights of ``width`` x ``width`` (6 x 2048^2 = 25.2M params, ~100 MB fp32)."""
    rng = np.random.default_rng(0)
    dtype, elem = (np.float16, TensorProto.FLOAT16) if fp16 else (np.float32, TensorProto.FLOAT)
    nodes, inits, x = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((width, width), dtype=np.float32) * 0.02).astype(dtype)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(width, dtype), f"b{i}")]
        nodes += [helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"g{i}"], transB=1),
                  helper.make_node("Relu", [f"g{i}"], [f"h{i}"])]
        x = f"h{i}"
    graph = helper.make_graph(nodes, "gemm_chain", [helper.make_tensor_value_info("x", elem, [1, width])],
                              [helper.make_tensor_value_info(x, elem, [1, width])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fp16", action="store_true", help="store the weights as float16 (~50 MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gemm_chain.onnx"
        onnx.save(build_gemm_chain(fp16=args.fp16), str(path))
        size_mb = path.stat().st_size / 1e6
        times, load_times = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            lm = load_model(path)
            t1 = time.perf_counter()
            features = extract_features(lm)
            times.append(time.perf_counter() - t0)
            load_times.append(t1 - t0)
    print(f"model: {size_mb:.1f} MB, {features.params_total / 1e6:.1f} M params, "
          f"{features.macs_total / 1e6:.1f} M MACs")
    print(f"load_model median: {statistics.median(load_times):.3f} s")
    print(f"extract_features median: {statistics.median(t - lt for t, lt in zip(times, load_times, strict=True)):.3f} s")
    print(f"load_model + extract_features median over {args.runs} runs: {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
