"""Device farm on Dask: resources route work to the right boards, lost workers are survived, the
agent-command path for boards too old for Dask."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.errors import AdvisorError
from profiling.agent_command import run_agent_command
from profiling.records import read_records, validate

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
FAST = {"warmup_runs": 1, "min_runs": 3, "max_runs": 6, "target_rel_ci": 0.5, "time_budget_s": 0.2}
DASK = str(Path(sys.executable).with_name("dask"))


@pytest.fixture
def scheduler():
    cluster = distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=None, scheduler_port=0)
    workers = []

    def add_worker(resource, env=None):
        cmd = [DASK, "worker", cluster.scheduler_address, "--resources", f"{resource}=1", "--nthreads", "1",
               "--no-dashboard", "--no-nanny", "--name", f"{resource}-{len(workers)}"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **(env or {})),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers.append(proc)
        return proc

    def wait_for(n):
        with distributed.Client(cluster.scheduler_address) as client:
            client.wait_for_workers(n, timeout=60)

    try:
        yield cluster.scheduler_address, add_worker, wait_for
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        cluster.close()


def fake_plan(tmp_path, settings, device):
    items = []
    for s in settings:
        path = tmp_path / f"m-{s}.onnx"
        path.write_bytes(b"fake variant " + s.encode())
        items.append({"model_path": str(path), "model": {"name": "m", "sha256": "f" * 64}, "setting": {"name": s}})
    return {"device": {"name": device}, "runtime": "fake", "threads": 1, "power": "none", "timeout_s": 30,
            "protocol": FAST, "items": items}


def test_resources_route_each_item_once_to_its_device_kind(tmp_path, scheduler):
    from advisor.modelio import save_model
    from advisor.zoo.tiny import build_tiny

    address, add_worker, wait_for = scheduler
    add_worker("devA")
    add_worker("devB")
    models = []
    for name in ("plain_cnn", "mlp"):
        models.append(tmp_path / f"{name}.onnx")
        save_model(build_tiny(name), models[-1])
    out = tmp_path / "out.jsonl"
    wait_for(2)
    args = ["profile", *map(str, models), "--settings", "none,fp16", "--out", str(out), "--cluster", address,
            "--min-runs", "3", "--max-runs", "6", "--target-ci", "50%", "--time-budget", "0.2s", "--json"]
    for dev in ("devA", "devB"):
        res = CliRunner().invoke(app, [*args, "--device", dev])
        assert res.exit_code == 0, res.output
    recs = read_records(out, strict=True)
    keys = Counter((r["model"]["name"], r["setting"]["name"], r["device"]["name"]) for r in recs)
    assert keys == Counter({(m.stem, s, d): 1 for m in models for s in ("none", "fp16") for d in ("devA", "devB")})
    for rec in recs:
        assert rec["status"] == "ok", rec["error"]
        assert rec["device"]["worker"]["resources"] == {rec["device"]["name"]: 1.0}
        assert "onnxruntime" in rec["software"]
    again = CliRunner().invoke(app, [*args, "--device", "devA"])
    assert again.exit_code == 0 and '"already_done": 4' in again.output
    assert len(read_records(out)) == len(recs)


def test_sweep_survives_a_worker_killed_mid_task(tmp_path, scheduler):
    from advisor.farm import run_farm

    address, add_worker, wait_for = scheduler
    env = {"ADVISOR_FAKE_LATENCY_MS": "30"}
    victim = add_worker("devA", env)
    add_worker("devA", env)
    wait_for(2)
    settings = [f"s{i}" for i in range(10)]
    plan = fake_plan(tmp_path, settings, "devA")
    out = tmp_path / "out.jsonl"
    killed = []

    def progress(event, item, rec):
        if event == "done" and not killed and len(read_records(out)) >= 2:
            kill_when_busy(client, "devA-0", victim)
            killed.append(time.time())

    with distributed.Client(address, set_as_default=False) as client:
        counts = run_farm(plan, out, address, progress=progress)
    assert killed and counts["ok"] == len(settings) and counts["lost"] == 0
    names = Counter(r["setting"]["name"] for r in read_records(out, strict=True))
    assert names == Counter(settings)


def kill_when_busy(client, name, proc):
    """SIGKILL the worker ``name`` while it holds a task, so the kill lands mid-measurement."""
    addr = next(a for a, w in client.scheduler_info()["workers"].items() if w["name"] == name)
    deadline = time.time() + 20
    while time.time() < deadline and not client.processing(workers=[addr]).get(addr):
        time.sleep(0.01)
    assert client.processing(workers=[addr]).get(addr), "victim never got a task"
    os.kill(proc.pid, signal.SIGKILL)


def test_cluster_without_dask_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    res = CliRunner().invoke(app, ["profile", str(model), "--out", str(tmp_path / "o.jsonl"),
                                   "--cluster", "tcp://127.0.0.1:1"])
    assert res.exit_code == 1
    assert "pip install '.[cluster]'" in res.output and len(res.output.strip().splitlines()) == 1


def test_agent_command_template_produces_valid_records(tmp_path):
    plan = fake_plan(tmp_path, ["none", "hangy"], "tx2")
    plan["timeout_s"] = 5
    template = "{python} -m profiling measure-one {job} {result}"
    rec = run_agent_command(plan["items"][0], plan, template, host="tx2-01")
    validate(rec)
    assert rec["status"] == "ok" and rec["size"]["size_bytes"] > 0
    os.environ["ADVISOR_FAKE_FAULTS"] = "hang:hangy"
    try:
        bad = run_agent_command(plan["items"][1], plan, template, timeout=2)
    finally:
        del os.environ["ADVISOR_FAKE_FAULTS"]
    validate(bad)
    assert bad["status"] == "failed" and "timed out" in bad["error"]
    broken = run_agent_command(plan["items"][0], plan, "{python} -c 'raise SystemExit(3)' {nope}")
    assert broken["status"] == "failed" and "template" in broken["error"]


def test_companion_worker_drives_agent_command_and_drops_duplicates(tmp_path, scheduler):
    from advisor.farm import run_farm

    address, add_worker, wait_for = scheduler
    add_worker("devT")
    wait_for(1)
    plan = fake_plan(tmp_path, ["s0", "s1"], "devT")
    plan["items"].append(dict(plan["items"][1]))  # the same item twice: its second result is dropped
    template = "test {host} = devT-0 && cd {dir} && {python} -m profiling measure-one {job} {result}"
    out = tmp_path / "out.jsonl"
    counts = run_farm(plan, out, address, shared_storage=True, agent_command=template)
    assert (counts["ok"], counts["duplicate"], counts["failed"]) == (2, 1, 0)
    recs = read_records(out, strict=True)
    assert sorted(r["setting"]["name"] for r in recs) == ["s0", "s1"]
    assert all(r["device"]["worker"]["name"] == "devT-0" for r in recs)
    assert run_farm(plan, out, address)["already_done"] == 3
    with pytest.raises(AdvisorError, match="No worker .* offers resource 'nosuch'"):
        run_farm(fake_plan(tmp_path, ["s9"], "nosuch"), out, address)
