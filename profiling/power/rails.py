"""Which Jetson rail is the module total, shared by the sysfs and tegrastats sources.

Rule (documented in README.md):
1. a rail named exactly one of ``TOTAL_RAIL_NAMES`` (VDD_IN on TX2/Xavier NX/Orin, POM_5V_IN on
   Nano) is the module input, i.e. the total;
2. otherwise the first rail whose name ends in ``_IN`` (the Jetson convention for a module input);
3. otherwise there is no total rail (AGX Xavier, AGX Orin): the total is the *sum of all rails*,
   an approximation that misses carrier-board losses, and ``describe()`` says so.
Python 3.6 syntax; standard library only.
"""

TOTAL_RAIL_NAMES = ("VDD_IN", "POM_5V_IN")
RULE_RAIL = "rail"
RULE_SUM = "sum-of-rails"


def total_rail(names):
    """The name in ``names`` (iterable of str) that is the module total, or None."""
    names = list(names)
    for name in names:
        if name.upper() in TOTAL_RAIL_NAMES:
            return name
    for name in names:
        if name.upper().endswith("_IN"):
            return name
    return None


def total_mw(rails_mw, total_name):
    """Total power (mW) from a {rail: mW or None} dict: the total rail, or the sum of all rails.

    Returns None if the total rail has no valid reading or, when summing, if any rail has none
    (a partial sum would silently read low).
    """
    if total_name is not None:
        return rails_mw.get(total_name)
    values = list(rails_mw.values())
    if not values or any(v is None for v in values):
        return None
    return float(sum(values))


def describe_rails(names, total_name):
    """The ``rails`` part of ``describe()``: names, the total, and how the total is formed."""
    return {
        "names": list(names),
        "total": total_name,
        "total_rule": RULE_RAIL if total_name is not None else RULE_SUM,
    }
