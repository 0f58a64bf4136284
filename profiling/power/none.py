"""The source of last resort: always available, measures nothing. Python 3.6; standard library."""
from profiling.power import base


class NoPowerSource(base.PowerSource):
    """No sensor on this host; records say so (use ``profiling.power.estimate`` for a model)."""

    name = "none"
    kind = "none"

    @classmethod
    def unavailable_reason(cls, root="/"):
        return None

    def read_power_mw(self):
        return None

    def describe(self):
        info = super(NoPowerSource, self).describe()
        info["rails"] = {"names": [], "total": None, "total_rule": "none"}
        return info
