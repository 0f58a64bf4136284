"""Measure one (model, setting) item in this process and return a profile record.

Runs in a child process of the sweep (``python -m profiling measure-one``) so that a crash or hang
of the runtime costs one record, not the sweep. Python 3.6 syntax; numpy + onnxruntime only.
"""
import datetime
import os
import platform
import socket
import zlib

import numpy as np

from profiling import __version__, memory
from profiling import accuracy as acc
from profiling import energy as energy_mod
from profiling.inputs import load_inputs, session_input_specs
from profiling.measure import Protocol, measure, measure_interleaved, read_cpu_times, steal_pct
from profiling.records import SCHEMA_VERSION, record_key
from profiling.runtimes import get_runtime


def base_record(item, plan, status="ok", error=None):
    """The identity part of a record, shared by ok and failed rows."""
    runtime = plan.get("runtime", "onnxruntime-cpu")
    threads = int(plan.get("threads", 1))
    device = plan.get("device") or {"name": "host"}
    return {
        "schema_version": SCHEMA_VERSION,
        "record_id": record_key(item["model"]["sha256"], item["setting"]["name"], device["name"], runtime, threads),
        "created_utc": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "status": status, "error": error, "model": item["model"], "setting": item["setting"],
        "device": dict(device, hostname=socket.gethostname(), machine=platform.machine(),
                       cpu_count=os.cpu_count()),
        "runtime": {"name": runtime, "threads": threads},
        "software": {"profiling": __version__, "python": platform.python_version()},
        "protocol": Protocol.from_dict(plan.get("protocol", {})).to_dict(),
    }


def measure_item(item, plan):
    """Load, time, power-sample and check accuracy of one variant; return an ok record."""
    rec = base_record(item, plan)
    runtime = get_runtime(rec["runtime"]["name"])
    ok, why = runtime.available()
    if not ok:
        raise RuntimeError(why)
    rec["software"].update(runtime.versions())
    threads = rec["runtime"]["threads"]
    memory.reset_peak()
    rss0 = memory.rss_bytes()
    session = runtime.load(item["model_path"], threads=threads)
    rec["runtime"]["providers"] = session.providers()
    feeds, labels, source = _inputs(session, item)
    session.run(feeds[0])  # first run allocates the arena: part of the session's memory
    rec["memory"] = {"peak_rss_bytes": memory.rss_bytes("VmHWM"), "rss_before_load_bytes": rss0,
                     "session_rss_delta_bytes": _delta(memory.rss_bytes(), rss0)}
    baseline = runtime.load(item["baseline_path"], threads=threads) if item.get("baseline_path") else None
    _time(rec, session, baseline, feeds[0], item, plan)
    rec["energy"] = energy_mod.energy_record(lambda: session.run(feeds[0]), rec["latency"], plan)
    rec["size"] = file_sizes(item["model_path"])
    rec["accuracy"] = _accuracy(session, baseline, feeds, labels, source)
    if item.get("node_profile") or plan.get("node_profile"):
        _node_profile(rec, runtime, item, feeds[0], threads)
    return rec


def _node_profile(rec, runtime, item, feed, threads):
    """Per-node kernel times (for layer-level predictors), after the timing and in a session of their
    own; a runtime without a node profiler, or a profiler that fails, costs the field, not the record."""
    profile = getattr(runtime, "node_profile", None)
    if profile is None:
        return
    try:
        rec["node_profile"] = profile(item["model_path"], feed, threads=threads)
    except Exception as exc:  # noqa: BLE001 - the record stands without it
        rec["node_profile"] = {"source": "none", "nodes": [], "error": "{}: {}".format(type(exc).__name__, exc)[:300]}


def _delta(after, before):
    return after - before if after is not None and before is not None else None


def _time(rec, session, baseline, feed, item, plan):
    """Time the variant (interleaved with the baseline when there is one); re-measure while
    hypervisor steal exceeds ``max_steal_pct`` (up to ``max_attempts``), keeping the quietest try."""
    protocol = Protocol.from_dict(plan.get("protocol", {}))
    limit = float(plan.get("max_steal_pct", 10.0))
    best, steals = None, []
    for _ in range(int(plan.get("max_attempts", 3))):
        cpu0 = read_cpu_times()
        if baseline is not None and protocol.interleaved:
            base_lat, lat, ratio = measure_interleaved(lambda: baseline.run(feed), lambda: session.run(feed),
                                                       protocol)
            lat["stopping"] = ratio["stopping"]
            ratio = dict(ratio, baseline_setting=item.get("baseline_setting", "none"),
                         baseline_samples_ms=base_lat["samples_ms"], baseline_median_ms=base_lat["median_ms"])
        else:
            (lat, _), ratio = measure(lambda: session.run(feed), protocol), None
        steal = steal_pct(cpu0, read_cpu_times())
        steals.append(steal)
        if best is None or (steal or 0.0) < (best[0] or 0.0):
            best = (steal, lat, ratio)
        if steal is None or steal <= limit:
            break
    rec["host"] = {"steal_pct": best[0], "steal_pct_attempts": steals, "max_steal_pct": limit,
                   "loadavg": list(os.getloadavg())}
    rec["latency"] = best[1]
    if best[2] is not None:
        rec["ratio"] = best[2]


def _inputs(session, item):
    specs = session_input_specs(session.session) if hasattr(session, "session") else {}
    if not specs:
        return [{}], None, "none"
    return load_inputs(specs, item.get("data_path"), n_samples=int(item.get("n_samples", 8)),
                       int_high=int(item.get("int_high", 2)))


def file_sizes(path):
    """Raw file bytes and deflate-compressed bytes (sparse-aware storage)."""
    with open(str(path), "rb") as fh:
        raw = fh.read()
    return {"size_bytes": len(raw), "compressed_size_bytes": len(zlib.compress(raw, 6))}


def _accuracy(session, baseline, feeds, labels, source):
    """Top-1/top-5 against labels, else agreement with the baseline's outputs (cosine, top-1)."""
    if not feeds or not feeds[0]:
        return {"source": "none", "inputs": source}
    out = np.concatenate([np.asarray(session.run(f)[0]) for f in feeds], axis=0)
    result = {"inputs": source, "n_samples": len(feeds)}
    ref = np.concatenate([np.asarray(baseline.run(f)[0]) for f in feeds], axis=0) if baseline else None
    if labels is not None and out.ndim == 2:
        result.update(source="labels", top1=acc.topk_accuracy(out, labels, 1), top5=acc.topk_accuracy(out, labels, 5))
        if ref is not None:
            result["baseline_top1"] = acc.topk_accuracy(ref, labels, 1)
            result["accuracy_drop_pct"] = 100.0 * (result["baseline_top1"] - result["top1"])
    elif ref is not None:
        result["source"] = "baseline-agreement"
    else:
        result["source"] = "none"
    if ref is not None:
        result.update(acc.fidelity(ref, out))
    return result
