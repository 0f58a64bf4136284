"""Predictions updated from ratios measured on the network itself (``advisor.predictors.network_update``),
through the bundle, the Python API and ``--measured`` on the command line."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.errors import DataError
from advisor.predictors.network_update import apply_network_update, check_measured, fit_network_update

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "resnet8.onnx"
SHIPPED = Path(__file__).resolve().parents[1] / "trained_predictors" / "host" / "onnxruntime-cpu"


def _oof_frame(seed: int = 0, n_fam: int = 5, per_fam: int = 10) -> pd.DataFrame:
    """An out-of-fold frame whose errors on 't' follow those on 's' (slope 0.9) and on 'u' do not."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_fam):
        for k in range(per_fam):
            net = f"net-{f}-{k}"
            es = rng.normal(0, 0.2)
            errs = {"s": es, "t": 0.9 * es + rng.normal(0, 0.02), "u": rng.normal(0, 0.2)}
            rows.append({"model_sha": net, "family": f"fam{f}", "setting": "none", "ratio": 1.0,
                         "pred_log_ratio": 0.0, "latency_ms": math.exp(rng.normal(0, 0.1)), "pred_log_base": 0.0})
            for s, e in errs.items():  # observed log ratio = predicted (0.1) + error
                rows.append({"model_sha": net, "family": f"fam{f}", "setting": s, "ratio": math.exp(0.1 + e),
                             "pred_log_ratio": 0.1, "latency_ms": 1.0, "pred_log_base": 0.0})
    return pd.DataFrame(rows)


def test_fit_keeps_the_pair_that_helps_held_out_and_drops_the_one_that_does_not():
    table = fit_network_update(_oof_frame())
    pair = table["pairs"]["s"]["t"]
    assert abs(pair["slope"] - 0.9) < 0.05
    assert pair["within_after"] > pair["within_before"]
    lo, hi = pair["interval"]
    assert lo < 0 < hi and hi - lo < 0.2  # the residual left after the update is small
    assert "u" not in table["pairs"].get("s", {})  # unrelated errors: no pair
    assert "s" not in table["pairs"].get("u", {})
    assert table["summary"]["s"]["within_after"] > table["summary"]["s"]["within_before"]
    json.dumps(table)  # goes into the manifest


def test_fit_needs_enough_networks():
    assert fit_network_update(_oof_frame(per_fam=3))["pairs"] == {}  # 15 networks < 20


def test_apply_moves_related_settings_towards_the_measurement():
    table = fit_network_update(_oof_frame())
    z = {"none": 0.0, "s": 0.1, "t": 0.1, "u": 0.1}
    out = apply_network_update(table, z, {"s": math.exp(0.4)})  # s measured 0.3 above its prediction
    assert out["s"]["source"] == "measured" and out["s"]["z"] == pytest.approx(0.4)
    assert out["t"]["source"] == "updated from measured s"
    assert out["t"]["z"] == pytest.approx(0.1 + table["pairs"]["s"]["t"]["slope"] * 0.3)
    lo, hi = out["t"]["interval"]
    assert lo < out["t"]["z"] < hi
    assert out["u"] == {"z": 0.1, "interval": None, "latency_offsets": None, "source": None}
    assert "none" not in out


@pytest.mark.parametrize("measured, needle", [({"none": 1.0}, "ratio 1 by definition"),
                                              ({"int8-static-ptt": 1.2}, "Unknown setting 'int8-static-ptt'"),
                                              ({"wq8": "fast"}, "must be a number"),
                                              ({"wq8": -1.0}, "positive"), ({"wq8": float("nan")}, "positive")])
def test_check_measured_refuses_bad_input(measured, needle):
    with pytest.raises(DataError) as exc:
        check_measured(measured, ["wq8", "int8-static-pt"])
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def _predict(*args):
    return runner.invoke(app, ["predict", str(EXAMPLE), "--device", "host", "--json", *args])


def _ratios(result) -> dict:
    doc = json.loads(result.stdout)
    cands = {c["setting"]: c for c in doc["candidates"] if c.get("latency_ms")}
    base = cands["none"]["latency_ms"]
    return {s: c["latency_ms"] / base for s, c in cands.items()}, cands


def test_measured_ratio_reported_and_related_settings_updated():
    plain, _ = _ratios(_predict())
    r = _predict("--measured", "int8-static-pt=1.5")
    assert r.exit_code == 0, r.stderr
    upd, cands = _ratios(r)
    assert upd["int8-static-pt"] == pytest.approx(1.5)
    assert cands["int8-static-pt"]["notes"][0] == "ratio 1.5 as measured on the device"
    assert cands["int8-static-pt"]["ratio_source"] == "measured"
    assert cands["int8-static-pc"]["ratio_source"] == "updated from measured int8-static-pt"
    assert cands["sparse50"]["ratio_source"] == "predicted" and cands["none"]["ratio_source"] == "baseline"
    # per-channel int8 errs with per-tensor (slope ~0.8): it follows the measurement
    assert upd["int8-static-pc"] > plain["int8-static-pc"] * 1.1
    assert "updated from int8-static-pt's measured ratio" in cands["int8-static-pc"]["notes"][0]
    lo, hi = cands["int8-static-pc"]["latency_ms_interval"]
    assert lo < cands["int8-static-pc"]["latency_ms"] < hi
    # identical work: sparse weights are not updated from an int8 measurement
    assert upd["sparse50"] == pytest.approx(plain["sparse50"])


