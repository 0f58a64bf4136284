"""Background power sampling and energy per inference.

A ``PowerSampler`` thread reads its source ``hz`` times a second, timestamped with
``time.perf_counter`` (seconds) at the middle of each read, into a trace:

* power sources: (t_s, power_mw); a window's energy is the trapezoidal integral (mJ);
* energy counters: (t_s, cumulative uJ, wrap-arounds unrolled at every read, so reading often
  catches each wrap); a window's energy is the interpolated difference (mJ).

Typical use on the device::

    with PowerSampler(detect()) as sampler:
        idle_mw = sampler.measure_idle(1.0)     # the idle baseline, just before the work
        with sampler.measure() as window:       # boundary samples taken on entry and exit
            for _ in range(n): run_inference()
        energy = sampler.record(window, idle_mw, n)   # the profile record's "energy" field

Idle is measured with the sampler running, so its own cost cancels in the subtraction.
Python 3.6 syntax; standard library + numpy.
"""
import contextlib
import threading
import time
from array import array

import numpy as np

from profiling.power import integrate
from profiling.power.integrate import energy_per_inference  # noqa: F401 - part of this API

MAX_HZ = 5000.0


class EnergyWindow(dict):
    """The result of ``window()`` / ``measure()`` (a dict) that can turn itself into a record."""

    def __init__(self, sampler, *args, **kwargs):
        super(EnergyWindow, self).__init__(*args, **kwargs)
        self.sampler = sampler

    def record(self, idle_mw, n_inferences):
        """``PowerSampler.record`` for this window: the profile record's ``energy`` dict."""
        return self.sampler.record(self, idle_mw, n_inferences)


