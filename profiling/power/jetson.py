"""Jetson on-module INA3221 power monitors read through sysfs, both public layouts.

(a) JetPack 4.x / L4T 32 (TX2, Nano, Xavier), the ``ina3221x`` IIO driver::

    /sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device<N>/rail_name_<i>
                                                           in_power<i>_input    (mW)
                                                           in_voltage<i>_input  (mV)
                                                           in_current<i>_input  (mA)

(b) JetPack 5.x+ / L4T 34+ (Orin, Xavier on JP5), the mainline ``ina3221`` hwmon driver::

    /sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon<N>/in<i>_label
                                                           in<i>_input    (bus voltage, mV)
                                                           curr<i>_input  (mA)
    power_mw = in<i>_input * curr<i>_input / 1000

Rails are discovered by globbing; the module total follows ``profiling.power.rails``. A rail that
is missing, unreadable, not a number, negative or above ``MAX_PLAUSIBLE_MW`` reads as None.
Python 3.6 syntax; standard library only.
"""
import glob
import os
import re

from profiling.power import base, rails

IIO_GLOB = "sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*"
HWMON_GLOB = "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label"
# Channel labels that are not supply rails: unconnected channels and the driver's sum channel.
_SKIP_LABELS = ("", "NC")


class Rail(object):
    """One INA3221 channel: its label and the sysfs files (kept open) that give its power."""

    def __init__(self, name, layout, power_path=None, voltage_path=None, current_path=None):
        self.name = name
        self.layout = layout
        self.paths = [p for p in (power_path, voltage_path, current_path) if p]
        self._power = base.SysfsFile(power_path) if power_path else None
        self._voltage = base.SysfsFile(voltage_path) if voltage_path else None
        self._current = base.SysfsFile(current_path) if current_path else None

    def read_mw(self):
        """Power on this rail now (mW), or None if the sensor gave no valid reading."""
        if self._power is not None:
            return base.plausible_mw(self._power.read_number())
        voltage_mv = self._voltage.read_number()
        current_ma = self._current.read_number()
        if voltage_mv is None or current_ma is None:
            return None
        return base.plausible_mw(voltage_mv * current_ma / 1000.0)

    def describe(self):
        return {"layout": self.layout, "files": list(self.paths)}

    def close(self):
        for f in (self._power, self._voltage, self._current):
            if f is not None:
                f.close()


def _index(path, pattern):
    match = re.search(pattern, os.path.basename(path))
    return int(match.group(1)) if match else -1


def _iio_rails(root):
    """Rails of the JetPack 4 ``ina3221x`` IIO layout under ``root``, in device/channel order."""
    found = []
    paths = glob.glob(base.under_root(root, IIO_GLOB))
    for path in sorted(paths, key=lambda p: (os.path.dirname(p), _index(p, r"_(\d+)$"))):
        try:
            label = base.read_text(path)
        except OSError:
            continue
        if label.upper() in _SKIP_LABELS:
            continue
        folder, i = os.path.dirname(path), _index(path, r"_(\d+)$")
        power = os.path.join(folder, "in_power{}_input".format(i))
        voltage = os.path.join(folder, "in_voltage{}_input".format(i))
        current = os.path.join(folder, "in_current{}_input".format(i))
        if os.path.exists(power):
            found.append(Rail(label, "jetpack4-iio", power_path=power))
        elif os.path.exists(voltage) and os.path.exists(current):
            found.append(Rail(label, "jetpack4-iio", voltage_path=voltage, current_path=current))
    return found


def _hwmon_enabled(folder, i):
    enable = base.read_number(os.path.join(folder, "in{}_enable".format(i)))
    return enable is None or enable != 0


def _hwmon_rails(root):
    """Rails of the JetPack 5 ``ina3221`` hwmon layout under ``root``, in device/channel order."""
    found = []
    paths = glob.glob(base.under_root(root, HWMON_GLOB))
    for path in sorted(paths, key=lambda p: (os.path.dirname(p), _index(p, r"^in(\d+)_"))):
        folder, i = os.path.dirname(path), _index(path, r"^in(\d+)_")
        current = os.path.join(folder, "curr{}_input".format(i))
        voltage = os.path.join(folder, "in{}_input".format(i))
        if not (os.path.exists(current) and os.path.exists(voltage)) or not _hwmon_enabled(folder, i):
            continue  # in4..in7 are shunt/sum voltages without a current of their own
        try:
            label = base.read_text(path)
        except OSError:
            continue
        if label.upper() in _SKIP_LABELS or "SUM" in label.upper():
            continue
        found.append(Rail(label, "jetpack5-hwmon", voltage_path=voltage, current_path=current))
    return found


def discover_rails(root="/"):
    """All INA3221 rails under ``root`` (list of Rail), JetPack 4 layout first."""
    return _iio_rails(root) + _hwmon_rails(root)


class JetsonIna3221Source(base.PowerSource):
    """Module power of a Jetson from its INA3221 monitors (a power source, mW)."""

    name = "jetson-ina3221"
    kind = "power"

    def __init__(self, root="/"):
        super(JetsonIna3221Source, self).__init__(root)
        self.rails = discover_rails(root)
        if not self.rails:
            raise base.PowerSourceError(self._no_rails_reason(root))
        self.total_name = rails.total_rail(r.name for r in self.rails)
        self._total_rail = None
        for rail in self.rails:
            if rail.name == self.total_name:
                self._total_rail = rail
                break

    @staticmethod
    def _no_rails_reason(root):
        return ("no INA3221 rails under {} (looked for {} and {}); not a Jetson, or the driver "
                "is not loaded".format(root, IIO_GLOB, HWMON_GLOB))

    @classmethod
    def unavailable_reason(cls, root="/"):
        try:
            source = cls(root)
        except base.PowerSourceError as exc:
            return str(exc)
        with source:
            reading_mw = source.read_power_mw()
        if reading_mw is None:
            return "INA3221 rails found under {} but the total gives no valid reading".format(root)
        return None

    def read_rails_mw(self):
        """Every rail now: {rail name: mW or None}."""
        return dict((r.name, r.read_mw()) for r in self.rails)

    def read_power_mw(self):
        """Module total now (mW): the total rail only (one file), else the sum of all rails."""
        if self._total_rail is not None:
            return self._total_rail.read_mw()
        return rails.total_mw(self.read_rails_mw(), None)

    def describe(self):
        info = super(JetsonIna3221Source, self).describe()
        info["rails"] = rails.describe_rails([r.name for r in self.rails], self.total_name)
        info["files"] = dict((r.name, r.describe()) for r in self.rails)
        return info

    def close(self):
        for rail in self.rails:
            rail.close()
