"""NVIDIA GPU board power through NVML (``pynvml``, from the nvidia-ml-py package), when present.

Prefers the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since the driver
loaded; Volta and newer), which makes this an *energy* source; otherwise samples
``nvmlDeviceGetPowerUsage`` (mW), a *power* source. Only the GPU board is measured, not the host.
NVML talks to the driver, not to files, so under a fixture ``root`` other than "/" the source is
unavailable. Imports cleanly without pynvml. Python 3.6 syntax.
"""
import os

from profiling.power import base

# NVML's counter is an unsigned 64-bit count of mJ: it does not wrap in practice.
_NVML_RANGE_UJ = (2 ** 64) * 1000


def _import_pynvml():
    try:
        import pynvml
    except Exception:  # ImportError, or a broken install raising anything at import
        return None
    return pynvml


def _probe(root, index):
    """None if NVML can read GPU ``index`` under ``root``, else the reason (str)."""
    if os.path.abspath(root) != "/":
        return "NVML reads the live driver, not files; unavailable under root {}".format(root)
    nvml = _import_pynvml()
    if nvml is None:
        return "pynvml is not importable (pip install nvidia-ml-py)"
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return "nvmlInit failed: {}".format(exc)
    try:
        if nvml.nvmlDeviceGetCount() <= index:
            return "NVML sees no GPU with index {}".format(index)
        nvml.nvmlDeviceGetPowerUsage(nvml.nvmlDeviceGetHandleByIndex(index))
    except Exception as exc:
        return "NVML cannot read GPU {} power: {}".format(index, exc)
    finally:
        nvml.nvmlShutdown()
    return None


class NvmlSource(base.PowerSource):
    """Board power of one NVIDIA GPU (NVML index, which ignores CUDA_VISIBLE_DEVICES)."""

    name = "nvml"
    kind = "power"

    def __init__(self, root="/", index=0, prefer_energy=True):
        super(NvmlSource, self).__init__(root)
        self._handle = None
        reason = _probe(root, index)
        if reason is not None:
            raise base.PowerSourceError(reason)
        self._nvml = _import_pynvml()
        self._nvml.nvmlInit()
        self.index = index
        self._handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
        self.kind = "power"
        if prefer_energy and self._energy_counter_works():
            self.kind = "energy"
            self.max_energy_range_uj = _NVML_RANGE_UJ

    @classmethod
    def unavailable_reason(cls, root="/"):
        return _probe(root, 0)

    def _energy_counter_works(self):
        try:
            self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except Exception:  # NVMLError_NotSupported on pre-Volta GPUs, or an old pynvml
            return False
        return True

    def read_power_mw(self):
        return base.plausible_mw(float(self._nvml.nvmlDeviceGetPowerUsage(self._handle)))

    def read_energy_uj(self):
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)) * 1000

    def describe(self):
        info = super(NvmlSource, self).describe()
        name = self._nvml.nvmlDeviceGetName(self._handle)
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        info["rails"] = {"names": ["gpu{}".format(self.index)], "total": "gpu{}".format(self.index),
                         "total_rule": "gpu-board-only"}
        info.update({"gpu_index": self.index, "gpu_name": name})
        return info

    def close(self):
        if self._handle is not None:
            self._handle = None
            self._nvml.nvmlShutdown()
