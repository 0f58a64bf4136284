"""Jetson power from ``tegrastats``: line parser, recorded-log replay, and a live reader.

tegrastats prints each rail as ``NAME current/average``: plain milliwatts on JetPack 4
(``VDD_IN 2528/2528``, ``POM_5V_IN 1985/1985``) and with units on JetPack 5+
(``VDD_IN 4770mW/4770mW``). The average runs since tegrastats started. The total rail follows
``profiling.power.rails``. Python 3.6 syntax; standard library + numpy.
"""
import os
import re
import shutil
import subprocess
import threading
import time

import numpy as np

from profiling.power import base, integrate, rails

_RAIL = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_]*) (\d+(?:\.\d+)?)(?:mW)?/(\d+(?:\.\d+)?)(?:mW)?(?=\s|$)")
BINARY_PATHS = ("usr/bin/tegrastats", "usr/sbin/tegrastats", "home/nvidia/tegrastats")


def parse_tegrastats_line(line, average=False):
    """{rail name: mW (float)} from one tegrastats line; the running average if ``average``.

    Memory fields (``RAM 2262/7855MB``) share the ``a/b`` shape but carry a unit other than mW
    and are not rails. A line without rails gives {}.
    """
    return dict((m.group(1), float(m.group(3) if average else m.group(2)))
                for m in _RAIL.finditer(line))


class TegrastatsLog(object):
    """A recorded tegrastats log (``tegrastats --interval MS --logfile FILE``) replayed as a trace.

    Line k (counting non-blank lines) is taken at ``k * interval_ms / 1000`` seconds. Lines
    without rails keep their time slot but give no sample.
    """

    def __init__(self, path, interval_ms=1000):
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive, got {}".format(interval_ms))
        self.path = path
        self.interval_ms = interval_ms
        self.samples = []  # (time_s, {rail: mW})
        with open(path, "r") as f:
            lines = [line for line in f if line.strip()]
        for k, line in enumerate(lines):
            parsed = parse_tegrastats_line(line)
            if parsed:
                self.samples.append((k * interval_ms / 1000.0, parsed))
        names = []
        for _, parsed in self.samples:
            names.extend(n for n in parsed if n not in names)
        self.rail_names = names
        self.total_name = rails.total_rail(names)

    def trace(self, rail=None):
        """(times_s, power_mw) numpy arrays for ``rail``, or for the module total if None."""
        times, values = [], []
        for t, parsed in self.samples:
            value = parsed.get(rail) if rail else rails.total_mw(parsed, self.total_name)
            if value is not None:
                times.append(t)
                values.append(value)
        return np.array(times, dtype=float), np.array(values, dtype=float)

    def energy_mj(self, start_s=None, end_s=None, rail=None):
        """Energy (mJ) over [start_s, end_s] (default: the whole log) by the trapezoidal rule."""
        t, p = self.trace(rail)
        if t.size == 0:
            raise ValueError("{} holds no power readings".format(self.path))
        start_s = t[0] if start_s is None else start_s
        end_s = t[-1] if end_s is None else end_s
        return integrate.integrate_mj(t, p, start_s, end_s)

    def describe(self):
        return {"path": self.path, "interval_ms": self.interval_ms, "n_samples": len(self.samples),
                "rails": rails.describe_rails(self.rail_names, self.total_name)}


def find_binary(root="/"):
    """Path of an executable tegrastats under ``root`` (or on PATH when root is "/"), or None."""
    for rel in BINARY_PATHS:
        path = base.under_root(root, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    if os.path.abspath(root) == "/":
        return shutil.which("tegrastats")
    return None


class TegrastatsSource(base.PowerSource):
    """Live module power from a ``tegrastats --interval <ms>`` subprocess (a power source, mW).

    A reader thread parses each line as it arrives; ``read_power_mw`` returns the latest total,
    so sampling faster than ``interval_ms`` repeats values. ``command`` overrides the process
    (tests use a script that prints a recorded log). The process starts on the first read.
    """

    name = "tegrastats"
    kind = "power"

    def __init__(self, root="/", interval_ms=10, command=None, stale_after_s=None):
        super(TegrastatsSource, self).__init__(root)
        if command is None:
            binary = find_binary(root)
            if binary is None:
                raise base.PowerSourceError(self.unavailable_reason(root))
            # tegrastats block-buffers a pipe; stdbuf (coreutils) makes it flush every line.
            stdbuf = shutil.which("stdbuf")
            command = ([stdbuf, "-oL"] if stdbuf else []) + [binary, "--interval", str(interval_ms)]
        self.command = list(command)
        self.interval_ms = interval_ms
        # A reading older than this (s) means tegrastats stalled or died: report None, not it.
        self.stale_after_s = stale_after_s or max(2.0, 3 * interval_ms / 1000.0)
        self._proc = None
        self._thread = None
        self._lock = threading.Lock()
        self._latest = None  # (perf_counter s, {rail: mW})
        self.n_lines = 0

    @classmethod
    def unavailable_reason(cls, root="/"):
        if find_binary(root) is None:
            return "no tegrastats executable under {} ({})".format(root, ", ".join(BINARY_PATHS))
        return None

    def start(self):
        """Start the subprocess and its reader thread (idempotent); returns self."""
        if self._proc is None:
            self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, universal_newlines=True,
                                          bufsize=1)
            self._thread = threading.Thread(target=self._read_lines, name="tegrastats-reader")
            self._thread.daemon = True
            self._thread.start()
        return self

    def _read_lines(self):
        for line in self._proc.stdout:
            parsed = parse_tegrastats_line(line)
            if parsed:
                with self._lock:
                    self._latest = (time.perf_counter(), parsed)
                    self.n_lines += 1

    def read_rails_mw(self):
        """The latest line's rails {name: mW}, or {} before the first line or once stale."""
        self.start()
        with self._lock:
            latest = self._latest
        if latest is None or time.perf_counter() - latest[0] > self.stale_after_s:
            return {}
        return dict(latest[1])

    def read_power_mw(self):
        parsed = self.read_rails_mw()
        return rails.total_mw(parsed, rails.total_rail(parsed)) if parsed else None

    def describe(self):
        info = super(TegrastatsSource, self).describe()
        with self._lock:
            names = list(self._latest[1]) if self._latest else []
        info["rails"] = rails.describe_rails(names, rails.total_rail(names))
        info.update({"command": self.command, "interval_ms": self.interval_ms})
        return info

    def close(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        proc.stdout.close()
