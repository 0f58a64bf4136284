"""Catalogue of target devices: specs, runtimes, and what each precision does on each runtime.

Built-ins are lazy ``"module:attr"`` strings (the data lives in ``advisor.devices_data``); third
parties add devices through the ``advisor.devices`` entry-point group. A member is a ``Device`` or a
zero-argument callable returning one (``host`` is detected that way, at call time, never at import).

``setting_support`` maps a compression setting onto a device/runtime's precision table, so the
recommender can mark a setting the runtime cannot run, or runs without benefit, with the reason.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from advisor.errors import AdvisorError
from profiling.registry import Registry, UnknownNameError

# Precision keys of a runtime's table. wq* are weight-only storage formats (compute stays fp32).
PRECISIONS = ("fp32", "fp16", "int8-static", "int8-dynamic", "wq16", "wq8", "wq4")
# Keys of Device.peak_tops: dense GPU figures, Ampere's structured-sparse INT8, a CPU estimate.
PEAK_KEYS = ("fp32", "fp16", "int8", "int8_sparse", "cpu_fp32")
# Setting names and unambiguous setting families accepted where a precision key is expected.
_ALIASES = {"none": "fp32", "baseline": "fp32", "precision": "fp16",
            "int8-static-pc": "int8-static", "int8-static-pt": "int8-static"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


class DeviceError(AdvisorError):
    """An unknown device, a runtime the device does not offer, or an unknown precision."""


def _positive(owner: str, what: str, value, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{owner}: {what} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class PrecisionSupport:
    """Whether a runtime runs a precision (``supported``) and whether that is a fast path (``fast``:
    expected to beat fp32 on latency there). ``note`` says why, in one line."""

    supported: bool
    fast: bool
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.supported, bool) or not isinstance(self.fast, bool):
            raise ValueError(f"supported and fast must be bools, got {self.supported!r}, {self.fast!r}")
        if self.fast and not self.supported:
            raise ValueError("a precision cannot be fast without being supported")

    def to_dict(self) -> dict:
        return {"supported": self.supported, "fast": self.fast, "note": self.note}


@dataclass(frozen=True)
class RuntimeSupport:
    """One runtime on one device: precision key (see PRECISIONS) -> PrecisionSupport."""

    precisions: Mapping
    note: str = ""

    def __post_init__(self):
        unknown = set(self.precisions) - set(PRECISIONS)
        if unknown or "fp32" not in self.precisions:
            raise ValueError(f"precision keys must include fp32 and come from {PRECISIONS}, got {sorted(self.precisions)}")
        if not all(isinstance(p, PrecisionSupport) for p in self.precisions.values()):
            raise ValueError("precision values must be PrecisionSupport")
        object.__setattr__(self, "precisions", MappingProxyType(dict(self.precisions)))

    def to_dict(self) -> dict:
        return {"note": self.note, "precisions": {k: v.to_dict() for k, v in self.precisions.items()}}


@dataclass(frozen=True)
class PowerMode:
    """A power mode: ``nvpmodel_id`` (``sudo nvpmodel -m ID``; None where it varies or does not apply)
    and its power budget in watts (None: no budget, e.g. MAXN)."""

    name: str
    nvpmodel_id: int | None
    watts: float | None
    description: str = ""

    def __post_init__(self):
        _positive(f"power mode {self.name!r}", "watts", self.watts, optional=True)
        if self.nvpmodel_id is not None and (not isinstance(self.nvpmodel_id, int) or self.nvpmodel_id < 0):
            raise ValueError(f"power mode {self.name!r}: nvpmodel_id must be a non-negative int or None")


@dataclass(frozen=True)
class CpuSpec:
    """CPU: instruction-set ``arch`` (e.g. aarch64), core count, top clock in MHz, core types."""

    arch: str
    cores: int
    max_clock_mhz: float | None
    model: str

    def __post_init__(self):
        if not isinstance(self.cores, int) or self.cores < 1:
            raise ValueError(f"cpu cores must be a positive int, got {self.cores!r}")
        _positive("cpu", "max_clock_mhz", self.max_clock_mhz, optional=True)


@dataclass(frozen=True)
class GpuSpec:
    """Integrated GPU: architecture, CUDA cores, top clock in MHz, whether it has tensor cores."""

    arch: str
    cuda_cores: int
    max_clock_mhz: float
    tensor_cores: bool
    compute_capability: str = ""
    tensor_core_count: int = 0

    def __post_init__(self):
        if not isinstance(self.cuda_cores, int) or self.cuda_cores < 1:
            raise ValueError(f"gpu cuda_cores must be a positive int, got {self.cuda_cores!r}")
        _positive("gpu", "max_clock_mhz", self.max_clock_mhz)
        if self.tensor_cores != (self.tensor_core_count > 0):
            raise ValueError("gpu tensor_cores must agree with tensor_core_count")


@dataclass(frozen=True)
class Device:
    """A target device. Units are in the names: GB (memory), GB/s, TOPS or TFLOPS (``peak_tops``,
    keys from PEAK_KEYS; a missing key means no native path for that precision), watts.
    ``python`` is the default Python of the last JetPack the device supports."""

    name: str
    description: str
    cpu: CpuSpec
    gpu: GpuSpec | None
    memory_gb: float | None
    memory_bandwidth_gbs: float | None
    peak_tops: Mapping
    power_modes: tuple
    jetpack: tuple
    python: str
    runtimes: Mapping
    sources: tuple
    notes: str = ""

    def __post_init__(self):
        who = f"device {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"{who}: name must be lower-case letters, digits and dashes")
        if not isinstance(self.cpu, CpuSpec) or not (self.gpu is None or isinstance(self.gpu, GpuSpec)):
            raise ValueError(f"{who}: cpu must be a CpuSpec and gpu a GpuSpec or None")
        _positive(who, "memory_gb", self.memory_gb, optional=True)
        _positive(who, "memory_bandwidth_gbs", self.memory_bandwidth_gbs, optional=True)
        if set(self.peak_tops) - set(PEAK_KEYS):
            raise ValueError(f"{who}: peak_tops keys must come from {PEAK_KEYS}, got {sorted(self.peak_tops)}")
        for key, value in self.peak_tops.items():
            _positive(who, f"peak_tops[{key!r}]", value)
        if not all(isinstance(m, PowerMode) for m in self.power_modes):
            raise ValueError(f"{who}: power_modes must be PowerMode instances")
        if not re.match(r"^\d+\.\d+$", self.python or ""):
            raise ValueError(f"{who}: python must look like '3.6', got {self.python!r}")
        if not self.runtimes or not all(isinstance(r, RuntimeSupport) for r in self.runtimes.values()):
            raise ValueError(f"{who}: runtimes must map runtime names to RuntimeSupport (at least one)")
        if not self.sources or not all(isinstance(s, str) and s for s in self.sources):
            raise ValueError(f"{who}: sources must list at least one URL or document")
        for name in ("power_modes", "jetpack", "sources"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "peak_tops", MappingProxyType(dict(self.peak_tops)))
        object.__setattr__(self, "runtimes", MappingProxyType(dict(self.runtimes)))

    def runtime(self, runtime: str) -> RuntimeSupport:
        """The RuntimeSupport for ``runtime``; DeviceError lists the device's runtimes."""
        if runtime not in self.runtimes:
            raise DeviceError(f"Runtime '{runtime}' is not available on device '{self.name}'. "
                              f"Available: {', '.join(self.runtimes)}. See 'advisor devices {self.name}'.")
        return self.runtimes[runtime]

    def precision_support(self, runtime: str, setting_family_or_precision: str) -> PrecisionSupport:
        """What ``runtime`` does with a precision key (PRECISIONS), a built-in precision setting name
        (``none``, ``int8-static-pc``, ``wq8``...) or an unambiguous family (``baseline``, ``precision``)."""
        key = _precision_key(setting_family_or_precision)
        table = self.runtime(runtime).precisions
        if key not in table:
            return PrecisionSupport(False, False, f"{runtime} on {self.name} lists no {key} support")
        return table[key]

    def to_dict(self) -> dict:
        """A JSON-able dict (tuples become lists)."""
        return {"name": self.name, "description": self.description,
                "cpu": vars(self.cpu).copy(), "gpu": vars(self.gpu).copy() if self.gpu else None,
                "memory_gb": self.memory_gb, "memory_bandwidth_gbs": self.memory_bandwidth_gbs,
                "peak_tops": dict(self.peak_tops),
                "power_modes": [vars(m).copy() for m in self.power_modes],
                "jetpack": list(self.jetpack), "python": self.python,
                "runtimes": {k: v.to_dict() for k, v in self.runtimes.items()},
                "sources": list(self.sources), "notes": self.notes}


