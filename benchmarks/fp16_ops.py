"""How onnxruntime's CPU provider runs an fp16 graph, op by op: natively, between Casts, or expanded
into other ops; and which activations still fuse into a convolution. The evidence for
``advisor.predictors.structure._FP16_EXPANDED`` (the fp16 replay's added work).

    .venv/bin/python benchmarks/fp16_ops.py

Each case is a one- to three-op fp16 graph (opset 17, input [1, 64, 16, 16]), run 10 times with
onnxruntime's profiler on one thread; it prints the ops the session ran per run. Prints figures;
asserts nothing. A few seconds.
"""
from __future__ import annotations

import collections
import json
import tempfile

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

X = [1, 64, 16, 16]
PREFIX = tempfile.mkdtemp() + "/fp16-ops"
SECOND = helper.make_tensor_value_info("x2", TensorProto.FLOAT16, X)
UNARY = ("Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Elu", "Softplus", "Exp", "Sqrt")
BINARY = ("Add", "Mul", "Sub", "Div", "Max")
CONV_ACTS = ("Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "Clip", "Tanh")


def _half(name: str, shape: list, value: float = 0.1):
    return helper.make_tensor(name, TensorProto.FLOAT16, shape, np.full(int(np.prod(shape)), value, np.float16).tolist())


def _conv_inits() -> list:
    return [_half("w", [64, 64, 3, 3], 0.01), _half("bb", [64])]


def _conv(out: str = "y"):
    return helper.make_node("Conv", ["x", "w", "bb"], [out], pads=[1, 1, 1, 1])


def ran(nodes: list, inits: list, out_shape: list, second: bool = False) -> dict:
    """The ops one run executed (op -> count) for a float16 graph of ``nodes``."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT16, X)] + ([SECOND] if second else [])
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT16, out_shape)],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = PREFIX
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {i.name: rng.random(X).astype(np.float16) for i in inputs}
    for _ in range(10):
        s.run(None, feed)
    with open(s.end_profiling()) as f:
        events = json.load(f)
    ops = collections.Counter(e["args"]["op_name"] for e in events
                              if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"))
    return {k: v // 10 for k, v in ops.items()}


def cases() -> dict:
    out = {op: ([helper.make_node(op, ["x"], ["y"])], [], X, False) for op in UNARY}
    out |= {op: ([helper.make_node(op, ["x", "x2"], ["y"])], [], X, True) for op in BINARY}
    out["Softmax"] = ([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], [], X, False)
    out["MaxPool"] = ([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], [], X, False)
    out["Concat"] = ([helper.make_node("Concat", ["x", "x2"], ["y"], axis=1)], [], [1, 128, 16, 16], True)
    out["LayerNormalization"] = ([helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1)],
                                 [_half("s", [16], 1.0), _half("b", [16], 0.0)], X, False)
    out["MatMul"] = ([helper.make_node("MatMul", ["x", "m"], ["y"])], [_half("m", [16, 16], 0.01)], X, False)
    out["Conv"] = ([_conv()], _conv_inits(), X, False)
    for act in CONV_ACTS:
        clip = act == "Clip"
        node = helper.make_node(act, ["c"] + (["lo", "hi"] if clip else []), ["y"])
        inits = _conv_inits() + ([_half("lo", [], 0.0), _half("hi", [], 6.0)] if clip else [])
        out[f"Conv+{act}"] = ([_conv("c"), node], inits, X, False)
    out["Conv+SiLU"] = ([_conv("c"), helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", ["c", "s"], ["y"])],
                        _conv_inits(), X, False)
    return out


def main() -> int:
    print(f"onnxruntime {ort.__version__}, CPU provider, fp16 graphs: the ops one run executes")
    for name, (nodes, inits, shape, second) in cases().items():
        try:
            got = ran(nodes, inits, shape, second)
        except Exception as exc:  # an op the provider refuses in fp16 is a finding, not a crash
            got = f"error: {str(exc).splitlines()[0][:100]}"
        print(f"   {name:<20} {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
