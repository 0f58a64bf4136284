"""Power sources: rail discovery on each sysfs layout, detection, RAPL, NVML, estimates."""
import errno
import os
import shutil
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import profiling.power as pw
from profiling.power import base, estimate
from profiling.power.jetson import JetsonIna3221Source
from profiling.power.nvml import NvmlSource
from profiling.power.rapl import RaplSource
from profiling.registry import UnknownNameError

FIX = Path(__file__).parent / "fixtures" / "power"
def copy_tree(name, tmp_path):
    dest = tmp_path / name
    shutil.copytree(str(FIX / name), str(dest))
    return dest


def write(path, value):
    with open(str(path), "w") as f:  # in place (same inode), as sysfs updates a value
        f.write(f"{value}\n")


TX2_IIO = "sys/bus/i2c/drivers/ina3221x/0-0041/iio:device1"
ORIN_HWMON = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"


# -- Jetson INA3221 sysfs ------------------------------------------------------------------------
@pytest.mark.parametrize("tree, names, total, total_mw", [
    ("tx2_jetpack4", ["VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI", "VDD_IN", "VDD_SYS_CPU", "VDD_SYS_DDR"],
     "VDD_IN", 2521.0),
    ("nano_jetpack4", ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"], "POM_5V_IN", 1983.0),
    ("orin_jetpack5_hwmon", ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"], "VDD_IN", 5048 * 945 / 1000.0),
    ("agx_orin_jetpack5_hwmon", ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"], None,
     19000 * 200 / 1000.0 + 19000 * 50 / 1000.0 + 4960 * 400 / 1000.0 + 19000 * 20 / 1000.0),
])
def test_rail_discovery_per_layout(tree, names, total, total_mw):
    source = JetsonIna3221Source(str(FIX / tree))
    rails = source.describe()["rails"]
    assert rails["names"] == names
    assert rails["total"] == total
    assert rails["total_rule"] == ("rail" if total else "sum-of-rails")
    assert source.read_power_mw() == pytest.approx(total_mw)
    assert set(source.read_rails_mw()) == set(names)
    assert pw.detect(str(FIX / tree)).name == "jetson-ina3221"


def test_jetpack4_total_follows_sysfs_and_rejects_garbage(tmp_path):
    root = copy_tree("tx2_jetpack4", tmp_path)
    source = JetsonIna3221Source(str(root))
    power_file = root / TX2_IIO / "in_power0_input"
    write(power_file, 5400)
    assert source.read_power_mw() == 5400.0
    for garbage in ("garbage", "", "-12", "nan", "99999999"):
        write(power_file, garbage)
        assert source.read_power_mw() is None, garbage
    assert source.read_rails_mw()["VDD_SYS_GPU"] == 153.0  # other rails unaffected


def test_sensor_errors_read_as_none_then_recover(tmp_path, monkeypatch):
    root = copy_tree("tx2_jetpack4", tmp_path)
    source = JetsonIna3221Source(str(root))
    assert source.read_power_mw() == 2521.0

    def unbound_driver(*args):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(base.os, "pread", unbound_driver)
    assert source.read_power_mw() is None
    monkeypatch.undo()
    write(root / TX2_IIO / "in_power0_input", 3000)
    assert source.read_power_mw() == 3000.0  # the file is reopened after an error
    source.close()
    assert source.read_power_mw() == 3000.0


def test_jetpack5_power_is_voltage_times_current(tmp_path):
    root = copy_tree("orin_jetpack5_hwmon", tmp_path)
    source = JetsonIna3221Source(str(root))
    write(root / ORIN_HWMON / "curr1_input", 2000)
    write(root / ORIN_HWMON / "in1_input", 5000)
    assert source.read_power_mw() == pytest.approx(10000.0)
    write(root / ORIN_HWMON / "curr1_input", "oops")
    assert source.read_power_mw() is None


def test_sum_of_rails_is_none_when_a_rail_fails(tmp_path):
    root = copy_tree("agx_orin_jetpack5_hwmon", tmp_path)
    source = JetsonIna3221Source(str(root))
    write(root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1/curr2_input", "x")
    assert source.read_power_mw() is None  # a partial sum would read low


def test_missing_sensors_fall_back_to_none(tmp_path):
    assert not JetsonIna3221Source.available(str(tmp_path))
    with pytest.raises(base.PowerSourceError, match="no INA3221 rails"):
        JetsonIna3221Source(str(tmp_path))
    source = pw.detect(str(tmp_path))
    assert source.name == "none" and source.kind == "none"
    assert [name for name, _ in source.skipped] == ["jetson-ina3221", "tegrastats", "rapl", "nvml"]
    assert all(reason for _, reason in source.skipped)


def test_unreadable_total_makes_jetson_unavailable(tmp_path):
    root = copy_tree("nano_jetpack4", tmp_path)
    write(root / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/in_power0_input", "garbage")
    assert "no valid reading" in JetsonIna3221Source.unavailable_reason(str(root))
    assert pw.detect(str(root)).name == "none"


# -- registry contract ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", pw.POWER_SOURCES.names())
def test_every_source_meets_the_contract(name, tmp_path):
    cls = pw.POWER_SOURCES.get(name)
    assert issubclass(cls, base.PowerSource)
    assert cls.name == name
    assert cls.kind in base.KINDS
    reason = cls.unavailable_reason(str(tmp_path))
    assert (reason is None) == (name == "none")
    assert isinstance(cls.available(str(tmp_path)), bool)


def test_detect_order_and_unknown_name():
    assert pw.detect_order()[:4] == ["jetson-ina3221", "tegrastats", "rapl", "nvml"]
    assert pw.detect_order()[-1] == "none"
    with pytest.raises(UnknownNameError, match="Known: jetson-ina3221, tegrastats, rapl, nvml, none"):
        pw.create("ina3221")


# -- RAPL ----------------------------------------------------------------------------------------
RAPL0 = "sys/class/powercap/intel-rapl:0"


def test_rapl_sums_packages_only():
    source = pw.detect(str(FIX / "rapl"))
    assert source.name == "rapl" and source.kind == "energy"
    info = source.describe()
    assert info["rails"]["names"] == ["package-0"]  # not psys, not mmio, not subzones
    assert info["rails"]["subdomains"] == {"package-0": ["core", "dram"]}
    assert source.max_energy_range_uj == 262143328850
    assert source.read_energy_uj() == 262143000000


def test_rapl_wraparound_per_package(tmp_path):
    root = copy_tree("rapl", tmp_path)
    pkg1 = root / "sys/class/powercap/intel-rapl:2"
    pkg1.mkdir()
    write(pkg1 / "name", "package-1")
    write(pkg1 / "energy_uj", 500)
    write(pkg1 / "max_energy_range_uj", 1000)
    source = RaplSource(str(root))
    assert source.max_energy_range_uj is None  # the summed counter has no single wrap point
    before = source.read_energy_counters_uj()
    write(root / RAPL0 / "energy_uj", 1000)  # package-0 wrapped
    write(pkg1 / "energy_uj", 100)  # package-1 wrapped
    after = source.read_energy_counters_uj()
    from profiling.power.integrate import counters_delta_uj
    delta = counters_delta_uj(before, after, source.energy_ranges_uj())
    assert delta == (262143328850 - 262143000000 + 1000) + (1000 - 500 + 100)


def test_rapl_permission_denied_is_unavailable_with_reason(monkeypatch):
    real_open = base._open_readonly

    def guarded_open(path):
        if str(path).endswith("energy_uj"):  # as for a non-root user since Linux 5.10
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path)

    monkeypatch.setattr(base, "_open_readonly", guarded_open)
    reason = RaplSource.unavailable_reason(str(FIX / "rapl"))
    assert "Permission denied" in reason and "root" in reason
    with pytest.raises(base.PowerSourceError, match="Permission denied"):
        RaplSource(str(FIX / "rapl"))
    assert pw.detect(str(FIX / "rapl")).name == "none"


def test_rapl_garbage_counter_is_unavailable(tmp_path):
    root = copy_tree("rapl", tmp_path)
    write(root / RAPL0 / "energy_uj", "n/a")
    assert "integer" in RaplSource.unavailable_reason(str(root))


# -- NVML ----------------------------------------------------------------------------------------
def fake_pynvml(energy_supported=True, power_mw=71234, energy_mj=5000):
    class NVMLError(Exception):
        pass

    def total_energy(handle):
        if not energy_supported:
            raise NVMLError("Not Supported")
        return energy_mj

    return types.SimpleNamespace(
        NVMLError=NVMLError, nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: ("gpu", i),
        nvmlDeviceGetPowerUsage=lambda h: power_mw, nvmlDeviceGetTotalEnergyConsumption=total_energy,
        nvmlDeviceGetName=lambda h: b"Fake GPU")


def test_nvml_without_pynvml_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    assert "pynvml" in NvmlSource.unavailable_reason("/")


@pytest.mark.parametrize("energy_supported, kind", [(True, "energy"), (False, "power")])
def test_nvml_with_fake_driver(monkeypatch, energy_supported, kind):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(energy_supported))
    assert NvmlSource.available("/")
    assert not NvmlSource.available(str(FIX / "rapl"))  # a fixture root never reaches a driver
    with NvmlSource() as source:
        assert source.kind == kind
        assert source.read_power_mw() == 71234.0
        if kind == "energy":
            assert source.read_energy_uj() == 5000 * 1000
        assert source.describe()["gpu_name"] == "Fake GPU"


# -- estimate ------------------------------------------------------------------------------------
def test_estimate_model_formula_and_record():
    model = estimate.DevicePowerModel(idle_mw=1000, busy_core_mw=7000, cores=2)
    assert model.energy_mj(10.0, 1) == pytest.approx(70.0)
    assert model.energy_mj(10.0, 8) == pytest.approx(140.0)  # capped at 2 cores
    rec = model.record(10.0, 2)
    assert rec["source"] == "estimate:cpu-tdp-share" and rec["energy_is_estimate"] is True
    assert rec["power_mw_mean"] == 15000.0 and rec["assumptions"]["busy_core_mw"] == 7000.0
    assert estimate.host_model().cores == (os.cpu_count() or 1)
    for bad in (lambda: model.energy_mj(-1, 1), lambda: model.energy_mj(1, 0),
                lambda: estimate.DevicePowerModel(0, 0, 1), lambda: estimate.DevicePowerModel(0, 1, 0)):
        with pytest.raises(ValueError):
            bad()


@given(st.floats(0, 1e4), st.floats(0, 1e4), st.integers(1, 64), st.integers(1, 64))
def test_estimate_is_monotonic(lat_a, lat_b, threads_a, threads_b):
    model = estimate.DevicePowerModel(500, 7000, 16)
    lo, hi = sorted((lat_a, lat_b))
    t_lo, t_hi = sorted((threads_a, threads_b))
    assert 0 <= model.energy_mj(lo, t_lo) <= model.energy_mj(hi, t_hi)


def test_estimate_model_from_dict_round_trips():
    model = estimate.DevicePowerModel.from_dict({"busy_core_mw": 3000, "cores": 4})
    assert model.to_dict() == {"idle_mw": 0.0, "busy_core_mw": 3000.0, "cores": 4, "name": "cpu-tdp-share"}
    assert estimate.DevicePowerModel.from_dict(model.to_dict()).to_dict() == model.to_dict()
    assert estimate.DevicePowerModel.from_dict({}).busy_core_mw == estimate.HOST_BUSY_CORE_MW
    with pytest.raises(ValueError, match="unknown power_model keys watts"):
        estimate.DevicePowerModel.from_dict({"watts": 5})


def test_get_power_source_alias(tmp_path):
    source = pw.get_power_source("none", str(tmp_path))
    assert source.kind == "none" and source.read_power_mw() is None