class PowerSampler(object):
    """Samples ``source`` (a PowerSource) at ``hz`` per second on a daemon thread."""

    def __init__(self, source, hz=200, clock=time.perf_counter):
        if not 0 < hz <= MAX_HZ:
            raise ValueError("hz must be in (0, {}], got {}".format(MAX_HZ, hz))
        self.source = source
        self.hz = float(hz)
        self.period_s = 1.0 / self.hz
        self._clock = clock
        self._lock = threading.Lock()
        self._times_s = array("d")
        self._values = array("d")  # mW (power sources) or cumulative uJ (energy sources)
        self._last_counters = None
        self._cumulative_uj = 0
        self._stop = threading.Event()
        self._thread = None
        self.n_failed_reads = 0
        self.last_error = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        """Start the sampling thread (idempotent; nothing to do for a "none" source)."""
        if self.running or self.source.kind == "none":
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="power-sampler")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self):
        """Stop the thread and wait for it; the trace is kept."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _run(self):
        next_t = self._clock()
        while not self._stop.is_set():
            self.sample_now()
            next_t += self.period_s
            delay = next_t - self._clock()
            if delay < -self.period_s:  # more than a period late (GIL, scheduler): don't burst
                next_t, delay = self._clock(), 0.0
            self._stop.wait(max(delay, 0.0))

    # -- sampling --------------------------------------------------------------------------
    def sample_now(self):
        """Take one sample now (any thread); True if the source gave a valid reading."""
        if self.source.kind == "none":
            return False
        with self._lock:
            t0 = self._clock()
            try:
                value = self._read()
            except Exception as exc:  # a sensor hiccup must not kill the thread; it is counted
                value, self.last_error = None, "{}: {}".format(type(exc).__name__, exc)
            t1 = self._clock()
            if value is None:
                self.n_failed_reads += 1
                return False
            self._times_s.append(0.5 * (t0 + t1))
            self._values.append(value)
            return True

    def _read(self):
        if self.source.kind == "power":
            return self.source.read_power_mw()
        counters = self.source.read_energy_counters_uj()
        if self._last_counters is not None:
            self._cumulative_uj += integrate.counters_delta_uj(
                self._last_counters, counters, self.source.energy_ranges_uj())
        self._last_counters = counters
        return float(self._cumulative_uj)

    def trace(self):
        """A copy of the trace: (times_s, values) numpy arrays (mW, or cumulative uJ)."""
        with self._lock:
            return np.array(self._times_s, dtype=float), np.array(self._values, dtype=float)

    def discard_before(self, t_s):
        """Drop samples older than ``t_s`` (keeping one before it for interpolation)."""
        with self._lock:
            keep = max(int(np.searchsorted(np.asarray(self._times_s), t_s)) - 1, 0)
            del self._times_s[:keep]
            del self._values[:keep]

    def achieved_hz(self):
        """Samples per second over the whole trace so far (0.0 with fewer than two samples)."""
        t, _ = self.trace()
        return float((t.size - 1) / (t[-1] - t[0])) if t.size > 1 and t[-1] > t[0] else 0.0

    # -- windows ---------------------------------------------------------------------------
    def window(self, start_s=None, end_s=None):
        """Energy over [start_s, end_s] (perf_counter seconds) as an EnergyWindow dict (mJ, mW, Hz).

        Called without arguments it is ``measure()``, a context manager over its block. Takes a
        sample first if the trace does not yet reach ``end_s``. ``covered`` is False if the trace
        does not span the window (edges then hold the nearest sample).
        """
        if start_s is None and end_s is None:
            return self.measure()
        if start_s is None or end_s is None:
            raise ValueError("window() takes both start_s and end_s, or neither")
        t, v = self.trace()
        if (t.size == 0 or t[-1] < end_s) and self.sample_now():
            t, v = self.trace()
        window_s = float(end_s - start_s)
        result = EnergyWindow(self, start_s=start_s, end_s=end_s, window_s=window_s, energy_mj=None,
                              power_mw_mean=None, n_power_samples=0, samples_hz=0.0,
                              covered=bool(integrate.covers(t, start_s, end_s)))
        if t.size == 0:
            return result
        if self.source.kind == "power":
            energy_mj = integrate.integrate_mj(t, v, start_s, end_s)
        else:
            edges_uj = np.interp([start_s, end_s], t, v)
            energy_mj = float(edges_uj[1] - edges_uj[0]) / 1000.0
        n_inside = int(np.count_nonzero((t >= start_s) & (t <= end_s)))
        result.update({"energy_mj": energy_mj, "n_power_samples": n_inside,
                       "power_mw_mean": energy_mj / window_s if window_s > 0 else None,
                       "samples_hz": n_inside / window_s if window_s > 0 else 0.0})
        return result

    @contextlib.contextmanager
    def measure(self):
        """Context manager: yields an EnergyWindow that holds ``window(entry, exit)`` after the block."""
        self.start()
        result = EnergyWindow(self)
        self.sample_now()
        start_s = self._clock()
        yield result
        end_s = self._clock()
        self.sample_now()
        result.update(self.window(start_s, end_s))

    def measure_idle(self, seconds):
        """Mean power (mW) over the next ``seconds`` s while the caller sleeps; None if no data."""
        if seconds <= 0:
            raise ValueError("idle measurement needs seconds > 0, got {}".format(seconds))
        with self.measure() as result:
            time.sleep(seconds)
        return result["power_mw_mean"]

    def record(self, window, idle_power_mw, n_inferences):
        """The profile record's ``energy`` dict for ``n_inferences`` run inside ``window``.

        ``energy_mj`` is per inference above idle, clamped at 0 (``energy_clamped`` says so;
        ``energy_mj_raw`` keeps the signed value); ``energy_with_idle_mj`` includes idle power.
        """
        info = self.source.describe()
        rec = {"energy_mj": None, "energy_mj_raw": None, "energy_clamped": False,
               "energy_with_idle_mj": None, "window_energy_mj": window.get("energy_mj"),
               "window_s": window.get("window_s"), "n_inferences": n_inferences,
               "power_mw_mean": window.get("power_mw_mean"), "idle_power_mw": idle_power_mw,
               "source": self.source.name, "energy_is_estimate": False,
               "samples_hz": window.get("samples_hz"), "target_hz": self.hz,
               "n_power_samples": window.get("n_power_samples", 0),
               "window_covered": window.get("covered", False),
               "n_failed_reads": self.n_failed_reads, "rails": info.get("rails", {})}
        if self.source.kind == "none":
            rec["error"] = "no power sensor on this host (source 'none'); see profiling.power.estimate"
            return rec
        if window.get("energy_mj") is None or idle_power_mw is None:
            rec["error"] = "no power readings from source '{}' ({})".format(
                self.source.name, self.last_error or "no valid sample")
            return rec
        raw, clamped = integrate.dynamic_energy(window["energy_mj"], idle_power_mw,
                                                window["window_s"], n_inferences)
        rec.update({"energy_mj": max(raw, 0.0), "energy_mj_raw": raw, "energy_clamped": clamped,
                    "energy_with_idle_mj": window["energy_mj"] / n_inferences})
        return rec
