"""CLI happy paths (in-process) and the start-up import budget (subprocess)."""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
from typer.testing import CliRunner

from advisor.cli.main import app

runner = CliRunner()
HEAVY = ("torch", "xgboost", "onnxruntime.quantization", "matplotlib", "sklearn")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, tiny_models):
    path = tmp_path_factory.mktemp("cli") / "residual.onnx"
    onnx.save(tiny_models["residual_cnn"], str(path))
    return path


def test_help_imports_nothing_heavy():
    code = ("import sys, advisor.cli.main as m\n"
            "from typer.testing import CliRunner\n"
            "r = CliRunner().invoke(m.app, ['--help'])\n"
            f"print([h for h in {HEAVY!r} if h in sys.modules] + (['onnx'] if 'onnx' in sys.modules else []))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_inspect_json_is_stable(model_path):
    a = runner.invoke(app, ["inspect", str(model_path), "--json"])
    b = runner.invoke(app, ["inspect", str(model_path), "--json"])
    assert a.exit_code == 0, a.stderr
    doc = json.loads(a.stdout)
    assert doc["features"]["values"] == json.loads(b.stdout)["features"]["values"]
    assert doc["features"]["values"]["macs_total"] > 0
    assert doc["inputs"][0]["shape"] == [1, 3, 32, 32]


def test_inspect_table(model_path):
    r = runner.invoke(app, ["inspect", str(model_path)])
    assert r.exit_code == 0, r.stderr
    assert "MACs" in r.stdout and "conv" in r.stdout


def test_settings_json_lists_families():
    r = runner.invoke(app, ["settings", "--json"])
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    names = {s["name"] for s in rows}
    assert {"none", "fp16", "int8-dynamic", "int8-static-pc", "wq8", "sparse50", "chprune50"} <= names
    assert all(s["description"] for s in rows)


def test_compress_writes_valid_model(tmp_path, model_path):
    out = tmp_path / "fp16.onnx"
    r = runner.invoke(app, ["compress", str(model_path), "--setting", "fp16", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    onnx.checker.check_model(str(out))
    assert doc["size_bytes_after"] < 0.6 * doc["size_bytes_before"]
    assert doc["fidelity"]["cosine_mean"] > 0.99
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
