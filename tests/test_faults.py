"""Faults: a full disk or read-only folder during compress / --apply / train / profile, SIGINT and
SIGKILL during a sweep, two sweeps on one device. Each gives one line and leaves no partial file.

Full disk is simulated by making os.write / os.fsync raise ENOSPC; a read-only folder by chmod 0o555,
or (as root, where chmod does not stop writes) by making temp-file creation raise EACCES.
"""
from __future__ import annotations

import errno
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import onnx
import pytest
from cli_assert import one_line_error
from typer.testing import CliRunner

from advisor import modelio
from advisor.cli.main import app
from profiling.records import read_records
from profiling.sweep import DeviceLock

_one_line = functools.partial(one_line_error, after_progress=True)  # the error follows any progress bar

ROOT = Path(__file__).resolve().parents[1]
FAST = {"warmup_runs": 1, "min_runs": 3, "max_runs": 6, "target_rel_ci": 0.5, "time_budget_s": 0.2}
FAST_ARGS = ["--min-runs", "3", "--max-runs", "6", "--target-ci", "50%", "--time-budget", "0.2s"]
runner = CliRunner()


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _full_disk(monkeypatch, how: str) -> None:
    monkeypatch.setattr(os, how, _enospc)


def _read_only(monkeypatch, folder: Path) -> None:
    """Make ``folder`` unwritable: chmod where that binds, else refuse temp files in it."""
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return

    def refusing(make):  # mkstemp and mkdtemp both take (suffix, prefix, dir, ...)
        def wrapper(suffix=None, prefix=None, dir=None, *args, **kwargs):
            if dir is not None and Path(dir).resolve() == folder.resolve():
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
            return make(suffix, prefix, dir, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(tempfile, "mkstemp", refusing(tempfile.mkstemp))
    monkeypatch.setattr(tempfile, "mkdtemp", refusing(tempfile.mkdtemp))


@pytest.fixture
def mlp(tmp_path, tiny_models):
    src = tmp_path / "src"
    src.mkdir()
    path = src / "mlp.onnx"
    onnx.save(tiny_models["mlp"], str(path))
    return path


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- compress and --apply ------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["write", "fsync"])
def test_compress_full_disk(mlp, tmp_path, monkeypatch, how):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "o.onnx").write_bytes(b"previous version")
    _full_disk(monkeypatch, how)
    r = runner.invoke(app, ["compress", str(mlp), "-s", "fp16", "-o", str(out_dir / "o.onnx")])
    _one_line(r, "No space left", "nothing was written")
    assert _listing(out_dir) == ["o.onnx"] and (out_dir / "o.onnx").read_bytes() == b"previous version"


def test_compress_full_disk_with_external_data_leaves_neither_file(mlp, tmp_path, monkeypatch):
    monkeypatch.setattr(modelio, "MAX_INLINE_BYTES", 20_000)
    calls = []

    def fsync_second_fails(fd):  # the data file is written, the model file is not
        calls.append(fd)
        if len(calls) == 2:
            _enospc()

    monkeypatch.setattr(os, "fsync", fsync_second_fails)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = runner.invoke(app, ["compress", str(mlp), "-s", "fp16", "-o", str(out_dir / "o.onnx")])
    _one_line(r, "No space left")
    assert _listing(out_dir) == []


