"""Check the structure features' fusion rules against the graphs onnxruntime really builds.

For each zoo network (the first ``--per-family`` of every family in the catalogue) and each setting, the
compressed graph is built (``advisor compress``), handed to onnxruntime's CPU provider with every graph
optimization on, and the optimized graph it writes is read back. The elementwise ops left in it
(``structure.FUSABLE_ELEMENTWISE``; a fused Gelu or QuickGelu counted as the one Mul it is left as) are
compared with the ones ``structure._ort_absorbed`` leaves in the ONNX graph. Prints, per setting, how many graphs agree exactly, the mismatches, and how many elementwise
ops the rules absorb against onnxruntime's.

    python benchmarks/ort_fusions.py --per-family 2 --settings none,int8-static-pt,wq8,chprune25,fp16
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path


def left_by_onnxruntime(path: Path) -> collections.Counter:
    import onnx
    import onnxruntime as ort

    from advisor.predictors.structure import elementwise_built

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.log_severity_level = 1, 3
    so.optimized_model_filepath = str(path.with_suffix(".ort.onnx"))
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return elementwise_built(onnx.load(so.optimized_model_filepath).graph.node)


def left_by_rules(path: Path) -> tuple[collections.Counter, int]:
    import onnx

    from advisor.features.graph import GraphView
    from advisor.modelio import LoadedModel
    from advisor.predictors.structure import FUSABLE_ELEMENTWISE, _half_tensors, _ort_absorbed, elementwise_left

    model = onnx.load(str(path))
    view = GraphView(LoadedModel(None, model, onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)))
    gone = _ort_absorbed(view, _half_tensors(model, view))
    return elementwise_left(view, gone), sum(1 for n in view.compute if n.op_type in FUSABLE_ELEMENTWISE)


def main() -> int:
    from advisor.zoo.catalog import all_entries

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-family", type=int, default=2)
    ap.add_argument("--settings", default="none,int8-static-pt,wq8,chprune25,fp16")
    ap.add_argument("--work", type=Path, default=None, help="folder for the networks (default: a temporary one)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ort-fusions-"))
    work.mkdir(parents=True, exist_ok=True)
    by_family: dict[str, list[str]] = collections.defaultdict(list)
    for entry in all_entries():
        if entry.name.startswith("gen-") and len(by_family[entry.family]) < args.per_family:
            by_family[entry.family].append(entry.name)
    names = [n for ns in by_family.values() for n in ns]
    advisor = str(Path(sys.executable).with_name("advisor"))
    missing = [n for n in names if not (work / f"{n}.onnx").is_file()]
    if missing:
        subprocess.run([advisor, "zoo", "build", *missing, "-o", str(work)], check=False, stdout=subprocess.DEVNULL)
    agree, ops = collections.Counter(), collections.Counter()
    for setting in args.settings.split(","):
        for name in names:
            src = work / f"{name}.onnx"
            path = src if setting == "none" else work / f"{name}--{setting}.onnx"
            if setting != "none" and not path.is_file():
                done = subprocess.run([advisor, "compress", str(src), "--setting", setting, "--out", str(path)],
                                      capture_output=True, text=True)
                if done.returncode:
                    continue  # the setting does not apply to this network
            real, (mine, total) = left_by_onnxruntime(path), left_by_rules(path)
            agree[setting, real == mine] += 1
            ops[setting, "ops"] += total
            ops[setting, "absorbed_rules"] += total - sum(mine.values())
            ops[setting, "absorbed_ort"] += total - sum(real.values())
            if real != mine:
                print(f"  {name} {setting}: onnxruntime leaves {dict(real)}, the rules {dict(mine)}")
    for setting in args.settings.split(","):
        n = agree[setting, True] + agree[setting, False]
        print(f"{setting}: {agree[setting, True]}/{n} graphs agree; elementwise ops {ops[setting, 'ops']}, absorbed by "
              f"the rules {ops[setting, 'absorbed_rules']}, by onnxruntime {ops[setting, 'absorbed_ort']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