def _precision_key(value: str) -> str:
    key = _ALIASES.get(value, value)
    if key not in PRECISIONS:
        known = ", ".join(PRECISIONS + tuple(_ALIASES))
        raise DeviceError(f"Unknown precision '{value}'. Known: {known}.")
    return key


DEVICES = Registry("device", entry_point_group="advisor.devices")
for _name, _target in (("host", "advisor.devices_data:detect_host"),
                       ("jetson-agx-xavier", "advisor.devices_data:JETSON_AGX_XAVIER"),
                       ("jetson-nano", "advisor.devices_data:JETSON_NANO"),
                       ("jetson-orin-nano", "advisor.devices_data:JETSON_ORIN_NANO"),
                       ("jetson-tx2", "advisor.devices_data:JETSON_TX2"),
                       ("jetson-xavier-nx", "advisor.devices_data:JETSON_XAVIER_NX")):
    DEVICES.register(_name, _target)


def device_names() -> list[str]:
    """Every registered device name: built-ins in a fixed order, then entry-point devices."""
    return DEVICES.names()


def get_device(name: str) -> Device:
    """The Device registered as ``name`` (``host`` is detected now); DeviceError lists the known names."""
    try:
        member = DEVICES.get(name)
    except UnknownNameError as exc:
        raise DeviceError(f"{exc} See 'advisor devices'.") from None
    device = member() if callable(member) and not isinstance(member, Device) else member
    if not isinstance(device, Device):
        raise DeviceError(f"Device '{name}' is registered as {type(device).__name__}, not a Device: "
                          "fix its 'advisor.devices' entry point.")
    return device


