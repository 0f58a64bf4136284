"""Energy integration: pure trapezoid/counter arithmetic and the real sampler thread on synthetic sources."""
import math
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiling.power import base, integrate
from profiling.power.none import NoPowerSource
from profiling.power.rapl import RaplSource
from profiling.power.sampler import PowerSampler, energy_per_inference

FIX = Path(__file__).parent / "fixtures" / "power"


class FunctionSource(base.PowerSource):
    """Power follows ``fn(seconds since creation)`` on the perf_counter clock."""

    name = "function"
    kind = "power"

    def __init__(self, fn):
        super().__init__("/")
        self.fn = fn
        self.t0 = time.perf_counter()

    def read_power_mw(self):
        return self.fn(time.perf_counter() - self.t0)


class WrappingCounter(base.PowerSource):
    """A constant ``power_mw`` seen through an energy counter that wraps every ``range_uj``."""

    name = "counter"
    kind = "energy"

    def __init__(self, power_mw, range_uj):
        super().__init__("/")
        self.power_mw, self.max_energy_range_uj = power_mw, range_uj
        self.t0 = time.perf_counter()

    def read_energy_uj(self):
        return int(self.power_mw * (time.perf_counter() - self.t0) * 1000) % self.max_energy_range_uj


# -- pure arithmetic -----------------------------------------------------------------------------
def test_trapezoid_exact_on_known_samples():
    t, p = [0.0, 1.0, 2.0, 3.0], [0.0, 10.0, 10.0, 0.0]
    assert integrate.integrate_mj(t, p, 0.0, 3.0) == pytest.approx(20.0)
    assert integrate.integrate_mj(t, p, 0.5, 2.5) == pytest.approx(3.75 + 10.0 + 3.75)
    assert integrate.integrate_mj(t, p, 1.5, 1.5) == 0.0
    with pytest.raises(ValueError):
        integrate.integrate_mj([], [], 0.0, 1.0)
    with pytest.raises(ValueError):
        integrate.integrate_mj(t, p, 2.0, 1.0)


times = st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=30, unique=True).map(sorted)


@given(times, st.floats(0, 1e5), st.floats(0, 1), st.floats(0, 1))
def test_constant_power_integrates_to_power_times_duration(t, power_mw, a, b):
    start, end = sorted((t[0] + a * (t[-1] - t[0]), t[0] + b * (t[-1] - t[0])))
    energy = integrate.integrate_mj(t, [power_mw] * len(t), start, end)
    assert energy == pytest.approx(power_mw * (end - start), rel=1e-9, abs=1e-6)


@given(times, st.data())
def test_integration_is_additive(t, data):
    p = data.draw(st.lists(st.floats(0, 1e5), min_size=len(t), max_size=len(t)))
    cuts = sorted(data.draw(st.lists(st.floats(t[0], t[-1]), min_size=3, max_size=3)))
    whole = integrate.integrate_mj(t, p, cuts[0], cuts[2])
    parts = integrate.integrate_mj(t, p, cuts[0], cuts[1]) + integrate.integrate_mj(t, p, cuts[1], cuts[2])
    assert whole == pytest.approx(parts, rel=1e-9, abs=1e-6)


@given(st.integers(1, 2 ** 40), st.data())
def test_counter_delta_handles_one_wrap(max_range, data):
    before = data.draw(st.integers(0, max_range - 1))
    after = data.draw(st.integers(0, max_range - 1))
    delta = integrate.counter_delta_uj(before, after, max_range)
    assert 0 <= delta < max_range and (before + delta) % max_range == after


def test_counter_delta_examples():
    max_range = 262143328850
    assert integrate.counter_delta_uj(max_range - 100, 50, max_range) == 150
    assert integrate.counter_delta_uj(10, 30, max_range) == 20
    with pytest.raises(ValueError, match="wrap range is unknown"):
        integrate.counter_delta_uj(30, 10, None)


def test_energy_per_inference_formula_and_clamp():
    assert energy_per_inference(1200.0, 1000.0, 1.0, 10) == pytest.approx(20.0)
    assert energy_per_inference(900.0, 1000.0, 1.0, 10) == 0.0
    assert energy_per_inference(900.0, 1000.0, 1.0, 10, clamp=False) == pytest.approx(-10.0)
    for bad in ((1.0, 1.0, 1.0, 0), (1.0, 1.0, 0.0, 1)):
        with pytest.raises(ValueError):
            energy_per_inference(*bad)


# -- the sampler thread --------------------------------------------------------------------------
def test_sampler_rate_at_least_100_hz():
    with PowerSampler(FunctionSource(lambda t: 1000.0), hz=200) as sampler:
        with sampler.measure() as window:
            time.sleep(0.4)
    assert sampler.achieved_hz() >= 100, sampler.achieved_hz()
    assert window["samples_hz"] >= 100 and window["n_power_samples"] >= 40


def test_energy_matches_analytic_sine_squared():
    idle, amp, period = 1500.0, 4000.0, 0.2
    source = FunctionSource(lambda t: idle + amp * math.sin(math.pi * t / period) ** 2)
    with PowerSampler(source, hz=200) as sampler:
        time.sleep(0.02)
        with sampler.measure() as window:
            time.sleep(0.45)
    a, b = window["start_s"] - source.t0, window["end_s"] - source.t0

    def antiderivative(t):
        return idle * t + amp * (t / 2 - period / (4 * math.pi) * math.sin(2 * math.pi * t / period))

    exact = antiderivative(b) - antiderivative(a)
    assert window["covered"]
    assert window["energy_mj"] == pytest.approx(exact, rel=0.03)
    dynamic = window["energy_mj"] - idle * window["window_s"]
    assert dynamic == pytest.approx(exact - idle * (b - a), rel=0.05)


