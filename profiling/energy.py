"""Energy per inference for a record: measured from a power source when the device has one,
otherwise an estimate from a documented device power model (and the record says so).

Python 3.6 syntax. Measured path: idle power just before, then a window of back-to-back inferences
sampled by the PowerSampler thread; energy = (E_window - idle_mw * window_s) / n_inferences.
"""
import time

# A measured window runs at least this long so a 100+ Hz sampler gets enough points.
MIN_WINDOW_S = 1.0
IDLE_S = 0.5


def energy_record(run_once, latency, plan, clock=time.perf_counter):
    """The record's ``energy`` block for the model behind ``run_once`` (whose latency summary is given)."""
    from profiling.power import detect, get_power_source
    from profiling.power.estimate import DevicePowerModel

    wanted = plan.get("power", "auto")
    source = detect(plan.get("power_root", "/")) if wanted == "auto" else get_power_source(wanted,
                                                                                           plan.get("power_root", "/"))
    if source is None or source.kind == "none":
        model = DevicePowerModel.from_dict(plan.get("power_model") or {})
        return model.record(latency["median_ms"], int(plan.get("threads", 1)))
    return _measured(source, run_once, latency, clock)


def _measured(source, run_once, latency, clock):
    from profiling.power.sampler import PowerSampler

    n = max(1, int(MIN_WINDOW_S * 1000.0 / max(latency["median_ms"], 1e-3)) + 1)
    with PowerSampler(source) as sampler:
        idle_mw = sampler.measure_idle(IDLE_S)
        with sampler.window() as win:
            for _ in range(n):
                run_once()
    return win.record(idle_mw=idle_mw, n_inferences=n)
