"""Pure energy arithmetic: trapezoidal integration of power traces, wrapping counters, idle removal.

Units: times in seconds, power in milliwatts, so mW * s = millijoules. Counters in microjoules.
Python 3.6 syntax; numpy only (no API newer than numpy 1.13, the JetPack 4 version).
"""
import numpy as np


def integrate_mj(times_s, power_mw, start_s, end_s):
    """Energy (mJ) of a sampled power trace over [start_s, end_s] by the trapezoidal rule.

    ``times_s`` (shape (n,), increasing) and ``power_mw`` (shape (n,)) are the samples. The
    window's edges are linearly interpolated between neighbouring samples; outside the trace the
    first/last sample is held (see ``covers``). Raises ValueError for an empty trace or end < start.
    """
    t = np.asarray(times_s, dtype=float)
    p = np.asarray(power_mw, dtype=float)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError("times_s and power_mw must be 1-D and the same length")
    if t.size == 0:
        raise ValueError("cannot integrate an empty power trace")
    if end_s < start_s:
        raise ValueError("window ends ({} s) before it starts ({} s)".format(end_s, start_s))
    inside = (t > start_s) & (t < end_s)
    tt = np.concatenate(([start_s], t[inside], [end_s]))
    pp = np.concatenate((np.interp([start_s], t, p), p[inside], np.interp([end_s], t, p)))
    return float(np.sum((pp[1:] + pp[:-1]) * 0.5 * np.diff(tt)))


def covers(times_s, start_s, end_s):
    """True if the trace has samples at or before ``start_s`` and at or after ``end_s``."""
    return len(times_s) > 0 and times_s[0] <= start_s and times_s[-1] >= end_s


def counter_delta_uj(before_uj, after_uj, max_range_uj):
    """Energy (uJ) between two readings of a counter that wraps to 0 after ``max_range_uj``.

    A negative difference means the counter wrapped (once; read at least once per wrap period).
    Without a known range a negative difference raises ValueError rather than being guessed.
    """
    delta = after_uj - before_uj
    if delta < 0:
        if not max_range_uj:
            raise ValueError("counter went backwards ({} -> {} uJ) and its wrap range is "
                             "unknown".format(before_uj, after_uj))
        delta += max_range_uj
    return delta


def counters_delta_uj(before_uj, after_uj, max_ranges_uj):
    """Sum of ``counter_delta_uj`` over several independent counters (e.g. RAPL packages)."""
    return sum(counter_delta_uj(b, a, m) for b, a, m in zip(before_uj, after_uj, max_ranges_uj))


def energy_per_inference(total_mj, idle_mw, window_s, n_inferences, clamp=True):
    """Energy per inference above idle (mJ): (total_mj - idle_mw * window_s) / n_inferences.

    ``total_mj`` is the energy measured over a window of ``window_s`` seconds in which
    ``n_inferences`` ran; ``idle_mw`` the idle power measured just before. With ``clamp`` a
    negative result (inference cost lost in sensor noise) becomes 0.0; see ``dynamic_energy``.
    """
    value, _ = dynamic_energy(total_mj, idle_mw, window_s, n_inferences)
    return max(value, 0.0) if clamp else value


def dynamic_energy(total_mj, idle_mw, window_s, n_inferences):
    """(raw energy per inference above idle in mJ, True if it is negative and must be clamped)."""
    if n_inferences <= 0:
        raise ValueError("n_inferences must be positive, got {}".format(n_inferences))
    if window_s <= 0:
        raise ValueError("window_s must be positive, got {}".format(window_s))
    raw = (float(total_mj) - float(idle_mw) * float(window_s)) / n_inferences
    return raw, raw < 0
