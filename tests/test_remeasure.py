"""datasets/remeasure.py: re-measure variant records' ratios in passes, resume, and keep the passes."""
from __future__ import annotations

import copy
import gzip
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from advisor import api
from advisor.predictors import dataset
from profiling.measure import summarize
from profiling.records import SCHEMA_VERSION, read_records, record_key, validate

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("remeasure", ROOT / "datasets" / "remeasure.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_model(path: Path) -> None:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                              "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _record(name: str, sha: str, setting: str, size: int, ratio: float | None) -> dict:
    rec = {"schema_version": SCHEMA_VERSION, "record_id": record_key(sha, setting, "host", "onnxruntime-cpu", 1),
           "created_utc": "2026-11-30T00:00:00Z", "status": "ok", "error": None,
           "model": {"name": name, "sha256": sha}, "setting": {"name": setting}, "device": {"name": "host"},
           "runtime": {"name": "onnxruntime-cpu", "threads": 1}, "software": {},
           "protocol": {"warmup_runs": 1, "min_runs": 3, "max_runs": 5, "target_rel_ci": 0.05},
           "latency": summarize([1.0, 1.1, 1.2]), "host": {"steal_pct": 0.0},
           "energy": {"source": "estimate", "energy_is_estimate": True}, "memory": {"peak_rss_bytes": 1},
           "size": {"size_bytes": size, "compressed_size_bytes": size}, "accuracy": {"source": "none"}}
    if ratio is not None:
        rec["ratio"] = {"ratio_median": ratio}
    return rec


def test_passes_are_measured_resumed_and_kept_in_the_records(tmp_path, capsys):
    mod = _script()
    models, variants = tmp_path / "models", tmp_path / "variants"
    models.mkdir()
    _tiny_model(models / "tiny.onnx")
    sha = api.file_sha256(models / "tiny.onnx")
    api.compress(models / "tiny.onnx", "fp16", tmp_path / "probe.onnx", check_fidelity=False)
    size = (tmp_path / "probe.onnx").stat().st_size
    recs = [_record("tiny", sha, "none", 1, None), _record("tiny", sha, "fp16", size, 1.4),
            _record("tiny", "0" * 64, "sparse50", size, 1.0),  # another model than the file: skipped
            _record("gone", sha, "wq8", size, 1.0)]  # no such model file: skipped
    data = tmp_path / "d.jsonl.gz"
    with gzip.open(data, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    args = ["--models", str(models), "--variants", str(variants), "--pairs", "10", "--budget", "0.05"]
    for seed in (1, 2):
        out = tmp_path / f"pass{seed}.jsonl"
        assert mod.main(["measure", str(data), *args, "--out", str(out), "--seed", str(seed)]) == 0
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert [x["rid"] for x in lines] == [recs[1]["record_id"]] and lines[0]["ratio_median"] > 0
        assert lines[0]["n_pairs"] >= 10 and lines[0]["pass"] == seed
    assert (variants / mod._variant_name(recs[1])).is_file()  # compressed again, same size as the record's
    err = capsys.readouterr().err
    assert "2 skipped" in err
    assert mod.main(["measure", str(data), *args, "--out", str(tmp_path / "pass1.jsonl")]) == 0  # resumes: nothing left
    assert "1 already measured" in capsys.readouterr().err and len((tmp_path / "pass1.jsonl").read_text().splitlines()) == 1

    before = copy.deepcopy(recs)
    assert mod.main(["apply", str(data), "--passes", str(tmp_path / "pass1.jsonl"), str(tmp_path / "pass2.jsonl")]) == 0
    after = list(read_records(str(data), strict=True))
    for r in after:
        validate(r)
    passes = after[1]["ratio"]["remeasured"]
    assert [p["pass"] for p in passes] == [1, 2] and after[1]["ratio"]["ratio_median"] == 1.4
    assert after[0] == before[0] and after[2] == before[2] and "remeasured" not in after[3]["ratio"]
    values = sorted([1.4] + [p["ratio_median"] for p in passes])
    assert dataset.ratio_label(after[1]["ratio"]) == values[1]


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    mod = _script()
    assert mod.main(["apply", str(tmp_path / "missing.jsonl.gz"), "--passes", str(tmp_path / "p.jsonl")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no such file")
    data = tmp_path / "d.jsonl"
    data.write_text("")
    assert mod.main(["apply", str(data), "--passes", str(tmp_path / "p.jsonl")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such file: {tmp_path / 'p.jsonl'}"
    assert mod.main(["measure", str(data), "--models", str(tmp_path), "--variants", str(tmp_path),
                     "--out", str(tmp_path / "o.jsonl"), "--pairs", "3"]) == 2
    assert "need --pairs >= 10" in capsys.readouterr().err
    assert mod.main(["measure", str(data), "--models", str(tmp_path), "--variants", str(tmp_path),
                     "--out", str(tmp_path / "o.jsonl"), "--disagree", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: need --disagree >= 0 (a percentage)"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"schema_version": 1, "record_id": "x"}\n')
    assert mod.main(["apply", str(bad), "--passes", str(data)]) == 2  # not a valid record: one line, no traceback
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and bad.read_text().startswith('{"schema_version": 1')


def test_more_passes_where_the_passes_disagree_are_merged_into_the_records(tmp_path):
    """``measure --disagree PCT`` takes only the records whose passes are more than PCT % apart;
    ``apply`` adds a later pass to the passes a record already has (a pass given again replaces its
    own), and the label is the median of them all with the sweep's."""
    mod = _script()
    recs = [_record("m", "a" * 64, s, 10, 1.0) for s in ("fp16", "wq8", "wq4")] + [_record("m", "a" * 64, "sparse50", 10, 1.0)]
    passes = [(1.00, 1.02), (1.00, 1.05), (1.10, 1.00), None]  # 2%, 5%, 10% apart; no passes
    for r, p in zip(recs, passes, strict=True):
        if p:
            r["ratio"]["remeasured"] = [{"pass": k + 1, "ratio_median": v} for k, v in enumerate(p)]
    data = tmp_path / "d.jsonl.gz"
    with gzip.open(data, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    assert [it["setting"] for it in mod._items([data], 0.03)] == ["wq8", "wq4"]
    assert [it["setting"] for it in mod._items([data], 0.07)] == ["wq4"]
    assert len(mod._items([data])) == 4
    more = tmp_path / "pass3.jsonl"
    more.write_text("".join(json.dumps({"rid": r["record_id"], "pass": 3, "ratio_median": 1.04}) + "\n" for r in recs[1:3])
                    + json.dumps({"rid": recs[2]["record_id"], "pass": 2, "ratio_median": 1.06}) + "\n")
    assert mod.main(["apply", str(data), "--passes", str(more)]) == 0
    after = list(read_records(str(data), strict=True))
    assert [p["pass"] for p in after[1]["ratio"]["remeasured"]] == [1, 2, 3]
    assert [p["ratio_median"] for p in after[2]["ratio"]["remeasured"]] == [1.10, 1.06, 1.04]
    assert after[0] == recs[0] and after[3] == recs[3]
    # the sweep's 1.0 and the passes 1.00, 1.05, 1.04: the geometric mean of the middle two
    assert dataset.ratio_label(after[1]["ratio"]) == pytest.approx(math.sqrt(1.00 * 1.04))
