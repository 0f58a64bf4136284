"""Power sources (one module each) behind one registry, and ``detect`` for the host at hand.

Built-ins, tried by ``detect`` in this order: jetson-ina3221 (sysfs rails), tegrastats (live
process), rapl (Intel/AMD powercap counters), nvml (NVIDIA GPU), none. Third-party sources join
through the ``advisor.power_sources`` entry-point group and are tried after nvml, before none.
Every member is a PowerSource subclass (see ``profiling.power.base``). Nothing is imported or read
at import time. Python 3.6 syntax.
"""
from profiling.registry import Registry

POWER_SOURCES = Registry("power source", entry_point_group="advisor.power_sources")
POWER_SOURCES.register("jetson-ina3221", "profiling.power.jetson:JetsonIna3221Source")
POWER_SOURCES.register("tegrastats", "profiling.power.tegrastats:TegrastatsSource")
POWER_SOURCES.register("rapl", "profiling.power.rapl:RaplSource")
POWER_SOURCES.register("nvml", "profiling.power.nvml:NvmlSource")
POWER_SOURCES.register("none", "profiling.power.none:NoPowerSource")

DETECT_ORDER = ("jetson-ina3221", "tegrastats", "rapl", "nvml", "none")


def detect_order():
    """Source names in the order ``detect`` tries them (third parties before "none")."""
    extra = [n for n in POWER_SOURCES.names() if n not in DETECT_ORDER]
    return list(DETECT_ORDER[:-1]) + extra + [DETECT_ORDER[-1]]


def probe(root="/"):
    """[(name, None if available else the reason)] for every source, in ``detect_order``.

    A source whose import or probe raises is reported unavailable with the error, so one broken
    plug-in cannot stop profiling.
    """
    return [(name, _probe_one(name, root)) for name in detect_order()]


def _probe_one(name, root):
    try:
        return POWER_SOURCES.get(name).unavailable_reason(root)
    except Exception as exc:  # a broken plug-in or an unexpected sysfs surprise
        return "probe raised {}: {}".format(type(exc).__name__, exc)


def create(name, root="/", **kwargs):
    """An instance of the source ``name`` (UnknownNameError lists the known names)."""
    return POWER_SOURCES.get(name)(root=root, **kwargs)


get_power_source = create  # the name profiling.energy uses


def detect(root="/"):
    """The first available source under ``root``, as an instance ("none" at worst).

    The instance's ``skipped`` attribute lists (name, reason) for each source passed over.
    """
    skipped = []
    for name in detect_order():
        reason = _probe_one(name, root)
        if reason is None:
            try:
                source = create(name, root=root)
            except Exception as exc:  # it vanished between probe and open
                skipped.append((name, "open failed: {}".format(exc)))
                continue
            source.skipped = skipped
            return source
        skipped.append((name, reason))
    raise RuntimeError("no power source available, not even 'none'")  # pragma: no cover
