"""Quantities with units, parsed once at the edge: '50ms' -> 50.0 (ms), '10MB' -> 10_000_000 (bytes).

Each parser returns a float in the unit its name states, and raises UsageError with a one-line
message for anything else. Decimal prefixes for sizes (KB = 1000 B), binary with 'i' (KiB = 1024 B).
"""
from __future__ import annotations

import math
import re

from advisor.errors import UsageError

_NUM = r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%µ]*)\s*"

TIME_MS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3, "min": 60000.0}
ENERGY_MJ = {"mj": 1.0, "j": 1000.0, "uj": 1e-3, "µj": 1e-3, "kj": 1e6}
SIZE_BYTES = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3}
PERCENT = {"%": 1.0, "pp": 1.0}


def _parse(text: str, units: dict, what: str, example: str, default_unit: str | None = None) -> float:
    m = re.fullmatch(_NUM, str(text))
    if not m:
        raise UsageError(f"Cannot read {what} '{text}'. Write a number with a unit, e.g. '{example}'.")
    value, unit = float(m.group(1)), m.group(2).lower()
    if not unit and default_unit is not None:
        unit = default_unit
    if unit not in units:
        allowed = ", ".join(units)
        raise UsageError(f"Unknown unit '{m.group(2) or '(none)'}' in {what} '{text}'. Allowed: {allowed}; "
                         f"e.g. '{example}'.")
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{what.capitalize()} '{text}' must be a finite non-negative number.")
    return value * units[unit]


def parse_time_ms(text: str) -> float:
    """'50ms', '0.2s', '300us' -> milliseconds."""
    return _parse(text, TIME_MS, "time", "50ms")


def parse_energy_mj(text: str) -> float:
    """'200mJ', '1.5J' -> millijoules."""
    return _parse(text, ENERGY_MJ, "energy", "200mJ")


def parse_size_bytes(text: str) -> float:
    """'10MB', '512KiB', '2GB' -> bytes (decimal KB/MB/GB, binary KiB/MiB/GiB)."""
    return _parse(text, SIZE_BYTES, "size", "10MB")


def parse_percent(text: str) -> float:
    """'1%', '0.5pp' -> percent (1% -> 1.0). A bare number is read as percent."""
    return _parse(text, PERCENT, "percentage", "1%", default_unit="%")


def format_time_ms(ms: float) -> str:
    return f"{ms / 1000:.3g}s" if ms >= 1000 else f"{ms:.3g}ms"
