"""The shipped TX2 onnxruntime-tensorrt bundle: the Nano TensorRT bundle carried over by a spec factor."""
from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.predictors.predictor import load_bundle
from advisor.predictors.transfer import METHOD

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
    assert b.manifest["known_settings"] == ["none"]
    cal = b.manifest["calibration"]
    assert cal["method"] == METHOD and cal["n_fit_pairs"] == 0
    assert b.calibration is not None and b.calibration.base_slope == 1.0
    assert math.isclose(math.exp(b.calibration.base_offset), cal["factor"])
    lo, hi = cal["derivation"]["range"]
    # between the pure-compute (0.236/0.67) and pure-dispatch (921.6/1300) scalings
    assert 0.236 / 0.67 - 1e-9 <= lo <= cal["factor"] <= hi <= 921.6 / 1300 + 1e-9


def test_tx2_faster_than_nano_by_the_spec_factor(mobilenet):
    _, feats = mobilenet
    tx2 = load_bundle("jetson-tx2", "onnxruntime-tensorrt", TX2)
    nano = load_bundle("jetson-nano", "tensorrt", NANO)
    t = tx2.predict(feats, ["none"])[0]["baseline_latency_ms"]
    n = nano.predict(feats, ["none"])[0]["baseline_latency_ms"]
    assert t < n
    assert math.isclose(t / n, tx2.manifest["calibration"]["factor"], rel_tol=1e-6)
    assert 0.4 < t / n < 0.7


def test_recommend_cli_tx2_ort_trt(mobilenet):
    path, _ = mobilenet
    r = runner.invoke(app, ["recommend", str(path), "--device", "jetson-tx2", "--runtime", "onnxruntime-tensorrt",
                            "--max-latency", "1s", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [c["setting"] for c in doc["candidates"]] == ["none"]