def setting_support(device: Device, runtime: str, setting_name: str) -> tuple[bool, bool | None, str]:
    """``(supported, beneficial, reason)`` of a compression setting on ``device`` with ``runtime``.

    ``beneficial`` says whether the setting is expected to cut latency there (None: no speed claim,
    e.g. the baseline, or a family without a rule: measure). Size benefits are named in ``reason``.
    """
    from advisor.compression import get_setting  # lazy: loads the setting's module (and onnx)

    return _support(device, runtime, get_setting(setting_name))


def _support(device: Device, runtime: str, setting) -> tuple[bool, bool | None, str]:
    device.runtime(runtime)  # an unavailable runtime is an error, not an unsupported setting
    family = setting.family
    if family == "combined" and getattr(setting, "steps", None):
        from advisor.compression import get_setting

        parts = [(name, _support(device, runtime, get_setting(name))) for name in setting.steps]
        supported = all(s for _, (s, _b, _r) in parts)
        flags = [b for _, (_s, b, _r) in parts]
        beneficial = True if True in flags else (False if flags and all(f is False for f in flags) else None)
        return supported, beneficial, "; ".join(f"{name}: {r}" for name, (_s, _b, r) in parts)
    if family == "pruning":
        return True, False, (f"{runtime} runs dense kernels: the zeroed weights are still multiplied, so no "
                             "speed-up; the file shrinks only once compressed (e.g. zip)")
    if family == "structured-pruning":
        return True, True, "removes whole channels: fewer MACs and weights on every runtime"
    key = _setting_precision(setting)
    if key is None:
        return True, None, f"no device rule for the '{family}' family on {device.name}/{runtime}: measure it"
    support = device.precision_support(runtime, key)
    where = f"{key} on {device.name}/{runtime}"
    if not support.supported:
        return False, False, f"{where} is not supported: {support.note}"
    if key == "fp32":
        return True, None, f"the uncompressed fp32 reference on {device.name}/{runtime}"
    return True, support.fast, f"{where}: {support.note}"


def _setting_precision(setting) -> str | None:
    """The precision key a setting's output runs in, or None for a family without a rule."""
    name, family = setting.name, setting.family
    if name in _ALIASES or name in PRECISIONS:
        return _ALIASES.get(name, name)
    if family == "baseline":
        return "fp32"
    if family == "precision":
        return "fp16"
    if family == "quantization":
        return "int8-static" if getattr(setting, "needs_calibration", False) else "int8-dynamic"
    if family == "weight-only":
        bits = setting.params.get("bits")
        return f"wq{bits}" if f"wq{bits}" in PRECISIONS else None
    return None
