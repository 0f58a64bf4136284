"""Sweeps: crash/hang isolation, resume after SIGKILL, the device lock, `advisor profile` end to end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.predictors.structure import STRUCTURE_VERSION
from profiling.records import read_records, validate
from profiling.sweep import DeviceLock, LockBusyError

ROOT = Path(__file__).resolve().parents[1]
FAST = {"warmup_runs": 1, "min_runs": 3, "max_runs": 6, "target_rel_ci": 0.5, "time_budget_s": 0.2}


def fake_plan(tmp_path, settings, timeout_s=20):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not used by the fake runtime")
    items = []
    for s in settings:
        path = tmp_path / f"m-{s}.onnx"
        path.write_bytes(b"fake variant " + s.encode())
        items.append({"model_path": str(path), "model": {"name": "m", "sha256": "f" * 64},
                      "setting": {"name": s}})
    return {"device": {"name": "fakedev"}, "runtime": "fake", "threads": 1, "power": "none",
            "timeout_s": timeout_s, "protocol": FAST, "lock_dir": str(tmp_path), "items": items}


def run_agent(plan, tmp_path, env_extra=None, wait=True):
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = dict(os.environ, **(env_extra or {}))
    cmd = [sys.executable, "-m", "profiling", "run", str(plan_path), "--out", str(tmp_path / "out.jsonl")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err
    return proc


def test_crash_and_hang_become_failed_records(tmp_path):
    plan = fake_plan(tmp_path, ["none", "crashy", "hangy", "fine"], timeout_s=3)
    code, out, err = run_agent(plan, tmp_path, {"ADVISOR_FAKE_FAULTS": "crash:crashy,hang:hangy"})
    assert code == 0, err
    recs = {r["setting"]["name"]: r for r in read_records(tmp_path / "out.jsonl", strict=True)}
    assert recs["none"]["status"] == recs["fine"]["status"] == "ok"
    assert recs["crashy"]["status"] == "failed" and "SIGABRT" in recs["crashy"]["error"]
    assert recs["hangy"]["status"] == "failed" and "timed out" in recs["hangy"]["error"]


def test_sigkill_then_resume_records_each_item_once(tmp_path):
    settings = [f"s{i}" for i in range(10)]
    plan = fake_plan(tmp_path, settings)
    out = tmp_path / "out.jsonl"
    proc = run_agent(plan, tmp_path, {"ADVISOR_FAKE_LATENCY_MS": "20"}, wait=False)
    deadline = time.time() + 60
    while time.time() < deadline and len(read_records(out)) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = len(read_records(out))
    assert 3 <= first < len(settings)
    code, _, err = run_agent(plan, tmp_path, {"ADVISOR_FAKE_LATENCY_MS": "20"})
    assert code == 0, err
    names = Counter(r["setting"]["name"] for r in read_records(out, strict=True))
    assert names == Counter(settings)


def test_lock_refuses_second_job(tmp_path):
    with DeviceLock("dev", str(tmp_path)):
        with pytest.raises(LockBusyError, match="another profiling job"):
            with DeviceLock("dev", str(tmp_path)):
                pass
    with DeviceLock("dev", str(tmp_path)):  # released on exit
        pass


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory, tiny_models):
    folder = tmp_path_factory.mktemp("zoo")
    paths = []
    for name in ("plain_cnn", "mlp"):
        path = folder / f"{name}.onnx"
        onnx.save(tiny_models[name], str(path))
        paths.append(path)
    return paths


def test_advisor_profile_end_to_end(tmp_path, zoo_files, monkeypatch):
    monkeypatch.setenv("ADVISOR_LOCK_DIR", str(tmp_path))
    out = tmp_path / "records.jsonl"
    args = ["profile", *map(str, zoo_files), "--settings", "fp16,chprune50,int8-dynamic", "--out", str(out),
            "--min-runs", "3", "--max-runs", "6", "--target-ci", "50%", "--time-budget", "0.2s", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.stderr
    recs = read_records(out, strict=True)
    for rec in recs:
        validate(rec)
    by = {(r["model"]["name"], r["setting"]["name"]): r for r in recs}
    assert len(by) == len(recs) == 8
    assert by[("mlp", "chprune50")]["status"] == "skipped" and "Conv" in by[("mlp", "chprune50")]["error"]
    ok = by[("plain_cnn", "fp16")]
    assert ok["status"] == "ok" and ok["ratio"]["n_pairs"] >= 3 and ok["energy"]["energy_is_estimate"]
    assert ok["size"]["size_bytes"] < by[("plain_cnn", "none")]["size"]["size_bytes"]
    assert ok["accuracy"]["source"] == "baseline-agreement" and ok["accuracy"]["cosine_mean"] > 0.99
    # What each setting does to the graph travels with the record, for the ratio predictor.
    pruned = by[("plain_cnn", "chprune50")]["setting"]["structure"]
    assert pruned["version"] == STRUCTURE_VERSION and 0.1 < pruned["v_mac_ratio"] < 0.6
    assert by[("plain_cnn", "none")]["setting"]["structure"]["v_mac_ratio"] == 1.0
    assert "structure" not in by[("mlp", "chprune50")]["setting"]  # skipped: nothing to describe
    again = CliRunner().invoke(app, args)
    assert json.loads(again.stdout)["already_done"] == 8
    assert len(read_records(out)) == 8


@pytest.mark.parametrize(("args", "needle"), [(["run"], "required: plan, --out"), (["--bogus"], "--bogus"),
                                               (["run", "p.json", "--out"], "expected one argument")])
def test_agent_usage_errors_are_one_line(tmp_path, args, needle):
    proc = subprocess.run([sys.executable, "-m", "profiling", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and err.startswith("error: ") and "\n" not in err and needle in err, err
    assert "Traceback" not in err
