"""Few-shot calibration: a base bundle adapted to a 'board' 3x slower whose quantized settings gain less."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.predictors.bundle import BundleError, read_checked
from advisor.predictors.calibration import CALIBRATION_FILE, Calibration, calibrate_bundle, evaluate_calibration
from advisor.predictors.predictor import load_bundle
from advisor.predictors.synthetic import make_synthetic_records
from advisor.predictors.training import train_bundle

SETTINGS = ["none", "fp16", "int8-dynamic", "int8-static-pc", "wq8", "sparse90", "chprune50"]
SLOWER, QUANT_FACTOR = 3.0, 1.4
BOARD, BOARD_RT = "board", "boardrt"


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _on_board(rec: dict) -> dict:
    """The record as the slower board would measure it: baseline x3, quantization ratios x1.4."""
    rec = json.loads(json.dumps(rec))
    ratio_f = QUANT_FACTOR if rec["setting"]["family"] == "quantization" else 1.0
    lat = rec["latency"]
    for k in ("mean_ms", "median_ms", "p90_ms", "min_ms", "max_ms", "ci95_halfwidth_ms"):
        lat[k] *= SLOWER * ratio_f
    lat["samples_ms"] = [s * SLOWER * ratio_f for s in lat["samples_ms"]]
    if "ratio" in rec:
        r = rec["ratio"]
        r["ratio_median"] *= ratio_f
        r["ratio_ci95"] = [v * ratio_f for v in r["ratio_ci95"]]
        r["baseline_median_ms"] *= SLOWER
    return rec


def _board_records(networks_per_family: int, seed: int) -> list[dict]:
    recs = make_synthetic_records(families=("conv", "mobile"), networks_per_family=networks_per_family,
                                  settings=SETTINGS, seed=seed, device=BOARD, runtime=BOARD_RT)
    return [_on_board(r) for r in recs]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cal")
    base = make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=4, settings=SETTINGS)
    base_path = train_bundle([_write(root / "base.jsonl", base)], out=root / "base", command="test",
                             xgb_params={"n_estimators": 30}).path
    few = _board_records(3, seed=7)[: 5 * len(SETTINGS)]  # 5 networks
    held = _board_records(4, seed=11)
    return root, base_path, _write(root / "few.jsonl", few), held


def _median_err(bundle, records) -> float:
    errs = []
    for r in records:
        p = bundle.predict(r["model"]["features"], [r["setting"]["name"]])[0]
        errs.append(abs(p["latency_ms"] / r["latency"]["median_ms"] - 1))
    return float(np.median(errs))


def test_calibration_cuts_held_out_error(setup):
    root, base_path, few, held = setup
    res = calibrate_bundle([few], None, None, base_path, out=root / "calibrated", command="test")
    assert res.calibration.n_networks == 5
    assert np.exp(res.calibration.base_offset) == pytest.approx(SLOWER, rel=0.25)
    assert res.calibration.ratio_offsets["quantization"] > 0.1
    before = _median_err(load_bundle("synthetic", "onnxruntime-cpu", base_path), held)
    calibrated = load_bundle(BOARD, BOARD_RT, res.path)
    after = _median_err(calibrated, held)
    assert before > 0.5 and after < 0.3 * before, (before, after)
    lono = res.report
    assert lono["after"]["latency_ms"]["median_abs_err_pct"] < 0.3 * lono["before"]["latency_ms"]["median_abs_err_pct"]


def test_round_trip_and_manifest(setup):
    root, base_path, few, _ = setup
    res = calibrate_bundle([few], BOARD, BOARD_RT, base_path, out=root / "rt", command="test")
    manifest, files = read_checked(res.path)
    assert CALIBRATION_FILE in manifest["files"] and CALIBRATION_FILE in files
    cal = manifest["calibration"]
    assert cal["n_networks"] == 5 and cal["base_bundle"]["device"] == "synthetic" and cal["method"]
    assert len(cal["base_bundle"]["manifest_sha256"]) == 64
    assert (manifest["device"], manifest["runtime"]) == (BOARD, BOARD_RT)
    assert manifest["known_settings"] == SETTINGS and manifest["evaluation_headline"]["latency_ms"]["coverage"] >= 0
    assert Calibration.from_json(files[CALIBRATION_FILE]) == res.calibration
    from advisor.predictors.applicability import FILE

    base_manifest, base_files = read_checked(base_path)
    assert all(files[n] == raw for n, raw in base_files.items() if n != FILE)
    # the base device's applicability figures are not the board's: the table stays behind
    assert base_manifest["applicability"]["file"] == FILE and FILE in base_files
    assert "applicability" not in manifest and FILE not in files


def test_tampered_calibration_refused(setup):
    root, base_path, few, _ = setup
    res = calibrate_bundle([few], None, None, base_path, out=root / "tamper", command="test")
    doc = json.loads((res.path / CALIBRATION_FILE).read_text())
    doc["base_offset"] = 0.0
    (res.path / CALIBRATION_FILE).write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="calibration.json"):
        load_bundle(BOARD, BOARD_RT, res.path)


def test_evaluate_and_train_cli(setup):
    root, base_path, few, _ = setup
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--profiles", str(few), "--calibrate-from", str(base_path), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout[res.stdout.index("{"):])
    assert report["n_networks"] == 5 and report["after"]["baseline_latency_ms"]["n"] == 5
    out = root / "cli"
    res = runner.invoke(app, ["train", "--profiles", str(few), "--calibrate-from", str(base_path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / CALIBRATION_FILE).is_file()
    with pytest.raises(Exception, match="already a calibrated bundle"):
        evaluate_calibration([few], None, None, out)


def test_group_by_record_field(setup):
    from advisor.predictors.training import select

    _, _, few, _ = setup
    sel = select([few], None, None, group_by="model.name")
    assert sorted(sel.frame["family"].unique()) == sorted(sel.frame["model_name"].unique())
    with pytest.raises(Exception, match="no.such"):
        select([few], None, None, group_by="no.such")


def test_a_bundle_grouped_by_another_field_keeps_no_applicability_table(setup):
    """The table names architecture families; a bundle whose folds hold out other groups (here each
    network) has none to name, and says nothing about which family a network resembles."""
    root, _, few, _ = setup
    res = train_bundle([few], out=root / "grouped", command="test", group_by="model.name",
                       xgb_params={"n_estimators": 30})
    assert res.manifest["cv_groups"] and res.manifest["applicability"] is None
