"""The shipped jetson-tx2/tensorflow bundle (learned from Qin et al. 2018's TX2 measurements) reproduces
the study's guidance from the data: under a latency budget it does not pick weight quantization; under a
size budget it does."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from advisor.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    from advisor.modelio import save_model
    from advisor.zoo.catalog import get_entry

    path = tmp_path_factory.mktemp("tx2") / "mobilenet_v1.onnx"
    model, _ = get_entry("mobilenet_v1").build_model()
    save_model(model, path)
    return path


def _choice(model, *budget):
    r = runner.invoke(app, ["recommend", str(model), "--device", "jetson-tx2", "--runtime", "tensorflow", *budget,
                            "--json"])
    assert r.exit_code in (0, 3), r.stderr
    return json.loads(r.stdout)


def test_latency_budget_avoids_weight_quantization(mobilenet):
    doc = _choice(mobilenet, "--max-latency", "200ms")
    assert doc["recommendation"]["setting"] == "none"
    lat = {c["setting"]: c["latency_ms"] for c in doc["candidates"] if c["latency_ms"] is not None}
    assert lat["wq8"] > lat["none"] and lat["wq16"] > lat["none"]  # learned: narrow weights run slower there


def test_size_budget_picks_weight_quantization(mobilenet):
    doc = _choice(mobilenet, "--max-size", "6MB")
    assert doc["recommendation"]["setting"] in ("wq8",)
    assert "Qin" in doc["recommendation"]["reason"] or "trained on" in doc["recommendation"]["reason"]


def test_default_runtime_is_the_shipped_one(mobilenet):
    r = runner.invoke(app, ["predict", str(mobilenet), "--device", "jetson-tx2", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["runtime"] == "tensorflow"
