"""The device catalogue: every device meets the same contract; support rules; host detection; the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from advisor import devices
from advisor.cli.main import app
from advisor.compression import setting_names
from advisor.devices import (
    PEAK_KEYS,
    PRECISIONS,
    CpuSpec,
    Device,
    DeviceError,
    PrecisionSupport,
    RuntimeSupport,
    device_names,
    get_device,
    setting_support,
)
from profiling.registry import Registry

runner = CliRunner()
JETSONS = [n for n in device_names() if n.startswith("jetson-")]


def test_builtins_in_fixed_order():
    assert device_names()[:6] == ["host", "jetson-agx-xavier", "jetson-nano", "jetson-orin-nano", "jetson-tx2",
                                  "jetson-xavier-nx"]


@pytest.mark.parametrize("name", device_names())
def test_device_contract(name):
    d = get_device(name)
    assert isinstance(d, Device) and d.name == name and d.description
    assert d.cpu.cores >= 1 and d.cpu.model and d.cpu.arch
    assert d.sources and all(isinstance(s, str) and s for s in d.sources)
    assert d.runtimes and all(set(r.precisions) == set(PRECISIONS) for r in d.runtimes.values())
    assert set(d.peak_tops) <= set(PEAK_KEYS) and all(v > 0 for v in d.peak_tops.values())
    assert d.power_modes and d.python.count(".") == 1
    doc = json.loads(json.dumps(d.to_dict()))
    assert doc["name"] == name and set(doc["runtimes"]) == set(d.runtimes)


@pytest.mark.parametrize("name", JETSONS)
def test_jetson_numbers(name):
    d = get_device(name)
    assert d.gpu is not None and d.gpu.cuda_cores >= 128 and 100 < d.gpu.max_clock_mhz < 2000
    assert 1 <= d.memory_gb <= 64 and 10 < d.memory_bandwidth_gbs < 300
    assert 0 < d.peak_tops["fp32"] < d.peak_tops["fp16"] and 0 < d.peak_tops["cpu_fp32"] < d.peak_tops["fp32"]
    assert d.jetpack and all(m.watts is None or 3 <= m.watts <= 60 for m in d.power_modes)
    assert {"onnxruntime-cpu", "onnxruntime-cuda", "onnxruntime-tensorrt"} <= set(d.runtimes)
    assert d.cpu.max_clock_mhz and 1000 < d.cpu.max_clock_mhz < 2500
    assert ("int8" in d.peak_tops) == d.precision_support("onnxruntime-tensorrt", "int8-static").fast


def test_device_is_immutable():
    d = get_device("jetson-tx2")
    with pytest.raises(TypeError):
        d.peak_tops["int8"] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        d.memory_gb = 4  # type: ignore[misc]


def test_unknown_device_lists_known_names():
    with pytest.raises(DeviceError) as info:
        get_device("tx-2")
    msg = str(info.value)
    assert "\n" not in msg and "'tx-2'" in msg and "See 'advisor devices'" in msg
    assert all(n in msg for n in device_names())


def test_unavailable_runtime_and_unknown_precision():
    tx2 = get_device("jetson-tx2")
    with pytest.raises(DeviceError, match="Available: onnxruntime-cpu"):
        tx2.precision_support("openvino", "fp16")
    with pytest.raises(DeviceError, match="Unknown precision 'int3'"):
        tx2.precision_support("onnxruntime-cpu", "int3")


def test_host_detected_at_call_time():
    d = get_device("host")
    assert d.cpu.cores == os.cpu_count() and d.gpu is None
    assert d.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert list(d.runtimes) == ["onnxruntime-cpu"]
    if os.path.exists("/proc/meminfo"):
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal:")).split()[1])
        assert d.memory_gb == pytest.approx(kb * 1024 / 2**30, rel=1e-3)
    if os.path.exists("/proc/cpuinfo"):
        assert d.cpu.model != "unknown CPU"
    assert get_device("host") is not d  # detected afresh, not cached at import


def test_tx2_tensorrt_fp16_fast_int8_not():
    tx2 = get_device("jetson-tx2")
    assert tx2.precision_support("onnxruntime-tensorrt", "fp16").fast
    int8 = tx2.precision_support("onnxruntime-tensorrt", "int8-static-pc")
    assert int8.supported and not int8.fast and "INT8" in int8.note
    supported, beneficial, reason = setting_support(tx2, "onnxruntime-tensorrt", "int8-static-pt")
    assert supported and beneficial is False and "GP10B" in reason
    assert setting_support(tx2, "onnxruntime-tensorrt", "fp16")[:2] == (True, True)


def test_newer_jetsons_have_fast_int8_in_tensorrt():
    for name in ("jetson-xavier-nx", "jetson-agx-xavier", "jetson-orin-nano"):
        assert get_device(name).precision_support("onnxruntime-tensorrt", "int8-static").fast


def test_host_fp16_not_beneficial():
    supported, beneficial, reason = setting_support(get_device("host"), "onnxruntime-cpu", "fp16")
    assert supported and beneficial is False and "fp16" in reason


def test_family_rules():
    tx2 = get_device("jetson-tx2")
    s, b, r = setting_support(tx2, "onnxruntime-cuda", "sparse75")
    assert s and b is False and "dense" in r
    assert setting_support(tx2, "onnxruntime-cpu", "chprune50")[:2] == (True, True)
    s, b, r = setting_support(tx2, "tensorflow", "wq8")
    assert s and b is False and "55.4" in r
    assert setting_support(tx2, "onnxruntime-cpu", "wq4")[0] is False
    s, b, r = setting_support(tx2, "onnxruntime-tensorrt", "chprune25+int8-static-pc")
    assert s and b is True and "chprune25:" in r and "int8-static-pc:" in r
    assert setting_support(tx2, "onnxruntime-cpu", "none")[:2] == (True, None)


@pytest.mark.parametrize("name", device_names())
def test_every_setting_has_an_answer(name):
    d = get_device(name)
    for runtime in d.runtimes:
        for setting in setting_names():
            supported, beneficial, reason = setting_support(d, runtime, setting)
            assert isinstance(supported, bool) and beneficial in (True, False, None) and reason
            assert "\n" not in reason


def test_validation_rejects_bad_data():
    with pytest.raises(ValueError):
        PrecisionSupport(supported=False, fast=True)
    with pytest.raises(ValueError):
        RuntimeSupport({"fp16": PrecisionSupport(True, True)})  # no fp32
    with pytest.raises(ValueError):
        CpuSpec("aarch64", 0, 1000, "none")
    good = get_device("jetson-nano")
    fields = {k: getattr(good, k) for k in good.__dataclass_fields__}
    for bad in ({"memory_bandwidth_gbs": -1}, {"peak_tops": {"fp64": 1.0}}, {"sources": ()},
                {"name": "Bad Name"}, {"python": "three"}, {"runtimes": {}}):
        with pytest.raises(ValueError):
            Device(**{**fields, **bad})


def test_third_party_devices(monkeypatch):
    base = get_device("jetson-nano")
    fields = {k: getattr(base, k) for k in base.__dataclass_fields__}
    reg = Registry("device")
    reg.register("acme-board", Device(**{**fields, "name": "acme-board"}))
    reg.register("acme-lazy", lambda: Device(**{**fields, "name": "acme-lazy"}))
    reg.register("acme-broken", lambda: 42)
    monkeypatch.setattr(devices, "DEVICES", reg)
    assert get_device("acme-board").name == "acme-board" and get_device("acme-lazy").name == "acme-lazy"
    with pytest.raises(DeviceError, match="not a Device"):
        get_device("acme-broken")


# --- CLI ---------------------------------------------------------------------------------------------

def test_cli_table():
    r = runner.invoke(app, ["devices"])
    assert r.exit_code == 0, r.stderr
    assert all(n in r.stdout for n in device_names())


def test_cli_json():
    r = runner.invoke(app, ["devices", "--json"])
    assert r.exit_code == 0, r.stderr
    assert [d["name"] for d in json.loads(r.stdout)] == device_names()


def test_cli_details():
    r = runner.invoke(app, ["devices", "jetson-tx2"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.stderr
    for needle in ("Pascal", "MAXQ", "onnxruntime-tensorrt", "int8-static", "Sources"):
        assert needle in r.stdout
    doc = json.loads(runner.invoke(app, ["devices", "jetson-tx2", "--json"]).stdout)
    assert doc["runtimes"]["onnxruntime-tensorrt"]["precisions"]["int8-static"]["fast"] is False


def test_cli_unknown_device_one_line():
    r = runner.invoke(app, ["devices", "nope"])
    assert r.exit_code == 1
    err = r.stderr.strip()
    assert err.startswith("error: Unknown device 'nope'") and "\n" not in err and "jetson-tx2" in err
    assert "Traceback" not in r.stdout + r.stderr


def test_cli_devices_starts_light():
    code = ("import sys, advisor.cli.main as m\n"
            "from typer.testing import CliRunner\n"
            "r = CliRunner().invoke(m.app, ['devices', 'jetson-tx2'])\n"
            "assert r.exit_code == 0, r.output\n"
            "print([h for h in ('onnx', 'onnxruntime', 'torch', 'numpy', 'sklearn') if h in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