def test_python_api_takes_measured_ratios():
    from advisor import api

    pred = api.predict(EXAMPLE, device="host", measured_ratios={"wq8": 2.0})
    c = {x.setting: x for x in pred.candidates}
    assert c["wq8"].latency_ms / c["none"].latency_ms == pytest.approx(2.0)


@pytest.mark.parametrize("arg, needle", [("int8-static-pt", "SETTING=RATIO"), ("int8-static-pt=", "SETTING=RATIO"),
                                         ("bogus=1.2", "Unknown setting 'bogus'"), ("wq8=abc", "must be a number"),
                                         ("wq8=0", "positive"), ("none=1", "ratio 1 by definition")])
def test_bad_measured_option_is_one_line(arg, needle):
    r = runner.invoke(app, ["recommend", str(EXAMPLE), "--device", "host", "--measured", arg])
    assert r.exit_code != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_same_setting_twice_refused():
    r = _predict("--measured", "wq8=1.2", "--measured", "wq8=1.3")
    assert r.exit_code != 0 and "twice" in r.stderr


def test_bundle_without_update_table_reports_the_measurement_and_says_how_to_get_one(tmp_path):
    dest = tmp_path / "host" / "onnxruntime-cpu"
    shutil.copytree(SHIPPED, dest)
    m = json.loads((dest / "manifest.json").read_text())
    del m["network_update"]
    (dest / "manifest.json").write_text(json.dumps(m))
    plain, _ = _ratios(_predict("--bundle", str(dest)))
    r = _predict("--bundle", str(dest), "--measured", "int8-static-pt=1.5")
    assert r.exit_code == 0, r.stderr
    upd, _ = _ratios(r)
    assert upd["int8-static-pt"] == pytest.approx(1.5)
    assert upd["int8-static-pc"] == pytest.approx(plain["int8-static-pc"])  # nothing to update it with
    assert "no table for updating predictions" in r.stderr and "advisor train" in r.stderr


def test_verify_suggests_feeding_the_measurement_back(tmp_path):
    """--verify measures the chosen setting's ratio here; the output says how to update the others with it,
    and that command runs."""
    out = tmp_path / "small.onnx"
    r = runner.invoke(app, ["recommend", str(EXAMPLE), "--device", "host", "--max-size", "100KB",
                            "--apply", str(out), "--verify"])
    assert r.exit_code == 0, r.stderr
    hint = next(ln for ln in r.stdout.splitlines() if "rerun with --measured" in ln)
    setting, ratio = hint.split("--measured ", 1)[1].split("=")
    assert setting != "none" and float(ratio) > 0
    r2 = _predict("--measured", f"{setting}={ratio}")
    assert r2.exit_code == 0, r2.stderr
    upd, _ = _ratios(r2)
    assert upd[setting] == pytest.approx(float(ratio))


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """Records of resnet8 under int8-static-pt, measured here by 'advisor profile' (interleaved)."""
    out = tmp_path_factory.mktemp("prof") / "r8.jsonl"
    r = runner.invoke(app, ["profile", str(EXAMPLE), "--settings", "int8-static-pt", "--out", str(out),
                            "--time-budget", "2s", "--min-runs", "10"])
    assert r.exit_code == 0, r.stderr
    return out


def test_measured_from_profile_records(profiled):
    recs = [json.loads(ln) for ln in profiled.read_text().splitlines() if ln.strip()]
    ratio = next(x["ratio"]["ratio_median"] for x in recs if x["setting"]["name"] == "int8-static-pt")
    r = _predict("--measured-from", str(profiled))
    assert r.exit_code == 0, r.stderr
    upd, cands = _ratios(r)
    assert upd["int8-static-pt"] == pytest.approx(ratio)
    assert "as measured on the device" in cands["int8-static-pt"]["notes"][0]
    # given twice (file and command line): refused in one line
    r = _predict("--measured-from", str(profiled), "--measured", "int8-static-pt=1.2")
    assert r.exit_code != 0 and "give it once" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_measured_from_records_of_another_model_or_device(profiled):
    r = runner.invoke(app, ["predict", str(EXAMPLE), "--device", "jetson-tx2", "--measured-from", str(profiled)])
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "measured on jetson-tx2/" in lines[0] and "advisor profile" in lines[0], r.stderr
    r = _predict("--measured-from", str(profiled.with_name("missing.jsonl")))
    assert r.exit_code != 0 and len(r.stderr.strip().splitlines()) == 1


