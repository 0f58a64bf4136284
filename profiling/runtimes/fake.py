"""FakeRuntime: a test double that behaves like a runtime without running a model.

It sleeps a fixed time per inference and returns zeros. Faults are injected for tests through the
environment variable ADVISOR_FAKE_FAULTS, e.g. ``"crash:sparse50,hang:fp16"``: a model whose path
contains the named setting makes the process abort (crash) or sleep forever (hang) on load.
"""
import os
import time

import numpy as np


class FakeRuntime(object):
    name = "fake"

    def __init__(self, latency_ms=1.0):
        self.latency_ms = float(os.environ.get("ADVISOR_FAKE_LATENCY_MS", latency_ms))

    def available(self):
        return True, ""

    def versions(self):
        return {"fake": "1", "numpy": np.__version__}

    def load(self, model_path, threads=1):
        for fault in filter(None, os.environ.get("ADVISOR_FAKE_FAULTS", "").split(",")):
            kind, _, needle = fault.partition(":")
            if needle and needle in os.path.basename(str(model_path)):
                if kind == "crash":
                    os.abort()
                if kind == "hang":
                    while True:
                        time.sleep(3600)
        return FakeSession(self.latency_ms)


class FakeSession(object):
    def __init__(self, latency_ms):
        self.latency_ms = latency_ms

    def input_names(self):
        return []

    def providers(self):
        return ["fake"]

    def run(self, feed):
        time.sleep(self.latency_ms / 1000.0)
        return [np.zeros((1, 10), dtype=np.float32)]