def test_compress_read_only_folder(mlp, tmp_path, monkeypatch):
    out_dir = tmp_path / "ro"
    out_dir.mkdir()
    _read_only(monkeypatch, out_dir)
    try:
        r = runner.invoke(app, ["compress", str(mlp), "-s", "fp16", "-o", str(out_dir / "o.onnx")])
        _one_line(r, "Cannot write to", "writable folder")
        assert _listing(out_dir) == []
    finally:
        out_dir.chmod(0o755)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A small host bundle trained on synthetic records (about a second)."""
    from advisor.predictors.synthetic import make_synthetic_records
    from advisor.predictors.training import train_bundle

    root = tmp_path_factory.mktemp("bundle")
    recs = make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=3,
                                  settings=["none", "fp16", "int8-dynamic"], device="host")
    (root / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return train_bundle([root / "s.jsonl"], out=root / "b", command="test", xgb_params={"n_estimators": 10}).path


def test_recommend_apply_full_disk(mlp, tmp_path, bundle, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _full_disk(monkeypatch, "fsync")
    r = runner.invoke(app, ["recommend", str(mlp), "-d", "host", "--bundle", str(bundle), "--optimize", "size",
                            "--apply", str(out_dir / "o.onnx")])
    _one_line(r, "No space left")
    assert _listing(out_dir) == []


def test_recommend_apply_read_only(mlp, tmp_path, bundle, monkeypatch):
    out_dir = tmp_path / "ro"
    out_dir.mkdir()
    _read_only(monkeypatch, out_dir)
    try:
        r = runner.invoke(app, ["recommend", str(mlp), "-d", "host", "--bundle", str(bundle), "--apply",
                                str(out_dir / "o.onnx")])
        _one_line(r, "Cannot write to")
        assert _listing(out_dir) == []
    finally:
        out_dir.chmod(0o755)


# --- train ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    from advisor.predictors.synthetic import make_synthetic_records

    path = tmp_path_factory.mktemp("profiles") / "p.jsonl"
    recs = make_synthetic_records(families=("conv", "mobile", "mlp"), networks_per_family=3, settings=["none", "fp16"])
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _train(profiles, out):
    return runner.invoke(app, ["train", "--profiles", str(profiles), "--device", "synthetic", "--runtime",
                               "onnxruntime-cpu", "--out", str(out)])


def test_train_full_disk_one_line(profiles, tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        _enospc()

    monkeypatch.setattr(Path, "write_bytes", full)
    monkeypatch.setattr(Path, "write_text", full)
    _one_line(_train(profiles, tmp_path / "out" / "bundle"), "No space left")
    assert not (tmp_path / "out" / "bundle").exists()


def test_train_full_disk_leaves_no_temp_folder(profiles, tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        _enospc()

    monkeypatch.setattr(Path, "write_bytes", full)
    monkeypatch.setattr(Path, "write_text", full)
    (tmp_path / "out").mkdir()
    _train(profiles, tmp_path / "out" / "bundle")
    assert _listing(tmp_path / "out") == []


def test_train_read_only_folder(profiles, tmp_path, monkeypatch):
    out_dir = tmp_path / "ro"
    out_dir.mkdir()
    _read_only(monkeypatch, out_dir)
    try:
        _one_line(_train(profiles, out_dir / "bundle"), "Cannot write the predictor bundle")
        assert _listing(out_dir) == []
    finally:
        out_dir.chmod(0o755)


# --- profile -------------------------------------------------------------------------------------

def _profile(mlp, tmp_path, *extra):
    return runner.invoke(app, ["profile", str(mlp), "--settings", "none", "--out", str(tmp_path / "r.jsonl"),
                               "--work-dir", str(tmp_path / "work"), *FAST_ARGS, *extra])


def test_profile_full_disk_on_records_keeps_no_partial_line(mlp, tmp_path, monkeypatch):
    """The record line is half written, then the disk is full: the file is cut back, the run stops."""
    monkeypatch.setenv("ADVISOR_LOCK_DIR", str(tmp_path))
    real_write = os.write

    def half_then_full(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("r.jsonl"):
            if not getattr(half_then_full, "done", False):
                half_then_full.done = True
                return real_write(fd, bytes(data)[: len(data) // 2])
            _enospc()
        return real_write(fd, data)

    (tmp_path / "r.jsonl").write_text("")
    monkeypatch.setattr(os, "write", half_then_full)
    _one_line(_profile(mlp, tmp_path), "Could not write records", "No space left", "rerun")
    assert (tmp_path / "r.jsonl").read_bytes() == b""


def test_profile_full_disk_on_variants_stops_without_records(mlp, tmp_path, monkeypatch):
    """A variant that cannot be written is a fault of the disk, not a 'failed' record to keep forever."""
    monkeypatch.setenv("ADVISOR_LOCK_DIR", str(tmp_path))
    _full_disk(monkeypatch, "fsync")
    r = runner.invoke(app, ["profile", str(mlp), "--settings", "fp16", "--out", str(tmp_path / "r.jsonl"),
                            "--work-dir", str(tmp_path / "work"), *FAST_ARGS])
    _one_line(r, "No space left")
    assert not (tmp_path / "r.jsonl").exists() and _listing(tmp_path / "work") == []


def test_profile_read_only_output(mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_LOCK_DIR", str(tmp_path))
    out_dir = tmp_path / "ro"
    out_dir.mkdir()
    out_dir.chmod(0o555)
    if os.geteuid() == 0:
        real_open = os.open

        def refuse(path, flags, *args, **kwargs):
            if str(path).startswith(str(out_dir)):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    try:
        r = runner.invoke(app, ["profile", str(mlp), "--settings", "none", "--out", str(out_dir / "r.jsonl"),
                                "--work-dir", str(tmp_path / "work"), *FAST_ARGS])
        _one_line(r, "Could not write records", "Permission denied")
        assert _listing(out_dir) == []
    finally:
        out_dir.chmod(0o755)


def test_second_profile_on_same_device_refuses_then_waits(mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_LOCK_DIR", str(tmp_path))
    with DeviceLock("host"):
        r = _profile(mlp, tmp_path)
        _one_line(r, "another profiling job", f"pid {os.getpid()}", "--wait")
        assert not (tmp_path / "r.jsonl").exists()
        assert not [p for p in (tmp_path / "work").glob("*.onnx")]  # refused before compressing anything
    held = DeviceLock("host").__enter__()
    threading.Timer(0.5, held.__exit__, (None, None, None)).start()
    start = time.monotonic()
    r = _profile(mlp, tmp_path, "--wait", "--json")
    assert r.exit_code == 0, r.stderr
    assert time.monotonic() - start >= 0.4 and json.loads(r.stdout)["ok"] == 1


# --- signals during a sweep (the on-device agent, fake runtime) ----------------------------------

def _fake_plan(tmp_path, settings, timeout_s=30):
    items = []
    for s in settings:
        path = tmp_path / f"m-{s}.onnx"
        path.write_bytes(b"fake variant " + s.encode())
        items.append({"model_path": str(path), "model": {"name": "m", "sha256": "e" * 64}, "setting": {"name": s}})
    plan = {"device": {"name": "fakedev"}, "runtime": "fake", "threads": 1, "power": "none", "timeout_s": timeout_s,
            "protocol": FAST, "lock_dir": str(tmp_path), "items": items}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    return tmp_path / "plan.json"


def _agent(plan, out, faults=""):
    env = dict(os.environ, ADVISOR_FAKE_LATENCY_MS="20", ADVISOR_FAKE_FAULTS=faults)
    return subprocess.Popen([sys.executable, "-m", "profiling", "run", str(plan), "--out", str(out)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _processes_with(needle: str) -> list[int]:
    """PIDs whose command line mentions ``needle`` (a forked child keeps its parent's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_sigint_stops_cleanly_and_resumes(tmp_path):
    # Enough items that the interrupt lands mid-sweep even when the machine is slow to deliver it.
    settings = [f"s{i}" for i in range(24)]
    plan, out = _fake_plan(tmp_path, settings), tmp_path / "out.jsonl"
    proc = _agent(plan, out)
    assert _wait_for(lambda: len(read_records(out)) >= 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted; rerun the same command to resume"
    first = read_records(out, strict=True)  # every line whole
    assert 2 <= len(first) < len(settings)
    assert _wait_for(lambda: not _processes_with(str(plan)), 5)
    proc = _agent(plan, out)  # the lock was released: no --wait needed
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(r["setting"]["name"] for r in read_records(out, strict=True)) == sorted(settings)


def test_sigint_while_a_child_hangs_kills_it(tmp_path):
    plan, out = _fake_plan(tmp_path, ["hangy", "fine"], timeout_s=120), tmp_path / "out.jsonl"
    proc = _agent(plan, out, faults="hang:hangy")
    assert _wait_for(lambda: len(_processes_with(str(plan))) >= 2)  # the agent and its measuring child
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert _wait_for(lambda: not _processes_with(str(plan)), 5)
    assert read_records(out) == []


def test_sigint_just_after_fork_still_kills_the_child(tmp_path, monkeypatch):
    """The race CI once hit: SIGINT landing between fork() and the parent's kill-on-interrupt guard
    left the child running; it then wrote a traceback into the sweep's stderr when its temp folder
    vanished. Signals are now held across the fork, so the interrupt is raised inside the guard."""
    from profiling import sweep
    plan = json.loads(_fake_plan(tmp_path, ["hangy"], timeout_s=120).read_text())
    monkeypatch.setenv("ADVISOR_FAKE_FAULTS", "hang:hangy")
    # Another thread in the process (a runtime's thread pool, a power sampler) can take the signal
    # while the main thread holds it back; Python still raises in the main thread at once.
    done = threading.Event()
    threading.Thread(target=done.wait, daemon=True).start()
    real_fork, children = os.fork, []

    def fork_then_interrupt():
        pid = real_fork()
        if pid:  # the parent, before it reaches the guard
            children.append(pid)
            os.kill(os.getpid(), signal.SIGINT)
        return pid

    monkeypatch.setattr(os, "fork", fork_then_interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep.run_child(plan["items"][0], plan)
    finally:
        done.set()
    assert len(children) == 1
    with pytest.raises(ChildProcessError):  # already killed and reaped by the sweep
        os.waitpid(children[0], os.WNOHANG)


def test_sigkill_of_agent_takes_its_child_and_frees_the_lock(tmp_path):
    """A killed sweep must not leave a hung measurement holding the device lock."""
    plan, out = _fake_plan(tmp_path, ["hangy", "fine"], timeout_s=120), tmp_path / "out.jsonl"
    proc = _agent(plan, out, faults="hang:hangy")
    assert _wait_for(lambda: len(_processes_with(str(plan))) >= 2)
    proc.kill()
    proc.communicate(timeout=30)
    assert _wait_for(lambda: not _processes_with(str(plan)), 5)
    proc = _agent(plan, out)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(r["setting"]["name"] for r in read_records(out, strict=True)) == ["fine", "hangy"]
