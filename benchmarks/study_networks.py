"""Build the 11 study networks (Qin et al. 2018, Table I) and check each end to end.

For every network: export to ONNX (timed), save to a temporary directory (file size), count
parameters (torch module, and float initializers of the ONNX graph), compare with Table I, run
onnx.checker on the file, run onnxruntime CPU (2 intra-op threads) once to warm up and then
``--runs`` times (median latency). Failures become rows with an error, never gaps. Each ONNX file is
deleted after its checks (VGG is ~550 MB, NMT ~840 MB; peak RAM ~5 GB during the NMT export).

    .venv/bin/python benchmarks/study_networks.py [--only vgg16,nmt] [--runs 3] [--out CSV]

Prints a table on stdout, progress on stderr; writes datasets/study-networks/params.csv by default.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from advisor.zoo.study import STUDY_NAMES, TABLE1_ERRATA, study_entries, study_param_count

REPO = Path(__file__).resolve().parents[1]
STUDY_DATA = REPO.parent / "shared" / "data" / "qin2018-tx2"
FIELDS = ["name", "paper_name", "family", "input", "params_torch", "params_onnx", "table1_params",
          "diff_pct", "table1_erratum", "onnx_size_bytes", "study_size_mb", "checker_ok", "ort_ok",
          "output_shape", "latency_ms", "export_s", "status", "error"]
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


def read_study_column(filename: str, column: str) -> dict[str, float]:
    """Table I spelling -> float value of ``column`` in one of the study's CSV files ({} if absent)."""
    path = STUDY_DATA / filename
    if not path.exists():
        return {}
    with path.open() as fh:
        return {row["network"]: float(row[column]) for row in csv.DictReader(fh) if row[column]}


def onnx_param_count(model: onnx.ModelProto) -> int:
    """Elements of the floating-point initializers (weights; BN already folded into convs)."""
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type in FLOAT_TYPES)


def random_feed(session) -> dict:
    """Seeded inputs for every graph input: float32 N(0, 1) images, int64 token ids in [0, 1000)."""
    rng = np.random.default_rng(0)
    feed = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        if inp.type == "tensor(int64)":
            feed[inp.name] = rng.integers(0, 1000, size=shape, dtype=np.int64)
        else:
            feed[inp.name] = rng.standard_normal(shape, dtype=np.float32)
    return feed


def run_ort(path: Path, runs: int, row: dict) -> None:
    """One warm-up run, then ``runs`` timed runs on 2 threads; fills output_shape and latency_ms."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 2, 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = random_feed(session)
    out = session.run(None, feed)[0]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    row.update(ort_ok=bool(np.isfinite(out).all()), output_shape="x".join(map(str, out.shape)),
               latency_ms=round(statistics.median(times), 1))


def measure(entry, tmp: Path, runs: int, table1: dict, sizes: dict) -> dict:
    """All the figures for one network, as a CSV row."""
    paper = entry.params["paper_name"]
    row = dict.fromkeys(FIELDS, "")
    row.update(name=entry.name, paper_name=paper, family=entry.family, input=entry.params["input"],
               table1_erratum=entry.name in TABLE1_ERRATA, study_size_mb=sizes.get(paper, ""), status="failed")
    try:
        row["params_torch"] = study_param_count(entry.name)
        if paper in table1:
            row["table1_params"] = int(table1[paper] * 1e6)
            row["diff_pct"] = round(100 * (row["params_torch"] / row["table1_params"] - 1), 1)
        t0 = time.perf_counter()
        model, _ = entry.build_model()
        row["export_s"] = round(time.perf_counter() - t0, 1)
        row["params_onnx"] = onnx_param_count(model)
        path = tmp / f"{entry.name}.onnx"
        onnx.save(model, str(path))
        del model
        row["onnx_size_bytes"] = path.stat().st_size
        onnx.checker.check_model(str(path))
        row["checker_ok"] = True
        run_ort(path, runs, row)
        path.unlink()
        row["status"] = "ok"
    except Exception as exc:  # a failure is a row, not a crash of the whole sweep
        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return row


def print_table(rows: list[dict]) -> None:
    head = (f"{'network':<13} {'torch M':>8} {'onnx M':>8} {'TableI M':>8} {'diff%':>6} {'MB':>7} {'study MB':>8} "
            f"{'check':>5} {'ort':>4} {'output':>11} {'lat ms':>8} {'export s':>8}")
    print(head)
    for r in rows:
        def m(v):
            return f"{v / 1e6:.2f}" if isinstance(v, int) else "-"
        size = f"{r['onnx_size_bytes'] / 1e6:.1f}" if isinstance(r["onnx_size_bytes"], int) else "-"
        mark = "*" if r["table1_erratum"] else " "
        print(f"{r['name']:<13} {m(r['params_torch']):>8} {m(r['params_onnx']):>8} {m(r['table1_params']):>8} "
              f"{r['diff_pct']!s:>5}{mark} {size:>7} {r['study_size_mb']!s:>8} {r['checker_ok']!s:>5} "
              f"{r['ort_ok']!s:>4} {r['output_shape']:>11} {r['latency_ms']!s:>8} {r['export_s']!s:>8}")
        if r["error"]:
            print(f"    error: {r['error']}")
    print("* Table I erratum (see advisor.zoo.study.TABLE1_ERRATA); diff% = torch count vs Table I.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated network names (default: all 11)")
    parser.add_argument("--runs", type=int, default=3, help="timed onnxruntime runs after 1 warm-up")
    parser.add_argument("--out", type=Path, default=REPO / "datasets" / "study-networks" / "params.csv")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(STUDY_NAMES)
    table1 = read_study_column("networks.csv", "params_millions")
    sizes = read_study_column("baselines.csv", "size_mb")
    if not table1:
        print(f"warning: {STUDY_DATA / 'networks.csv'} not found; no Table I comparison", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in (e for e in study_entries() if e.name in names):
            print(f"building {entry.name} ...", file=sys.stderr, flush=True)
            rows.append(measure(entry, Path(tmp), args.runs, table1, sizes))
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
