"""Measurement protocol: statistics laws, stopping rule, interleaving, steal time."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiling.measure import Protocol, measure, measure_interleaved, read_cpu_times, steal_pct, summarize

samples = st.lists(st.floats(min_value=0.001, max_value=1e5, allow_nan=False), min_size=2, max_size=200)


@given(samples)
def test_quantiles_ordered(xs):
    s = summarize(xs)
    assert s["min_ms"] <= s["median_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert s["n_runs"] == len(xs) == len(s["samples_ms"])


class FakeClock:
    """A test double for time.perf_counter: each call to the timed function advances it by a scripted amount."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = itertools.cycle(durations)

    def __call__(self):
        return self.now

    def run(self):
        self.now += next(self.durations)


def test_constant_times_stop_at_min_runs():
    clock = FakeClock([0.010])
    summary, reason = measure(clock.run, Protocol(warmup_runs=2, min_runs=10, max_runs=50), clock=clock)
    assert reason == "ci" and summary["n_runs"] == 10
    assert summary["median_ms"] == pytest.approx(10.0)


def test_noisy_times_need_more_runs():
    clock = FakeClock([0.010, 0.030, 0.012, 0.025, 0.008])
    summary, reason = measure(clock.run, Protocol(warmup_runs=0, min_runs=5, max_runs=500, target_rel_ci=0.05),
                              clock=clock)
    assert reason == "ci" and summary["n_runs"] > 10
    assert summary["rel_ci95"] <= 0.05


def test_max_runs_bound():
    clock = FakeClock([0.001, 0.1])
    summary, reason = measure(clock.run, Protocol(warmup_runs=0, min_runs=3, max_runs=8, target_rel_ci=0.001),
                              clock=clock)
    assert reason == "max_runs" and summary["n_runs"] == 8


def test_interleaved_ratio():
    clock = FakeClock([0.0])

    def base():
        clock.now += 0.010

    def variant():
        clock.now += 0.020

    b, v, r = measure_interleaved(base, variant, Protocol(warmup_runs=1, min_runs=6, max_runs=20), clock=clock)
    assert r["ratio_median"] == pytest.approx(2.0)
    assert r["ratio_ci95"][0] <= 2.0 + 1e-9 <= r["ratio_ci95"][1] + 1e-9
    assert b["n_runs"] == v["n_runs"] == r["n_pairs"]


def test_steal_from_proc_stat(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.write_text("cpu  100 0 100 700 0 0 0 100 0 0\ncpu0 1 2 3\n")
    b.write_text("cpu  200 0 200 1300 0 0 0 300 0 0\ncpu0 1 2 3\n")
    assert steal_pct(read_cpu_times(str(a)), read_cpu_times(str(b))) == pytest.approx(20.0)
    assert read_cpu_times(str(tmp_path / "missing")) is None
    assert steal_pct(None, None) is None


def test_protocol_validation():
    with pytest.raises(ValueError):
        Protocol(min_runs=1)
    with pytest.raises(ValueError):
        Protocol(target_rel_ci=0)
    p = Protocol(min_runs=4, interleaved=True)
    assert Protocol.from_dict(p.to_dict()).to_dict() == p.to_dict()
