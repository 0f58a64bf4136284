"""Predictor bundles: JSON-only round trip, refusals with one-line retrain messages, lookup order."""
from __future__ import annotations

import json
import shutil
import warnings

import pytest

from advisor.errors import DataError, SettingError
from advisor.predictors import bundle as bundle_mod
from advisor.predictors.bundle import BundleError, find_bundle
from advisor.predictors.predictor import PredictorBundle, load_bundle
from advisor.predictors.synthetic import make_synthetic_records
from advisor.predictors.training import train_bundle

DEV, RT = "synthetic", "onnxruntime-cpu"
SETTINGS = ["none", "fp16", "int8-dynamic", "int8-static-pc", "wq8", "sparse90", "chprune50"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    path = root / "syn.jsonl"
    recs = make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=4, settings=SETTINGS)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    result = train_bundle([path], out=root / DEV / RT, command="test", xgb_params={"n_estimators": 30})
    return result, recs[0]["model"]["features"]


@pytest.fixture
def copy(trained, tmp_path):
    dest = tmp_path / "b"
    shutil.copytree(trained[0].path, dest)
    return dest


def _one_line(exc, *needles):
    msg = str(exc.value)
    assert "\n" not in msg and "advisor train --profiles" in msg, msg
    for n in needles:
        assert n in msg, (n, msg)


def test_bundle_is_json_only_with_manifest(trained):
    result, _ = trained
    files = sorted(p.name for p in result.path.iterdir())
    assert all(f.endswith(".json") for f in files) and "manifest.json" in files
    m = json.loads((result.path / "manifest.json").read_text())
    for key in ("bundle_format_version", "feature_schema_version", "feature_names", "setting_encoding",
                "known_settings", "targets", "libraries", "training_data_hash", "n_records", "n_networks",
                "families", "conformal", "roofline", "evaluation", "created_utc", "command", "files"):
        assert key in m, key
    assert set(m["libraries"]) >= {"xgboost", "sklearn", "numpy"} and "method" in m["conformal"]
    assert set(m["files"]) == {f for f in files if f != "manifest.json"}
    protocol = m["evaluation"]["protocol"]  # three families, fewer than TRAIN_FOLDS: one a fold
    assert protocol["cv"].startswith("leave-one-family-out") and protocol["folds"] == [["conv"], ["mlp"], ["mobile"]]


def test_train_folds_group_whole_families(tmp_path):
    """``folds=2``: the manifest's figures and intervals come from two folds of whole families, and
    the manifest says so; every family is still scored."""
    path = tmp_path / "syn.jsonl"
    recs = make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=3, settings=SETTINGS)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    m = train_bundle([path], out=tmp_path / "b", command="test", xgb_params={"n_estimators": 10}, folds=2).manifest
    protocol = m["evaluation"]["protocol"]
    assert protocol["cv"].startswith("grouped 2-fold") and sorted(map(len, protocol["folds"])) == [1, 2]
    assert set(m["evaluation"]["per_family_ratio"]) == {"conv", "mobile", "mlp"}
    assert m["conformal"]["ratio"]["n"] == sum(r["setting"]["name"] != "none" for r in recs)


def test_round_trip_predictions_identical(trained):
    result, feats = trained
    in_memory = PredictorBundle(result.path, result.manifest, result.suite).predict(feats, SETTINGS)
    loaded = load_bundle(DEV, RT, result.path).predict(feats, SETTINGS)
    assert loaded == in_memory
    row = {r["setting"]: r for r in loaded}
    assert row["none"]["ratio"] == 1.0 and row["none"]["latency_ms"] == row["none"]["baseline_latency_ms"]
    for r in loaded:
        lo, hi = r["latency_ms_interval"]
        assert lo <= r["latency_ms"] <= hi and r["energy_is_estimate"] is True and r["energy_mj"] > 0


def test_ratio_models_of_their_own_round_trip_through_the_bundle(tmp_path, monkeypatch):
    """A bundle whose ratio model has models of its own for channel pruning and weight-only settings
    (thresholds lowered to the synthetic data's 12 rows a setting) keeps them in ``ratio.json`` and
    predicts, once loaded, exactly what the trained suite does."""
    from advisor.predictors.models import RatioModel

    monkeypatch.setattr(RatioModel, "OWN_MIN_ROWS", 5)
    monkeypatch.setattr(RatioModel, "OWN_MIN_GROUPS", 2)
    path = tmp_path / "syn.jsonl"
    recs = make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=4, settings=SETTINGS)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    result = train_bundle([path], out=tmp_path / DEV / RT, command="test", xgb_params={"n_estimators": 20})
    assert sorted(result.suite.ratio.own_) == ["structured-pruning", "weight-only"]
    meta = result.manifest["targets"]["ratio"]["meta"]
    assert sorted(meta["own_models"]) == ["structured-pruning", "weight-only"]
    doc = json.loads((result.path / "ratio.json").read_text())
    assert sorted(doc["ratio_models"]) == ["shared", "structured-pruning", "weight-only"]
    feats = recs[0]["model"]["features"]
    loaded = load_bundle(DEV, RT, result.path)
    assert sorted(loaded.suite.ratio.own_) == ["structured-pruning", "weight-only"]
    assert loaded.predict(feats, SETTINGS) == PredictorBundle(result.path, result.manifest, result.suite).predict(
        feats, SETTINGS)


