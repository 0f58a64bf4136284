"""The shipped TX2 onnxruntime-tensorrt bundle: the Nano TensorRT bundle carried over by a factor fitted on
published same-network pairs, plus the FP16 setting fitted on the TX2 tf_trt_models table."""
from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.predictors.predictor import load_bundle
from advisor.predictors.transfer import METHOD, SAME_NETWORK, pair_factor

ROOT = Path(__file__).resolve().parents[1]
TX2 = ROOT / "trained_predictors" / "jetson-tx2" / "onnxruntime-tensorrt"
NANO = ROOT / "trained_predictors" / "jetson-nano" / "tensorrt"
runner = CliRunner()


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    from advisor.features import extract_features
    from advisor.modelio import load_model
    from advisor.zoo.catalog import get_entry

    model, _ = get_entry("mobilenet_v1").build_model()
    path = tmp_path_factory.mktemp("tx2") / "mobilenet_v1.onnx"
    onnx.save(model, str(path))
    return path, extract_features(load_model(path))


def test_bundle_loads_and_is_labelled():
    b = load_bundle("jetson-tx2", "onnxruntime-tensorrt", TX2)
    assert (b.device, b.runtime) == ("jetson-tx2", "onnxruntime-tensorrt")
    assert b.manifest["known_settings"] == ["none", "fp16"]
    cal = b.manifest["calibration"]
    assert cal["method"] == METHOD and cal["n_fit_pairs"] == 3
    assert b.calibration is not None and b.calibration.base_slope == 1.0
    assert math.isclose(math.exp(b.calibration.base_offset), cal["factor"])
    assert math.isclose(math.exp(b.calibration.ratio_offsets["precision"]), cal["fp16"]["ratio"])
    # The spec-only factor lies between the pure-compute (0.236/0.67) and pure-dispatch (921.6/1300)
    # scalings; the published pairs put the TX2 faster than specs alone say.
    lo, hi = cal["spec"]["range"]
    assert 0.236 / 0.67 - 1e-9 <= lo <= cal["spec"]["factor"] <= hi <= 921.6 / 1300 + 1e-9
    assert cal["factor"] < cal["spec"]["factor"]
    head = b.manifest["evaluation_headline"]
    assert head["board_factor"]["n"] == 3 and head["fp16_latency"]["n"] == 8


def test_factor_is_the_published_pairs():
    fit = pair_factor("jetson-nano", "jetson-tx2")
    assert fit["names"] == SAME_NETWORK and fit["n_pairs"] == 3
    # TX2 TF-TRT FP16 over Nano torch2trt FP16, e.g. ResNet-50: 12.5 ms / 29.8 ms
    assert math.isclose(fit["pairs"]["resnet_v1_50"], 12.5 / 29.8)
    assert math.isclose(fit["factor"], math.prod(fit["pairs"].values()) ** (1 / 3))
    held = pair_factor("jetson-nano", "jetson-tx2", exclude="resnet_v1_50")
    assert held["n_pairs"] == 2 and "resnet_v1_50" not in held["pairs"]
    assert pair_factor("jetson-nano", "jetson-orin-nano")["factor"] is None  # no table: spec fallback


def test_fp16_fit_is_held_out_per_network():
    fp16 = load_bundle("jetson-tx2", "onnxruntime-tensorrt", TX2).manifest["calibration"]["fp16"]
    nets = fp16["networks"]
    assert len(nets) == 8 and fp16["range"][0] <= fp16["ratio"] <= fp16["range"][1]
    errs = sorted(abs(v["held_out_rel_err"]) * 100 for v in nets.values())
    assert math.isclose(fp16["held_out_median_abs_err_pct"], (errs[3] + errs[4]) / 2)
    for v in nets.values():  # the table's ratio is predicted through the held-out FP16 latency
        assert math.isclose(v["table_ratio_predicted"] / v["table_ratio_measured"], 1 + v["held_out_rel_err"])


def test_tx2_faster_than_nano_by_the_fitted_factor(mobilenet):
    _, feats = mobilenet
    tx2 = load_bundle("jetson-tx2", "onnxruntime-tensorrt", TX2)
    nano = load_bundle("jetson-nano", "tensorrt", NANO)
    none, fp16 = tx2.predict(feats, ["none", "fp16"])
    n = nano.predict(feats, ["none"])[0]["baseline_latency_ms"]
    assert math.isclose(none["baseline_latency_ms"] / n, tx2.manifest["calibration"]["factor"], rel_tol=1e-6)
    assert math.isclose(fp16["ratio"], tx2.manifest["calibration"]["fp16"]["ratio"], rel_tol=1e-6)
    lo, hi = fp16["ratio_interval"]
    assert lo < fp16["ratio"] < hi and fp16["latency_ms"] < none["latency_ms"]
    blo, bhi = none["baseline_latency_ms_interval"]
    assert blo < none["baseline_latency_ms"] < bhi


def test_recommend_cli_tx2_ort_trt(mobilenet):
    path, _ = mobilenet
    r = runner.invoke(app, ["recommend", str(path), "--device", "jetson-tx2", "--runtime", "onnxruntime-tensorrt",
                            "--max-latency", "1s", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [c["setting"] for c in doc["candidates"]] == ["none", "fp16"]
    assert doc["recommendation"]["setting"] == "fp16"  # under a loose budget the fast path wins


def test_evidence_names_how_the_figures_were_held_out():
    from advisor.api import recommend
    from advisor.decision import Constraints

    ex, budget = ROOT / "examples" / "resnet8.onnx", Constraints(max_latency_ms=50.0)
    tf = recommend(ex, "jetson-tx2", budget, runtime="tensorflow")
    assert "With each network held out" in tf.reason
    trt = recommend(ex, "jetson-tx2", budget, runtime="onnxruntime-tensorrt")
    assert "same-network pairs held out" in trt.reason and "fp16 latency" in trt.reason
