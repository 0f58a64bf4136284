"""Importers of published measurements: schema-valid records, faithful mappings, provenance."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from advisor.importers import nasperf, published_tables, qin2018
from advisor.importers.common import read_rows, write_records
from advisor.importers.nasperf_arch import ConvNetSpec, WeightSource, build_onnx, loaded_model, parse_name
from profiling.records import RecordError, read_records, validate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE = Path(__file__).resolve().parents[1] / "datasets" / "jetson-tx2-tensorflow" / "study_features.json"
CREATED = "2026-01-01T00:00:00Z"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


def _check_provenance(rec: dict, data_root: Path) -> None:
    prov = rec["setting"]["provenance"]
    assert prov["sources"] and set(prov["evidence"].values()) <= {"T", "F", "D"}
    for src in prov["sources"]:
        rows = read_rows(data_root / src["file"])
        assert 1 <= src["row"] <= len(rows)


@pytest.fixture(scope="module")
def qin_records() -> list[dict]:
    return qin2018.import_records(DATA, {}, CREATED)


@needs_data
def test_qin_records_are_valid_and_traceable(qin_records):
    assert len(qin_records) == 61
    assert len({r["record_id"] for r in qin_records}) == 61
    for rec in qin_records:
        validate(rec)
        assert rec["status"] == "ok" and rec["device"]["name"] == "jetson-tx2"
        assert rec["runtime"]["name"] == "tensorflow" and rec["protocol"]["source"] == "published"
        _check_provenance(rec, DATA)
    names = {r["setting"]["name"] for r in qin_records}
    assert {"none", "wq16", "wq8", "wq6", "prune-thr5", "prune-thr75", "prune-reported", "wq8+prune"} <= names


@needs_data
def test_qin_mobilenet_8bit_spot_check(qin_records):
    rec = next(r for r in qin_records if r["model"]["name"] == "MobileNet_v1" and r["setting"]["name"] == "wq8")
    assert rec["ratio"]["ratio_median"] == pytest.approx(1.166)
    assert rec["latency"]["median_ms"] == pytest.approx(18.0 * 1.166)
    assert rec["size"]["size_bytes"] / 1e6 == pytest.approx(4.3, abs=0.05)  # Fig. 8 prints 4.3 MB
    assert rec["energy"]["energy_mj"] == pytest.approx(130.0 * 1.077) and not rec["energy"]["energy_is_estimate"]
    acc = rec["accuracy"]  # 3.8 % relative of 70.7 % top-1 (README note C2) -> 2.69 points
    assert acc["source"] == "labels" and acc["accuracy_drop_pct"] == pytest.approx(70.7 * 0.038)
    assert acc["top1"] == pytest.approx((70.7 - 70.7 * 0.038) / 100)
    src = rec["setting"]["provenance"]["sources"][0]
    row = read_rows(DATA / src["file"])[src["row"] - 1]
    assert (row["network"], row["bits"]) == ("MobileNet_v1", "8")


@needs_data
def test_qin_pruning_and_wq6_mapping(qin_records):
    wq6 = next(r for r in qin_records if r["setting"]["name"] == "wq6")
    assert wq6["setting"]["params"] == {"bits": 6} and "registry" in wq6["setting"]["registry_note"]
    vgg10 = next(r for r in qin_records if r["model"]["name"] == "VGG_16" and r["setting"]["name"] == "prune-thr10")
    assert vgg10["setting"]["family"] == "pruning-retrained" and vgg10["setting"]["params"] == {"threshold_pct": 10}
    assert vgg10["ratio"]["ratio_median"] == pytest.approx(1 - 0.361)
    assert vgg10["accuracy"]["accuracy_drop_pct"] == pytest.approx(3.5)  # pruning.csv: points
    combo = next(r for r in qin_records if r["model"]["name"] == "ResNet_50" and r["setting"]["name"] == "wq8+prune")
    assert combo["ratio"]["ratio_median"] == pytest.approx(48.5 / 43.0)
    assert combo["accuracy"]["accuracy_drop_pct"] == pytest.approx(75.2 - 68.8)
    nmt = next(r for r in qin_records if r["model"]["name"] == "NMT" and r["setting"]["name"] == "prune-thr60")
    assert nmt["accuracy"]["source"] == "published-bleu"


@needs_data
def test_qin_uses_rebuilt_features_when_given():
    ident = {"name": "resnet50", "family": "resnet", "kind": "imported", "sha256": "ab" * 32,
             "features": {"macs_total": 1.0}, "paper_name": "ResNet_50"}
    recs = qin2018.import_records(DATA, {"ResNet_50": ident}, CREATED)
    assert all(r["model"]["sha256"] == "ab" * 32 for r in recs if r["model"].get("paper_name") == "ResNet_50")
    assert sum(r["model"]["features"] == {"macs_total": 1.0} for r in recs) == 11  # none, 3 wq, 5 thr, fig9, combo


@needs_data
def test_published_tables_pairs():
    recs = published_tables.import_records(DATA, {"inception_v1": {"sha256": "cd" * 32, "features": {"x": 1.0},
                                                                   "family": "inception"}}, CREATED)
    assert len(recs) == 123 and len({r["record_id"] for r in recs}) == 123
    for rec in recs:
        validate(rec)
        _check_provenance(rec, DATA)
    trt = next(r for r in recs if r["model"]["name"] == "inception_v1" and r["runtime"]["name"] == "tf-trt")
    assert trt["setting"]["name"] == "fp16" and trt["ratio"]["ratio_median"] == pytest.approx(7.36 / 22.9)
    assert trt["model"]["features"] == {"x": 1.0} and trt["device"]["name"] == "jetson-tx2"
    nano = [r for r in recs if r["device"]["name"] == "jetson-nano"]
    assert {r["runtime"]["name"] for r in nano} == {"pytorch", "tensorrt"}
    assert all(r["setting"]["name"] == "fp16" and "ratio" not in r for r in nano)  # both columns are FP16
    squeeze = next(r for r in nano if r["model"]["name"] == "squeezenet1_0" and r["runtime"]["name"] == "tensorrt")
    assert squeeze["model"]["features"] == {} and squeeze["model"]["family"] == "squeezenet"
    assert squeeze["latency"]["throughput_per_s"] == 137.0


@pytest.mark.parametrize("name", ["convnet_L3_F512_K3x3_W70", "convnet_L5_F128_K2x2_W30_DWS",
                                  "convnet_L5_F128_K1x1_3_K2x2_2_W80", "convnet_L4_F64_K7x7_2_K3x3_2_W40"])
def test_nasperf_name_round_trip(name):
    assert parse_name(name).name == name


def test_nasperf_rejects_bad_names():
    from advisor.errors import DataError

    for bad in ("convnet_L3_F512_K3x5_W70", "resnet50", "convnet_L5_F8_K1x1_2_K3x3_3_W9"):
        with pytest.raises(DataError):
            parse_name(bad)


@needs_data
def test_nasperf_every_published_name_and_parameter_count():
    rows = nasperf.synthetic_rows(DATA)
    assert len(rows) == 14195
    for row in rows:
        spec = parse_name(row["Model Name"])
        assert spec.name == row["Model Name"] and spec.layers == int(row["Layers"])
        assert spec.param_count() == int(float(row["Total Parameters"])), row["Model Name"]


@pytest.mark.parametrize("spec", [ConvNetSpec(16, (3, 3, 3), 12), ConvNetSpec(8, (2, 2), 10, separable=True),
                                  ConvNetSpec(8, (1, 4, 1), 9, mixed=True)])
def test_nasperf_onnx_structure(spec):
    import onnxruntime as ort

    model = build_onnx(spec, WeightSource(block=4096))
    onnx.checker.check_model(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == spec.layers * (2 if spec.separable else 1)
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    kernels = [onnx.helper.get_attribute_value(a) for n in convs for a in n.attribute if a.name == "kernel_shape"]
    outs = [inits[n.input[1]][0] for n in convs]
    if spec.separable:
        kernels, outs = kernels[::2], outs[1::2]
    assert kernels == [[k, k] for k in spec.kernels] and outs == [spec.filters] * spec.layers
    n_params = sum(math.prod(d) for d in inits.values())
    assert n_params == spec.param_count()
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"input": np.zeros((1, 3, spec.side, spec.side), np.float32)})
    assert out.shape == (1, 10)


def test_nasperf_fast_features_match_exact():
    from advisor.features import extract_features

    feats = nasperf.NasperfFeatures()
    spec = parse_name("convnet_L2_F64_K3x3_W60")  # Linear layer of 2.3 M weights: a reduced stand-in
    fast, exact = feats.values(spec), feats.exact_values(spec)
    for key, value in exact.items():
        if key in nasperf.WEIGHT_VALUE_FEATURES:
            assert fast[key] == pytest.approx(value, rel=0.02, abs=2e-3), key
        else:
            assert fast[key] == value, key
    weightless = extract_features(loaded_model(spec)).values
    assert {k for k in exact if weightless[k] != exact[k]} <= set(nasperf.WEIGHT_VALUE_FEATURES)


@needs_data
def test_nasperf_records_on_a_slice(tmp_path):
    folder = tmp_path / nasperf.DATASET / "dws"
    folder.mkdir(parents=True)
    src = DATA / nasperf.DATASET / "dws" / "depthwise_sep_models.csv"
    with open(src) as fh, open(folder / src.name, "w") as out:
        out.writelines(line for i, line in enumerate(fh) if i < 4)
    recs = nasperf.import_records(tmp_path, CREATED, nasperf.NasperfFeatures())
    assert len(recs) == 3
    row = next(csv.DictReader(open(src)))
    rec = recs[0]
    validate(rec)
    assert (rec["device"]["name"], rec["runtime"]["name"], rec["setting"]["name"]) == ("jetson-nano", "tensorrt", "none")
    assert rec["model"]["name"] == row["Model Name"] and rec["model"]["family"] == "depthwise"
    assert rec["latency"]["samples_ms"] == [float(row["average_latency(ms)"])]
    gpu_mw, lat = float(row["Avrg_POM_5V_GPU"]), float(row["average_latency(ms)"])
    assert rec["energy"]["energy_mj"] == pytest.approx(gpu_mw * lat / 1000)
    assert rec["model"]["features"]["params_total"] == float(row["Total Parameters"])
    assert rec["setting"]["provenance"]["sources"] == [{"file": f"{nasperf.DATASET}/dws/{src.name}", "row": 1}]
    path = tmp_path / "out.jsonl.gz"
    write_records(path, recs)
    assert len(read_records(path, strict=True)) == 3


@pytest.mark.skipif(not CACHE.is_file(), reason="study features cache not built")
def test_study_features_cache_is_current():
    from advisor.features import FEATURE_SCHEMA_VERSION, feature_names
    from advisor.importers.study_features import load_cache
    from advisor.zoo.study import STUDY_NAMES

    cache = load_cache(CACHE)
    assert set(cache) == set(STUDY_NAMES)
    for ident in cache.values():
        assert ident["feature_schema_version"] == FEATURE_SCHEMA_VERSION
        assert sorted(ident["features"]) == feature_names()


def test_write_records_validates_all_before_replacing_the_file(tmp_path):
    from advisor.predictors.synthetic import make_synthetic_records

    recs = make_synthetic_records(families=("conv",), networks_per_family=2, settings=["none", "fp16"], seed=1)
    path = tmp_path / "records.jsonl.gz"
    assert write_records(path, recs) == len(recs)
    before = path.read_bytes()
    assert write_records(path, recs) == len(recs) and path.read_bytes() == before  # stable bytes (gzip mtime 0)
    broken = [recs[0], {**recs[1], "status": "maybe"}]
    with pytest.raises(RecordError, match="status"):
        write_records(path, broken)
    assert path.read_bytes() == before and len(read_records(path, strict=True)) == len(recs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl.gz"]  # no temp file left behind