def test_tampered_model_file_refused(copy):
    target = next(p for p in copy.iterdir() if p.name.startswith("ratio"))
    target.write_bytes(target.read_bytes().replace(b"}", b" }", 1))
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, "sha256", "ratio.json")


def test_tampered_manifest_hash_refused(copy):
    m = json.loads((copy / "manifest.json").read_text())
    m["files"]["ratio.json"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, "sha256")


@pytest.mark.parametrize("target, key, value", [("ratio", "params", None), ("ratio", "feature_names_in", 7),
                                                ("baseline_latency", "roofline", {"bad": 1})])
def test_hand_edited_estimator_parameters_refused(copy, target, key, value):
    """An estimator's parameters in the manifest (not covered by the model files' hashes) that do not
    read back give the one-line refusal with the retrain command, not an internal error."""
    m = json.loads((copy / "manifest.json").read_text())
    m["targets"][target]["meta"][key] = value
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, "refused", "unreadable")


def test_pickle_in_bundle_refused(copy):
    (copy / "model.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, "model.pkl", "not JSON")


@pytest.mark.parametrize("key, value, needle", [("feature_schema_version", 999, "feature schema"),
                                                ("bundle_format_version", 999, "bundle format")])
def test_version_mismatch_refused(copy, key, value, needle):
    m = json.loads((copy / "manifest.json").read_text())
    m[key] = value
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, needle)


def test_bundle_of_other_structure_features_refused(copy):
    """Trees split on structure columns: features worked out another way must not reach them."""
    from advisor.predictors.structure import STRUCTURE_VERSION

    m = json.loads((copy / "manifest.json").read_text())
    m["structure"] = {"version": STRUCTURE_VERSION - 1, "variant_rows_with_structure": 40, "variant_rows": 40}
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, "structure features version")
    m["structure"]["variant_rows_with_structure"] = 0  # trained without any: nothing to mismatch
    (copy / "manifest.json").write_text(json.dumps(m))
    load_bundle(DEV, RT, copy)


def test_missing_model_file_and_manifest(copy, tmp_path):
    (copy / "ratio.json").unlink()
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, "missing")
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, tmp_path / "empty")
    _one_line(exc, "manifest.json")


def test_xgboost_major_versions(copy):
    major = int(bundle_mod.installed_xgboost_version().split(".")[0])
    m = json.loads((copy / "manifest.json").read_text())
    m["libraries"]["xgboost"] = f"{major + 1}.0.0"
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError) as exc:
        load_bundle(DEV, RT, copy)
    _one_line(exc, "xgboost")
    m["libraries"]["xgboost"] = f"{major - 1}.0.0"
    (copy / "manifest.json").write_text(json.dumps(m))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_bundle(DEV, RT, copy)
    assert any("xgboost" in str(w.message) for w in caught)


def test_lookup_order(trained, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped" / DEV / RT
    shutil.copytree(trained[0].path, shipped)
    monkeypatch.setattr(bundle_mod, "shipped_bundle_dir", lambda d, r: tmp_path / "shipped" / d / r)
    monkeypatch.setenv("ADVISOR_BUNDLE_DIR", str(tmp_path / "user"))
    assert find_bundle(DEV, RT) == shipped
    user = tmp_path / "user" / DEV / RT
    shutil.copytree(trained[0].path, user)
    assert find_bundle(DEV, RT) == user
    assert find_bundle(DEV, RT, trained[0].path) == trained[0].path
    with pytest.raises(BundleError) as exc:
        find_bundle("jetson-nano", RT)
    _one_line(exc, "jetson-nano")


def test_predict_input_errors(trained):
    result, feats = trained
    b = load_bundle(DEV, RT, result.path)
    with pytest.raises(SettingError, match="Known"):
        b.predict(feats, ["no-such-setting"])
    with pytest.raises(DataError, match="lack"):
        b.predict({"macs_total": 1.0}, ["none"])
    unseen = b.predict(feats, ["sparse50"])[0]  # registered, not in the training data
    assert unseen["ratio"] > 0


def test_atomic_overwrite(trained, tmp_path):
    dest = tmp_path / "out"
    bundle_mod.write_bundle(dest, {"a": 1}, {"x.json": b"{}"})
    bundle_mod.write_bundle(dest, {"a": 2}, {"y.json": b"{}"})
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json", "y.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_loading_and_predicting_never_import_xgboost(trained):
    import subprocess
    import sys

    result, _ = trained
    code = ("import sys, json; from advisor.predictors import load_bundle; "
            f"b = load_bundle('{DEV}', '{RT}', {str(result.path)!r}); "
            "b.predict({n: 1.0 for n in b.manifest['feature_names']}, ['none', 'fp16']); "
            "print(json.dumps(sorted(m for m in ('xgboost', 'sklearn') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
