"""Intel (and recent AMD) RAPL energy counters through the Linux powercap sysfs interface.

    /sys/class/powercap/intel-rapl:<i>/name                 "package-<i>" (or "psys", platform)
                                      /energy_uj            cumulative uJ, wraps to 0
                                      /max_energy_range_uj  the wrap point
                                      /intel-rapl:<i>:<j>/  subdomains: "core", "uncore", "dram"

The source sums the *package* domains (subdomains are parts of a package; psys, where present,
covers the whole platform and would double-count). Each package counter wraps on its own, so the
sampler uses ``read_energy_counters_uj``. Since Linux 5.10 (CVE-2020-8694) ``energy_uj`` is
readable by root only; the source is then unavailable and says so. Python 3.6; standard library.
"""
import glob
import os
import re

from profiling.power import base

POWERCAP = "sys/class/powercap"
_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")


class RaplDomain(object):
    """One powercap zone: name, folder, wrap range (uJ)."""

    def __init__(self, name, folder, max_energy_range_uj):
        self.name = name
        self.folder = folder
        self.max_energy_range_uj = max_energy_range_uj
        self.energy_path = os.path.join(folder, "energy_uj")
        self._energy = base.SysfsFile(self.energy_path)

    def read_energy_uj(self):
        """The counter now (int uJ); OSError or ValueError if unreadable."""
        return int(self._energy.read_text())

    def close(self):
        self._energy.close()


def _zone_name(folder):
    try:
        return base.read_text(os.path.join(folder, "name"))
    except OSError:
        return None


def discover_packages(root="/"):
    """Package domains under ``root`` (list of RaplDomain, by zone number); wrap range may be None."""
    folders = [f for f in glob.glob(os.path.join(base.under_root(root, POWERCAP), "intel-rapl:*"))
               if _TOP_ZONE.match(os.path.basename(f))]
    folders.sort(key=lambda f: int(os.path.basename(f).split(":")[1]))
    found = []
    for folder in folders:
        name = _zone_name(folder)
        if name and name.startswith("package"):
            max_range = base.read_number(os.path.join(folder, "max_energy_range_uj"))
            found.append(RaplDomain(name, folder, int(max_range) if max_range else None))
    return found


def subdomains(domain):
    """Names of a package's subdomains (["core", "uncore", "dram", ...]); informational only."""
    names = [_zone_name(f) for f in sorted(glob.glob(os.path.join(domain.folder, "intel-rapl:*:*")))]
    return [n for n in names if n]


def _probe(root):
    """(domains, None) if usable, else (domains, reason)."""
    if not os.path.isdir(base.under_root(root, POWERCAP)):
        return [], ("no {} under {}: no RAPL (needs the intel_rapl/powercap driver; most VMs "
                    "do not expose it)".format(POWERCAP, root))
    domains = discover_packages(root)
    if not domains:
        return [], "no RAPL package domain (intel-rapl:N named package-N) under {}".format(root)
    for domain in domains:
        if not domain.max_energy_range_uj:
            return domains, "{} has no readable max_energy_range_uj".format(domain.folder)
        try:
            domain.read_energy_uj()
        except OSError as exc:
            return domains, ("{} is not readable ({}); since Linux 5.10 only root may read RAPL "
                             "counters: run as root or grant read access".format(
                                 domain.energy_path, exc.strerror or exc))
        except ValueError:
            return domains, "{} does not hold an integer".format(domain.energy_path)
    return domains, None


class RaplSource(base.PowerSource):
    """Sum of RAPL package energy counters (an energy source, uJ)."""

    name = "rapl"
    kind = "energy"

    def __init__(self, root="/"):
        super(RaplSource, self).__init__(root)
        self.domains, reason = _probe(root)
        if reason is not None:
            self.close()
            raise base.PowerSourceError(reason)
        ranges = self.energy_ranges_uj()
        # One summed counter only wraps cleanly with one package; otherwise use the tuple API.
        self.max_energy_range_uj = ranges[0] if len(ranges) == 1 else None

    @classmethod
    def unavailable_reason(cls, root="/"):
        domains, reason = _probe(root)
        for domain in domains:
            domain.close()
        return reason

    def read_energy_counters_uj(self):
        return tuple(d.read_energy_uj() for d in self.domains)

    def close(self):
        for domain in self.domains:
            domain.close()

    def energy_ranges_uj(self):
        return tuple(d.max_energy_range_uj for d in self.domains)

    def read_energy_uj(self):
        return sum(self.read_energy_counters_uj())

    def describe(self):
        info = super(RaplSource, self).describe()
        names = [d.name for d in self.domains]
        info["rails"] = {"names": names, "total": None, "total_rule": "sum-of-packages",
                         "subdomains": dict((d.name, subdomains(d)) for d in self.domains)}
        info["max_energy_range_uj"] = dict((d.name, d.max_energy_range_uj) for d in self.domains)
        return info
