"""`advisor train` and `advisor evaluate` in-process (CliRunner) on test-double records."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.predictors.synthetic import make_synthetic_records

runner = CliRunner()
SETTINGS = ["none", "fp16", "int8-static-pc", "wq8", "sparse75", "chprune25"]


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    a = make_synthetic_records(families=("conv", "mlp"), networks_per_family=3, settings=SETTINGS, seed=2)
    b = make_synthetic_records(families=("rnn",), networks_per_family=3, settings=SETTINGS, seed=3)
    return _write(root / "a.jsonl", a), _write(root / "b.jsonl", b)


def _one_line_error(result, *needles):
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in result.stdout, err
    for n in needles:
        assert n in err, (n, err)


def test_train_then_evaluate(profiles, tmp_path):
    out = tmp_path / "bundle"
    res = runner.invoke(app, ["train", "--profiles", str(profiles[0]), str(profiles[1]), "--device", "synthetic",
                              "--runtime", "onnxruntime-cpu", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    assert (out / "manifest.json").is_file() and "bundle written to" in res.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_networks"] == 9 and manifest["families"] == ["conv", "mlp", "rnn"]
    report = tmp_path / "report.json"
    res = runner.invoke(app, ["evaluate", "--profiles", str(profiles[0]), "--profiles", str(profiles[1]), "--json",
                              "--report", str(report)])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert json.loads(report.read_text())["targets"].keys() == doc["targets"].keys()
    ratio = doc["targets"]["ratio"]["methods"]
    assert set(ratio) == {"model", "macs", "setting-median"}
    assert 0 <= ratio["model"]["within_tol"] <= 1 and ratio["model"]["coverage"] is not None
    by_setting = doc["per_setting_ratio"]
    assert set(by_setting) == set(SETTINGS) - {"none"}
    assert sum(f["n"] for f in by_setting.values()) == doc["targets"]["ratio"]["n"]
    assert "per_setting_ratio" in manifest["evaluation"]
    res = runner.invoke(app, ["evaluate", "--profiles", str(profiles[0]), str(profiles[1])])
    assert res.exit_code == 0 and "Held out by family" in res.stdout
    assert "Latency ratio by setting" in res.stdout and "int8-static-pc" in res.stdout


def test_folds_one_or_negative_is_a_usage_error(profiles, tmp_path):
    """``--folds 1`` cannot hold anything out, and a negative count is no count: exit 2, one line, before
    any fitting and without writing a bundle or a report."""
    for cmd, out in (("train", "--out"), ("evaluate", "--report")):
        for value in ("1", "-2"):
            res = runner.invoke(app, [cmd, "--profiles", str(profiles[0]), str(profiles[1]), out,
                                      str(tmp_path / "b"), "--folds", value])
            err = res.stderr.strip()
            assert res.exit_code == 2 and err.startswith("error:") and "\n" not in err and "--folds" in err, err
            assert "holding out" not in res.stderr and not (tmp_path / "b").exists()
    res = runner.invoke(app, ["train", "--profiles", str(profiles[0]), "--calibrate-from", str(tmp_path), "--folds", "0"])
    assert res.exit_code == 2 and "--calibrate-from" in res.stderr and "\n" not in res.stderr.strip(), res.stderr


def test_evaluate_folds_groups_families_and_says_so(profiles):
    """``advisor evaluate --folds 2``: two folds of whole families (as ``advisor train``'s manifest has
    them), every family still scored; the default holds out one family a fold."""
    args = ["evaluate", "--profiles", str(profiles[0]), str(profiles[1]), "--json"]
    two = json.loads(runner.invoke(app, [*args, "--folds", "2"]).stdout)
    assert two["protocol"]["cv"].startswith("grouped 2-fold") and len(two["protocol"]["folds"]) == 2
    assert set(two["per_family_ratio"]) == {"conv", "mlp", "rnn"}
    one = json.loads(runner.invoke(app, args).stdout)
    assert one["protocol"]["folds"] == [["conv"], ["mlp"], ["rnn"]]


def test_unknown_device_lists_pairs(profiles):
    res = runner.invoke(app, ["evaluate", "--profiles", str(profiles[0]), "--device", "jetson-nano"])
    _one_line_error(res, "jetson-nano", "synthetic/onnxruntime-cpu")


def test_too_few_families(profiles):
    _one_line_error(runner.invoke(app, ["train", "--profiles", str(profiles[0])]), "at least 3", "conv, mlp")


def test_unreadable_profiles(tmp_path):
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"\x00garbage")
    _one_line_error(runner.invoke(app, ["evaluate", "--profiles", str(bad)]), "bad.jsonl.gz")
    _one_line_error(runner.invoke(app, ["train", "--profiles", str(tmp_path / "none.jsonl")]), "does not exist")


def test_real_records_fixture(tmp_path):
    """Real host records (with skipped rows) train and predict; only plumbing is checked here."""
    from pathlib import Path

    from advisor.predictors.predictor import load_bundle

    fixture = Path(__file__).parent / "fixtures" / "predictors" / "host-sample.jsonl.gz"
    out = tmp_path / "host"
    res = runner.invoke(app, ["train", "--profiles", str(fixture), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["manifest"]["device"] == "host" and doc["manifest"]["n_networks"] == 4
    b = load_bundle("host", "onnxruntime-cpu", out)
    feats = json.loads(res.stdout)["manifest"]["feature_names"]
    from advisor.predictors.dataset import load_profiles

    rec = next(r for r in load_profiles([fixture]) if r["status"] == "ok")
    rows = b.predict(rec["model"]["features"], ["none", "int8-dynamic", "wq4"])
    assert len(feats) == len(rec["model"]["features"]) and all(r["latency_ms"] > 0 for r in rows)


def test_evaluate_seed_moves_only_the_draw_and_is_recorded(profiles, tmp_path):
    args = ["evaluate", "--profiles", str(profiles[0]), str(profiles[1]), "--json"]
    docs = {}
    for seed in (0, 0, 3):
        res = runner.invoke(app, [*args, "--seed", str(seed)])
        assert res.exit_code == 0, res.stderr
        docs.setdefault(seed, []).append(json.loads(res.stdout))
    assert [d["seed"] for d in docs[0]] == [0, 0] and docs[3][0]["seed"] == 3
    assert docs[0][0]["targets"] == docs[0][1]["targets"]  # a seed is a seed: the same figures again
    model = [d["targets"]["ratio"]["methods"]["model"]["median_abs_err_pct"] for d in (docs[0][0], docs[3][0])]
    assert model[0] != model[1]  # another draw of rows and columns: other trees
    assert docs[0][0]["data"] == docs[3][0]["data"]
    bad = runner.invoke(app, [*args, "--seed", "-1"])  # a usage error: exit 2, one line
    assert bad.exit_code == 2 and bad.stderr.strip().startswith("error:") and "\n" not in bad.stderr.strip(), bad.stderr
    assert "seed" in bad.stderr
    both = runner.invoke(app, [*args, "--seed", "2", "--calibrate-from", str(tmp_path)])
    assert both.exit_code == 2 and "--calibrate-from" in both.stderr and "\n" not in both.stderr.strip()


def test_evaluate_report_write_failure_is_one_line_and_keeps_nothing_half_written(profiles, tmp_path):
    report = tmp_path / "missing-folder" / "report.json"
    res = runner.invoke(app, ["evaluate", "--profiles", str(profiles[0]), str(profiles[1]), "--report", str(report)])
    _one_line_error(res, "report.json", "does not exist")
    assert "holding out" not in res.stderr  # refused before any fitting
    assert not report.parent.exists()
    (tmp_path / "a-folder").mkdir()  # a write that fails after the fitting: still one error line, at the end
    res = runner.invoke(app, ["evaluate", "--profiles", str(profiles[0]), "--report", str(tmp_path / "a-folder")])
    assert res.exit_code == 1 and res.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in res.stdout + res.stderr and list((tmp_path / "a-folder").iterdir()) == []
