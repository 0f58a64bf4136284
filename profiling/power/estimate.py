"""Energy ESTIMATES for hosts without a power sensor: a documented CPU TDP-share model.

Model ("cpu-tdp-share"): each hardware thread kept busy by the inference draws ``busy_core_mw``
above the host's idle power, for the whole latency::

    busy_threads    = min(threads, cores)
    energy_mj       = busy_core_mw * busy_threads * latency_ms / 1000      (above idle)
    active_power_mw = idle_mw + busy_core_mw * busy_threads

``energy_mj`` is comparable to the measured, idle-subtracted ``energy_mj`` of a sampler record.

Assumptions (each estimate records them, with ``energy_is_estimate: True``):

* every requested thread is 100 % busy for the whole latency (onnxruntime's intra-op threads
  spin-wait), so the estimate is an upper bound for runs that leave threads idle;
* ``HOST_BUSY_CORE_MW`` = 7000 mW per busy vCPU: a server CPU's TDP (about 200-280 W) shared
  among its 32-64 cores, rounded up for the uncore and memory traffic the work causes. It is not
  measured on this host; treat results as good to a factor of about two, fit for ranking settings
  on the same host, never as a figure for the target device;
* SMT siblings count as full cores; DVFS, turbo, memory (DRAM) and accelerator power are ignored;
* the idle share of a cloud VM is not attributable, so the host model's ``idle_mw`` is 0.

Python 3.6 syntax; standard library only.
"""
import os

HOST_BUSY_CORE_MW = 7000.0
MODEL_NAME = "cpu-tdp-share"


class DevicePowerModel(object):
    """A linear busy-thread power model: ``idle_mw`` + ``busy_core_mw`` per busy thread (mW)."""

    def __init__(self, idle_mw, busy_core_mw, cores, name=MODEL_NAME):
        if idle_mw < 0 or busy_core_mw <= 0:
            raise ValueError("need idle_mw >= 0 and busy_core_mw > 0, got {} and {}".format(
                idle_mw, busy_core_mw))
        if int(cores) < 1:
            raise ValueError("cores must be >= 1, got {}".format(cores))
        self.idle_mw = float(idle_mw)
        self.busy_core_mw = float(busy_core_mw)
        self.cores = int(cores)
        self.name = name

    @classmethod
    def from_dict(cls, spec):
        """A model from a plan's ``power_model`` dict; missing keys take ``host_model``'s values."""
        spec = dict(spec or {})
        unknown = sorted(set(spec) - {"idle_mw", "busy_core_mw", "cores", "name"})
        if unknown:
            raise ValueError("unknown power_model keys {}; allowed: idle_mw, busy_core_mw, cores, "
                             "name".format(", ".join(unknown)))
        return cls(idle_mw=spec.get("idle_mw", 0.0),
                   busy_core_mw=spec.get("busy_core_mw", HOST_BUSY_CORE_MW),
                   cores=spec.get("cores") or os.cpu_count() or 1, name=spec.get("name", MODEL_NAME))

    def to_dict(self):
        """The parameters ``from_dict`` accepts."""
        return {"idle_mw": self.idle_mw, "busy_core_mw": self.busy_core_mw, "cores": self.cores,
                "name": self.name}

    def busy_threads(self, threads):
        """Threads that can be busy at once: ``threads`` capped at ``cores``."""
        if int(threads) < 1:
            raise ValueError("threads must be >= 1, got {}".format(threads))
        return min(int(threads), self.cores)

    def active_power_mw(self, threads):
        """Modelled power (mW) while ``threads`` threads run inference."""
        return self.idle_mw + self.busy_core_mw * self.busy_threads(threads)

    def energy_mj(self, latency_ms, threads):
        """Estimated energy above idle (mJ) of one inference of ``latency_ms`` ms on ``threads``."""
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0, got {}".format(latency_ms))
        return self.busy_core_mw * self.busy_threads(threads) * float(latency_ms) / 1000.0

    def assumptions(self):
        """The model's parameters and simplifications, for the record (dict)."""
        return {"model": self.name, "idle_mw": self.idle_mw, "busy_core_mw": self.busy_core_mw,
                "cores": self.cores, "threads_fully_busy": True, "smt_counts_as_core": True,
                "ignores": ["dvfs", "turbo", "dram", "accelerators"],
                "formula": "energy_mj = busy_core_mw * min(threads, cores) * latency_ms / 1000"}

    def record(self, latency_ms, threads):
        """The profile record's ``energy`` dict for one inference (an estimate, flagged so)."""
        return {"energy_mj": self.energy_mj(latency_ms, threads),
                "power_mw_mean": self.active_power_mw(threads), "idle_power_mw": self.idle_mw,
                "source": "estimate:" + self.name, "energy_is_estimate": True,
                "samples_hz": None, "n_power_samples": 0, "rails": {},
                "assumptions": self.assumptions()}


def host_model(cores=None, busy_core_mw=HOST_BUSY_CORE_MW):
    """The default model for this (x86 cloud VM) host: ``cores`` defaults to os.cpu_count()."""
    return DevicePowerModel.from_dict({"busy_core_mw": busy_core_mw, "cores": cores})