def test_energy_matches_analytic_step():
    step_at = 0.2
    source = FunctionSource(lambda t: 1000.0 if t < step_at else 3000.0)
    with PowerSampler(source, hz=200) as sampler:
        with sampler.measure() as window:
            time.sleep(0.4)
    a, b = window["start_s"] - source.t0, window["end_s"] - source.t0
    exact = 1000.0 * (b - a) + 2000.0 * (b - max(step_at, a))
    assert window["energy_mj"] == pytest.approx(exact, rel=0.05)


def test_flat_idle_gives_zero_never_negative():
    source = FunctionSource(lambda t: 2500.0)
    with PowerSampler(source) as sampler:
        idle_mw = sampler.measure_idle(0.1)
        with sampler.measure() as window:
            time.sleep(0.15)
        rec = sampler.record(window, idle_mw, n_inferences=10)
    assert idle_mw == pytest.approx(2500.0)
    assert rec["energy_mj"] >= 0.0 and abs(rec["energy_mj_raw"]) < 1e-6
    assert rec["energy_clamped"] == (rec["energy_mj_raw"] < 0)


def test_record_clamps_and_flags_negative_energy():
    sampler = PowerSampler(FunctionSource(lambda t: 1.0))
    window = {"energy_mj": 99.0, "window_s": 0.1, "power_mw_mean": 990.0, "samples_hz": 200.0,
              "n_power_samples": 20, "covered": True}
    rec = sampler.record(window, idle_power_mw=1000.0, n_inferences=1)
    assert rec["energy_mj"] == 0.0 and rec["energy_mj_raw"] == pytest.approx(-1.0)
    assert rec["energy_clamped"] is True
    for key in ("energy_mj", "power_mw_mean", "idle_power_mw", "source", "energy_is_estimate",
                "samples_hz", "n_power_samples", "rails"):
        assert key in rec
    assert rec["energy_is_estimate"] is False and rec["source"] == "function"


def test_energy_counter_unrolls_wraps():
    source = WrappingCounter(power_mw=5000.0, range_uj=400000)  # wraps every 80 ms
    with PowerSampler(source, hz=200) as sampler:
        with sampler.measure() as window:
            time.sleep(0.3)
    assert window["energy_mj"] == pytest.approx(5000.0 * window["window_s"], rel=0.02)
    assert window["power_mw_mean"] == pytest.approx(5000.0, rel=0.02)


def test_rapl_fixture_wraparound_through_sampler(tmp_path):
    root = tmp_path / "rapl"
    shutil.copytree(str(FIX / "rapl"), str(root))
    sampler = PowerSampler(RaplSource(str(root)))
    assert sampler.sample_now()
    with open(str(root / "sys/class/powercap/intel-rapl:0/energy_uj"), "w") as f:
        f.write("1000\n")
    assert sampler.sample_now()
    _, cumulative_uj = sampler.trace()
    assert cumulative_uj[-1] - cumulative_uj[0] == (262143328850 - 262143000000) + 1000


def test_failing_reads_are_counted_not_fatal():
    calls = {"n": 0}

    def flaky(t):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise OSError(5, "Input/output error")
        return None if calls["n"] % 3 == 1 else 800.0

    with PowerSampler(FunctionSource(flaky), hz=200) as sampler:
        with sampler.measure() as window:
            time.sleep(0.1)
    assert sampler.n_failed_reads > 0 and "Input/output error" in sampler.last_error
    assert window["energy_mj"] == pytest.approx(800.0 * window["window_s"], rel=1e-6)


def test_none_source_records_no_energy():
    with PowerSampler(NoPowerSource()) as sampler:
        assert not sampler.running
        assert sampler.measure_idle(0.01) is None
        with sampler.measure() as window:
            pass
        rec = sampler.record(window, None, 1)
    assert window["energy_mj"] is None and rec["energy_mj"] is None
    assert rec["source"] == "none" and rec["energy_is_estimate"] is False and "no power sensor" in rec["error"]


def test_discard_before_keeps_interpolation_point():
    sampler = PowerSampler(FunctionSource(lambda t: 100.0))
    for _ in range(5):
        sampler.sample_now()
    t, _ = sampler.trace()
    sampler.discard_before(t[3])
    kept, _ = sampler.trace()
    assert list(kept) == list(t[2:])


def test_invalid_rate():
    with pytest.raises(ValueError):
        PowerSampler(NoPowerSource(), hz=0)


def test_window_without_arguments_is_a_context_manager_with_record():
    with PowerSampler(FunctionSource(lambda t: 1200.0)) as sampler:
        with sampler.window() as win:
            time.sleep(0.05)
        rec = win.record(idle_mw=1000.0, n_inferences=4)
    assert win["window_s"] > 0 and rec["window_energy_mj"] == win["energy_mj"]
    assert rec["energy_mj"] == pytest.approx(200.0 * win["window_s"] / 4, rel=1e-6)
    with pytest.raises(ValueError):
        sampler.window(start_s=1.0)
