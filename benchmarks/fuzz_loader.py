"""Fuzz load_model + extract_features + the structure replay (three settings) with mutated model bytes
for a time budget (the long run of tests/test_fuzz.py).

Run: .venv/bin/python benchmarks/fuzz_loader.py [--seconds 120] [--seed 0] [--keep DIR]   (or `make fuzz`)
Mutations of the tiny zoo models: bit flips, byte overwrites, truncations, splices of another model,
and field-level changes of a parsed model (dims, data types, op types, inputs, attributes, opsets).
The only outcomes allowed are success or an AdvisorError; anything else, or a case slower than
--case-timeout, is a failure, saved under --keep. Prints cases tried, failures found and time;
exits 1 when any failure was found.
"""
from __future__ import annotations

import argparse
import collections
import random
import signal
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import onnx

from advisor.errors import AdvisorError
from advisor.features import extract_features
from advisor.modelio import load_model
from advisor.predictors.structure import structure_and_size

OPS = ["Conv", "Relu", "MatMul", "Gemm", "Add", "Reshape", "Gather", "Concat", "Transpose", "Softmax", "LSTM", "GRU",
       "MaxPool", "Flatten", "Split", "Slice", "Unsqueeze", "QuantizeLinear", "DequantizeLinear", "If", "Loop",
       "Cast", "ConstantOfShape", "Expand", "Tile", "Pad", "Resize"]


class CaseTimeout(Exception):
    pass


def byte_mutation(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 6)):
        if not data:
            break
        i, kind = rng.randrange(len(data)), rng.randrange(4)
        if kind == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data[i] = rng.randrange(256)
        elif kind == 2:
            del data[i:]
        else:
            other = rng.choice(seeds)
            j = rng.randrange(len(other))
            data[i:i + rng.randint(0, 200)] = other[j:j + rng.randint(1, 200)]
    return bytes(data)


def field_mutation(rng: random.Random, models: list[onnx.ModelProto]) -> bytes:
    m = onnx.ModelProto()
    m.CopyFrom(rng.choice(models))
    g = m.graph
    for _ in range(rng.randint(1, 3)):
        node, kind = rng.choice(g.node), rng.randrange(8)
        if kind == 0 and g.initializer:
            t = rng.choice(g.initializer)
            if t.dims:
                t.dims[rng.randrange(len(t.dims))] = rng.choice([0, 1, -1, 2**40, rng.randrange(1, 100)])
        elif kind == 1 and g.initializer:
            rng.choice(g.initializer).data_type = rng.randrange(0, 40)
        elif kind == 2:
            node.op_type = rng.choice(OPS)
        elif kind == 3 and node.input:
            node.input[rng.randrange(len(node.input))] = rng.choice(["", "x", node.output[0]])
        elif kind == 4 and node.attribute:
            a = rng.choice(node.attribute)
            if a.ints:
                a.ints[rng.randrange(len(a.ints))] = rng.choice([0, -1, 2**31, 10**9, 3])
            elif a.HasField("i"):
                a.i = rng.choice([0, -1, 2**40, 5])
        elif kind == 5 and g.input[0].type.tensor_type.shape.dim:
            d = rng.choice(g.input[0].type.tensor_type.shape.dim)
            if rng.random() < 0.5:
                d.dim_param = "N"
            else:
                d.dim_value = rng.choice([0, 1, 10**9, 7])
        elif kind == 6:
            m.opset_import[0].version = rng.choice([0, 1, 6, 11, 13, 21, 28, 29, -5])
        elif len(g.node) > 1:
            del g.node[rng.randrange(len(g.node))]
    return m.SerializeToString()


def run_case(path: Path, timeout_s: float) -> str | None:
    """None when the case ends in success or an AdvisorError; else a one-line failure description."""
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lm = load_model(path)
            extract_features(lm)
            structure_and_size(lm, ["chprune25", "int8-static-pt", "fp16"])
    except AdvisorError:
        return None
    except CaseTimeout:
        return f"slower than {timeout_s} s"
    except Exception as exc:  # the finding: any other exception type
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}: {str(exc)[:120]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case-timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    parser.add_argument("--keep", type=Path, default=None, help="folder for failing cases (default: a temp folder)")
    args = parser.parse_args()

    from advisor.zoo.tiny import TINY_MODELS, build_tiny

    def on_alarm(signum, frame):
        raise CaseTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    models = [build_tiny(n) for n in TINY_MODELS]
    seeds = [m.SerializeToString() for m in models]
    rng = random.Random(args.seed)
    keep = args.keep or Path(tempfile.mkdtemp(prefix="fuzz-loader-"))
    keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fuzz-case-")) / "case.onnx"
    failures: collections.Counter = collections.Counter()
    cases, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        raw = byte_mutation(rng, seeds) if rng.random() < 0.5 else field_mutation(rng, models)
        work.write_bytes(raw)
        cases += 1
        failure = run_case(work, args.case_timeout)
        if failure:
            if failure not in failures:
                (keep / f"failure-{len(failures):03d}.onnx").write_bytes(raw)
            failures[failure] += 1
    elapsed = time.perf_counter() - start
    print(f"cases tried: {cases} in {elapsed:.1f} s ({cases / elapsed:.0f}/s), seed {args.seed}")
    print(f"failures found: {sum(failures.values())} ({len(failures)} distinct)" +
          (f"; cases saved in {keep}" if failures else ""))
    for text, n in failures.most_common():
        print(f"  {n:5d}  {text}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
