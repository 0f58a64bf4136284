"""tegrastats: line parsing for JetPack 4 (TX2, Nano) and 5 (Orin), log replay, the live reader."""
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import profiling.power as pw
from profiling.power import base
from profiling.power.tegrastats import TegrastatsLog, TegrastatsSource, parse_tegrastats_line

FIX = Path(__file__).parent / "fixtures" / "power"
TX2_LINE = ("RAM 2262/7855MB (lfb 1x4MB) SWAP 0/3927MB (cached 0MB) CPU [2%@345,off,off,1%@345,0%@345,0%@345] "
            "EMC_FREQ 0% GR3D_FREQ 0% PLL@36C MCPU@36C PMIC@100C Tboard@32C GPU@34.5C BCPU@36C thermal@35.4C "
            "Tdiode@33.75C VDD_SYS_GPU 153/153 VDD_SYS_SOC 460/460 VDD_4V0_WIFI 0/0 VDD_IN 2528/2528 "
            "VDD_SYS_CPU 153/153 VDD_SYS_DDR 383/383")
NANO_LINE = ("RAM 1559/3956MB (lfb 118x4MB) SWAP 0/1978MB (cached 0MB) IRAM 0/252kB(lc 0kB) CPU [3%@102,2%@102] "
             "EMC_FREQ 0%@1600 GR3D_FREQ 0%@76 APE 25 PLL@24.5C POM_5V_IN 1985/1980 POM_5V_GPU 0/0 POM_5V_CPU 285/285")
ORIN_LINE = ("11-28-2023 17:56:00 RAM 1734/7620MB (lfb 1x4MB) SWAP 0/3810MB (cached 0MB) CPU [1%@729,off] "
             "EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305] CV0@-256C VDD_IN 4770mW/4770mW VDD_CPU_GPU_CV 557mW/550mW "
             "VDD_SOC 1431mW/1431mW")


# -- tegrastats ----------------------------------------------------------------------------------
@pytest.mark.parametrize("line, expected", [
    (TX2_LINE, {"VDD_SYS_GPU": 153, "VDD_SYS_SOC": 460, "VDD_4V0_WIFI": 0, "VDD_IN": 2528,
                "VDD_SYS_CPU": 153, "VDD_SYS_DDR": 383}),
    (NANO_LINE, {"POM_5V_IN": 1985, "POM_5V_GPU": 0, "POM_5V_CPU": 285}),
    (ORIN_LINE, {"VDD_IN": 4770, "VDD_CPU_GPU_CV": 557, "VDD_SOC": 1431}),
    ("", {}),
    ("RAM 2262/7855MB SWAP 0/3927MB IRAM 0/252kB(lc 0kB)", {}),
])
def test_parse_tegrastats_line(line, expected):
    assert parse_tegrastats_line(line) == expected


def test_parse_tegrastats_average():
    assert parse_tegrastats_line(NANO_LINE, average=True)["POM_5V_IN"] == 1980
    assert parse_tegrastats_line(ORIN_LINE, average=True)["VDD_CPU_GPU_CV"] == 550


@pytest.mark.parametrize("log, n, total", [
    ("tegrastats_tx2_jetpack46.log", 12, "VDD_IN"),
    ("tegrastats_nano_jetpack4.log", 10, "POM_5V_IN"),
    ("tegrastats_orin_jetpack5.log", 10, "VDD_IN"),
])
def test_tegrastats_log_replay(log, n, total):
    replay = TegrastatsLog(str(FIX / log), interval_ms=500)
    t, p = replay.trace()
    assert replay.total_name == total and t.size == n
    assert np.allclose(np.diff(t), 0.5)
    expected = float(np.sum((p[1:] + p[:-1]) / 2 * 0.5))
    assert replay.energy_mj() == pytest.approx(expected)
    assert replay.energy_mj(0.0, 1.0) == pytest.approx((p[0] + 2 * p[1] + p[2]) / 2 * 0.5)


def fake_tegrastats(root, log):
    """An executable 'tegrastats' that prints a recorded log line by line, then idles."""
    binary = root / "usr" / "bin" / "tegrastats"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!{sys.executable}\nimport time\nfor line in open({str(FIX / log)!r}):\n"
                      "    print(line.strip(), flush=True)\n    time.sleep(0.005)\ntime.sleep(30)\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return binary


def test_tegrastats_live_reader(tmp_path):
    fake_tegrastats(tmp_path, "tegrastats_nano_jetpack4.log")
    source = pw.detect(str(tmp_path))
    assert source.name == "tegrastats"
    try:
        deadline = time.monotonic() + 10
        while source.n_lines < 10 and time.monotonic() < deadline:
            source.read_power_mw()
            time.sleep(0.01)
        assert source.read_power_mw() == 1985.0  # the last line
        assert source.describe()["rails"]["total"] == "POM_5V_IN"
    finally:
        source.close()
    assert source._proc is None


def test_tegrastats_source_without_binary(tmp_path):
    assert not TegrastatsSource.available(str(tmp_path))
    with pytest.raises(base.PowerSourceError, match="no tegrastats"):
        TegrastatsSource(str(tmp_path))