def _joint_frame(seed: int = 0, n_fam: int = 5, per_fam: int = 12) -> pd.DataFrame:
    """An out-of-fold frame whose errors on 't' are the sum of independent errors on 's' and 'u' (0.7 of
    each): either alone explains half of them, both together nearly all."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_fam):
        for k in range(per_fam):
            net = f"net-{f}-{k}"
            es, eu = rng.normal(0, 0.15, 2)
            errs = {"s": es, "u": eu, "t": 0.7 * es + 0.7 * eu + rng.normal(0, 0.01)}
            rows.append({"model_sha": net, "family": f"fam{f}", "setting": "none", "ratio": 1.0,
                         "pred_log_ratio": 0.0, "latency_ms": math.exp(rng.normal(0, 0.1)), "pred_log_base": 0.0})
            for s, e in errs.items():
                rows.append({"model_sha": net, "family": f"fam{f}", "setting": s, "ratio": math.exp(0.1 + e),
                             "pred_log_ratio": 0.1, "latency_ms": 1.0, "pred_log_base": 0.0})
    return pd.DataFrame(rows)


def test_two_measured_settings_update_jointly():
    table = fit_network_update(_joint_frame())
    assert "t" in table["pairs"]["s"] and "t" in table["pairs"]["u"]  # each alone helps
    assert table["settings"] == ["s", "t", "u"] and len(table["moments"]) == 3
    best = table["best_pairs"][0]
    assert best["measured"] == ["s", "u"] and best["within_after"] > 0.95 > best["within_before"]
    json.dumps(table)
    z = {"none": 0.0, "s": 0.1, "t": 0.1, "u": 0.1}
    both = apply_network_update(table, z, {"s": math.exp(0.3), "u": math.exp(0.0)})  # s +0.2, u -0.1
    assert both["t"]["source"] == "updated from measured s, u"
    assert both["t"]["z"] == pytest.approx(0.1 + 0.7 * 0.2 - 0.7 * 0.1, abs=0.02)
    lo, hi = both["t"]["interval"]
    one = apply_network_update(table, z, {"s": math.exp(0.3)})
    assert one["t"]["source"] == "updated from measured s"
    assert lo < both["t"]["z"] < hi and hi - lo < 0.5 * (one["t"]["interval"][1] - one["t"]["interval"][0])
    lat_lo, lat_hi = both["t"]["latency_offsets"]
    assert lat_lo < 0 < lat_hi


def test_table_without_the_joint_part_uses_the_narrowest_pair():
    table = fit_network_update(_joint_frame())
    legacy = {k: v for k, v in table.items() if k not in ("settings", "moments", "joint", "best_pairs")}
    out = apply_network_update(legacy, {"none": 0.0, "s": 0.1, "t": 0.1, "u": 0.1},
                               {"s": math.exp(0.3), "u": math.exp(0.0)})
    assert out["t"]["source"] in ("updated from measured s", "updated from measured u")


def test_predict_with_two_measured_settings_and_the_hint():
    """Two measured settings that both have a kept pair to a third update it jointly (which settings
    those are depends on the shipped bundle's table: the first such two, in the table's order)."""
    table = json.loads((SHIPPED / "manifest.json").read_text())["network_update"]
    pairs = table["pairs"]
    s1, s2 = next((a, b) for a in sorted(pairs) for b in sorted(pairs)
                  if a < b and set(pairs[a]) & set(pairs[b]) - {a, b})
    both = set(pairs[s1]) & set(pairs[s2]) - {s1, s2}
    r = _predict("--measured", f"{s1}=1.3", "--measured", f"{s2}=1.25")
    assert r.exit_code == 0, r.stderr
    _, cands = _ratios(r)
    joint = [name for name, c in cands.items() if c["ratio_source"] == f"updated from measured {s1}, {s2}"]
    assert joint and set(joint) == both & set(cands)
    assert all(f"updated from the measured ratios of {s1}, {s2}" in cands[name]["notes"][0] for name in joint)
    plain = runner.invoke(app, ["predict", str(EXAMPLE), "--device", "host"])
    assert plain.exit_code == 0, plain.stderr
    best = json.loads((SHIPPED / "manifest.json").read_text())["network_update"]["best_pairs"][0]["measured"]
    assert f"tip: measuring {best[0]} and {best[1]} on the device" in " ".join(plain.stdout.split())
    assert "nearest training networks: " in plain.stdout and "held out: " in plain.stdout  # applicability table


def test_joint_update_with_a_setting_the_moments_do_not_know_falls_back_to_one_pair():
    table = fit_network_update(_joint_frame())
    table = json.loads(json.dumps(table))  # as read from a manifest
    names = table["settings"]
    i = names.index("u")
    table["moments"][i] = [None] * len(names)  # u's moments missing (too few networks measured with it)
    for row in table["moments"]:
        row[i] = None
    out = apply_network_update(table, {"none": 0.0, "s": 0.1, "t": 0.1, "u": 0.1},
                               {"s": math.exp(0.3), "u": math.exp(0.0)})
    assert out["t"]["source"] in ("updated from measured s", "updated from measured u")
    assert all(math.isfinite(v) for v in out["t"]["interval"])
