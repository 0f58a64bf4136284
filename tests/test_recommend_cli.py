"""`advisor recommend` / `advisor predict` end to end, in-process, on a bundle trained from real records."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli.main import app

runner = CliRunner()
FIXTURE = Path(__file__).parent / "fixtures" / "predictors" / "host-sample.jsonl.gz"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resnet8.onnx"
CANDIDATE_KEYS = {"setting", "latency_ms", "latency_ms_interval", "energy_mj", "energy_is_estimate", "size_bytes",
                  "accuracy_drop_pct", "accuracy_source", "feasible", "pareto", "violations"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "host" / "onnxruntime-cpu"
    r = runner.invoke(app, ["train", "--profiles", str(FIXTURE), "--device", "host", "--runtime", "onnxruntime-cpu",
                            "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    return out


def _recommend(bundle, *args):
    return runner.invoke(app, ["recommend", str(EXAMPLE), "--device", "host", "--bundle", str(bundle), *args])


def test_json_document(bundle):
    r = _recommend(bundle, "--max-latency", "1s", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"model", "device", "runtime", "constraints", "objective", "candidates", "recommendation"} <= set(doc)
    assert {"path", "sha256", "params", "macs"} <= set(doc["model"])
    assert doc["constraints"]["max_latency_ms"] == 1000.0
    names = {c["setting"] for c in doc["candidates"]}
    assert "none" in names and "chprune50" in names
    for c in doc["candidates"]:
        assert CANDIDATE_KEYS <= set(c)
    chosen = doc["recommendation"]["setting"]
    assert chosen in names and doc["recommendation"]["reason"]
    assert next(c for c in doc["candidates"] if c["setting"] == chosen)["feasible"]


def test_nothing_fits_exits_3_with_closest(bundle):
    r = _recommend(bundle, "--max-latency", "1us", "--json")
    assert r.exit_code == 3
    doc = json.loads(r.stdout)
    assert doc["recommendation"]["setting"] is None
    assert "max_latency_ms" in doc["recommendation"]["reason"]
    assert all(not c["feasible"] for c in doc["candidates"])


def test_size_objective_and_table(bundle):
    r = _recommend(bundle, "--optimize", "size")
    assert r.exit_code == 0, r.stderr
    assert "Recommend" in r.stdout and "setting" in r.stdout


def test_tightening_budget_never_admits_more(bundle):
    feasible = []
    for budget in ("10s", "1ms", "0.2ms", "0.05ms"):
        doc = json.loads(_recommend(bundle, "--max-latency", budget, "--json").stdout)
        feasible.append({c["setting"] for c in doc["candidates"] if c["feasible"]})
    assert all(b <= a for a, b in zip(feasible, feasible[1:], strict=False))


@pytest.mark.parametrize("args, needle", [(["--max-latency", "fast"], "time"), (["--max-size", "10 parsecs"], "unit"),
                                          (["--optimize", "speed"], "objective"), (["--risk", "yolo"], "risk")])
def test_bad_options_one_line(bundle, args, needle):
    r = _recommend(bundle, *args)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("error:") and "\n" not in err and needle in err.lower()


def test_unknown_device(bundle):
    r = runner.invoke(app, ["recommend", str(EXAMPLE), "--device", "tx-2"])
    assert r.exit_code == 1 and "Known:" in r.stderr and "Traceback" not in r.stderr


def test_apply_and_plot(bundle, tmp_path):
    out, png = tmp_path / "best.onnx", tmp_path / "pareto.png"
    r = _recommend(bundle, "--max-latency", "1s", "--apply", str(out), "--plot", str(png), "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["applied"]["path"] == str(out) and out.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_lists_every_setting(bundle):
    r = runner.invoke(app, ["predict", str(EXAMPLE), "--device", "host", "--bundle", str(bundle), "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["candidates"]) >= 10


def test_python_api(bundle):
    from advisor import Constraints, recommend
    from advisor.errors import AdvisorError

    rec = recommend(EXAMPLE, device="host", constraints=Constraints(max_latency_ms=1000), bundle=bundle)
    assert rec.setting is not None
    assert rec.to_dict()["recommendation"]["setting"] == rec.setting
    with pytest.raises(AttributeError):
        rec.setting = "x"  # frozen
    with pytest.raises(AdvisorError):
        recommend(EXAMPLE, device="nope", bundle=bundle)


def test_data_measures_accuracy_on_this_host(bundle, tmp_path):
    import numpy as np

    data = tmp_path / "inputs.npz"
    np.savez(data, inputs=np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32))
    r = _recommend(bundle, "--max-accuracy-drop", "5%", "--data", str(data), "--json")
    assert r.exit_code in (0, 3), r.stderr
    doc = json.loads(r.stdout)
    measured = [c for c in doc["candidates"] if c["accuracy_source"] == "measured"]
    assert measured and all(c["accuracy_drop_pct"] is not None for c in measured)
    assert next(c for c in doc["candidates"] if c["setting"] == "fp16")["accuracy_drop_pct"] < 0.1


def test_unbudgeted_accuracy_loss_and_unfused_int8_are_explained():
    """With the shipped host bundle: no accuracy budget and a choice expected to lose points of
    accuracy -> a warning; the int8-static candidates say onnxruntime cannot fuse the convolutions
    next to ResNet-8's skip connections (a structure fact, not a learned one)."""
    r = runner.invoke(app, ["recommend", str(EXAMPLE), "--device", "host", "--max-size", "100KB", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    chosen = next(c for c in doc["candidates"] if c["setting"] == doc["recommendation"]["setting"])
    assert chosen["accuracy_drop_pct"] > 1.0 and "no accuracy budget was given" in doc["recommendation"]["reason"]
    r = runner.invoke(app, ["recommend", str(EXAMPLE), "--device", "host", "--max-size", "100KB",
                            "--max-accuracy-drop", "1%", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "no accuracy budget" not in doc["recommendation"]["reason"]
    notes = {c["setting"]: " ".join(c.get("notes") or []) for c in doc["candidates"]}
    assert "cannot fuse" in notes["int8-static-pc"] and "cannot fuse" not in notes["fp16"]


def test_evidence_quotes_the_chosen_settings_own_held_out_figures():
    """The shipped bundles' evaluations have figures per setting: the reason quotes the chosen
    setting's, as stored in the manifest; a bundle without them quotes none."""
    from advisor.api import recommend
    from advisor.decision import Constraints
    from advisor.predictors.predictor import load_bundle

    rec = recommend(EXAMPLE, "host", Constraints(max_size_bytes=100_000, max_accuracy_drop_pct=1.0))
    own = load_bundle("host", "onnxruntime-cpu").manifest["evaluation"]["per_setting_ratio"][rec.setting]
    assert (f"For '{rec.setting}' alone: latency ratio median error {own['median_abs_err_pct']:.3g}%, "
            f"{100 * own['within_tol']:.0f}% within 10 pct ({own['n']} held-out predictions)") in rec.reason
    assert rec.bundle["per_setting_ratio"][rec.setting] == own
    passes = load_bundle("host", "onnxruntime-cpu").manifest["evaluation"]["noise_floor"]["passes"]
    assert (f"two passes within ±10% of each other for {100 * passes['within_10pct']:.1f}% of {passes['n']} "
            "variants") in rec.reason  # the labels' own noise floor, beside the error figures
    tx2 = recommend(EXAMPLE, "jetson-tx2", Constraints(max_size_bytes=200_000))
    own = load_bundle("jetson-tx2", "tensorflow").manifest["evaluation"]["per_setting_ratio"][tx2.setting]
    assert f"For '{tx2.setting}' alone: latency ratio median error {own['median_abs_err_pct']:.3g}%" in tx2.reason
    import dataclasses

    from advisor.advise import _sureness

    ev = rec.bundle["evaluation"]
    pred = dataclasses.replace(rec, bundle=dict(rec.bundle, per_setting_ratio={}))
    assert "alone:" not in _sureness(ev, pred, rec.setting) and "alone:" in _sureness(ev, rec, rec.setting)


def test_a_network_past_the_training_range_is_flagged(bundle):
    """The uncompressed latency's prior past the slowest training network's: the bundle says by how much
    (its trees' correction fades out there) and the recommendation says so; inside the range, nothing."""
    from advisor.advise import predict
    from advisor.features import extract_features
    from advisor.modelio import load_model
    from advisor.predictors.predictor import load_bundle

    b = load_bundle("host", "onnxruntime-cpu", bundle)
    feats = extract_features(load_model(EXAMPLE)).values
    b.suite.baseline.prior_max_log_ms_ = -20.0  # as if trained on networks far faster than ResNet-8
    far = b.predict(feats, ["none", "fp16"])
    assert all(r["baseline_beyond_training"] > 1e6 for r in far)
    b.suite.baseline.prior_max_log_ms_ = 20.0
    assert all(r["baseline_beyond_training"] is None for r in b.predict(feats, ["none", "fp16"]))
    shipped = predict(EXAMPLE, "host")  # ResNet-8 is well inside the host data's range
    assert shipped.model["beyond_training"] is None
    r = runner.invoke(app, ["recommend", str(EXAMPLE), "--device", "host", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["model"]["beyond_training"] is None and "larger than any" not in doc["recommendation"]["reason"]
    from dataclasses import replace

    from advisor.advise import explain
    from advisor.decision import Constraints, decide

    past = replace(shipped, model={**shipped.model, "beyond_training": 8.2})
    text = explain(decide(list(past.candidates), Constraints(), "latency", "pessimistic"), Constraints(), "latency",
                   "pessimistic", past)
    assert "8.2x the slowest one's" in text and "the ratios are the full model's" in text
