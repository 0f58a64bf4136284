"""The contract every power source meets, plus small sysfs helpers shared by the sources.

A source is either a *power* sensor (``read_power_mw()``: instantaneous total power, milliwatts)
or an *energy* counter (``read_energy_uj()``: cumulative microjoules that wrap at
``max_energy_range_uj``), or ``none`` (measures nothing). Python 3.6 syntax; standard library only.
"""
import math
import os

KINDS = ("power", "energy", "none")

# A single rail or module above this is a sensor glitch, not a reading (AGX Orin peaks near 60 W).
MAX_PLAUSIBLE_MW = 200000.0


class PowerSourceError(RuntimeError):
    """A power source that cannot be opened or read; the message says why and what to do."""


class PowerSource(object):
    """Base class. Subclasses set ``name`` and ``kind`` and override the readers they support.

    ``root`` is the filesystem root every sysfs path is resolved against ("/" on a real device,
    a fixture tree in tests).
    """

    name = "abstract"
    kind = "none"
    max_energy_range_uj = None  # energy sources: the counter wraps to 0 after this many uJ
    skipped = ()  # set by detect(): (name, reason) of each source passed over before this one

    def __init__(self, root="/"):
        self.root = root

    @classmethod
    def unavailable_reason(cls, root="/"):
        """None if this source can be used under ``root``, else a one-line reason (str)."""
        return "{} does not implement a probe".format(cls.__name__)

    @classmethod
    def available(cls, root="/"):
        """True if this source can be used under ``root``."""
        return cls.unavailable_reason(root) is None

    def read_power_mw(self):
        """Total power now, in milliwatts (float), or None if the sensor gave no valid reading."""
        raise PowerSourceError("power source '{}' is a {} source; it has no instantaneous power "
                               "reading".format(self.name, self.kind))

    def read_energy_uj(self):
        """Cumulative energy counter, in microjoules (int); wraps at ``max_energy_range_uj``."""
        raise PowerSourceError("power source '{}' is a {} source; it has no energy counter".format(
            self.name, self.kind))

    def read_energy_counters_uj(self):
        """One reading per independent counter (tuple of int uJ); each wraps on its own range."""
        return (self.read_energy_uj(),)

    def energy_ranges_uj(self):
        """Wrap-around range of each counter of ``read_energy_counters_uj`` (tuple of int uJ)."""
        return (self.max_energy_range_uj,)

    def describe(self):
        """What this source reads (dict, JSON-serialisable): name, kind, rails, total rule."""
        return {"name": self.name, "kind": self.kind, "rails": {}}

    def close(self):
        """Release files, handles or subprocesses held by this source."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def under_root(root, path):
    """``path`` (absolute, e.g. "/sys/class/powercap") resolved inside ``root``."""
    return os.path.join(root, path.lstrip("/"))


def read_text(path):
    """The stripped content of a (sysfs) file, read once; raises OSError like ``open``."""
    with open(path, "r") as f:
        return f.read().strip()


def read_number(path):
    """A finite number read once from ``path``, or None if missing, unreadable or not a number."""
    try:
        return finite(float(read_text(path)))
    except (OSError, ValueError):
        return None


def finite(value):
    """``value`` unless it is NaN or infinite (then None)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def _open_readonly(path):
    return os.open(path, os.O_RDONLY)


class SysfsFile(object):
    """A sysfs attribute held open and re-read with ``os.pread`` at offset 0.

    Reading at offset 0 makes sysfs regenerate the value, and one syscall per reading (instead of
    open/read/close) costs ~1 us rather than ~15 us and releases the GIL once, which keeps the
    sampler near its rate while Python code holds the GIL. After an error the file is reopened on
    the next read. Safe to share between threads (pread has no file position).
    """

    def __init__(self, path):
        self.path = path
        self._fd = None

    def read_text(self):
        """The stripped value (str); raises OSError (and closes the file) on failure."""
        fd = self._fd
        if fd is None:
            fd = self._fd = _open_readonly(self.path)
        try:
            data = os.pread(fd, 4096, 0)
        except OSError:
            self.close()
            raise
        return data.decode("ascii", "replace").strip()

    def read_number(self):
        """A finite number, or None if unreadable or not a number."""
        try:
            return finite(float(self.read_text()))
        except (OSError, ValueError):
            return None

    def close(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: os may already be gone
            pass


def plausible_mw(value_mw):
    """``value_mw`` if it is a believable power reading (0..MAX_PLAUSIBLE_MW mW), else None.

    Negative power on a supply rail is a glitch (or an unpowered channel's offset), not a reading.
    """
    if value_mw is None or value_mw < 0 or value_mw > MAX_PLAUSIBLE_MW:
        return None
    return float(value_mw)
