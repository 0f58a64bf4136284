"""Thin helpers around onnxruntime sessions (Python 3.6 syntax; numpy + onnxruntime only)."""
import numpy as np


def make_session(model, threads=1, providers=None, opts=None):
    """An InferenceSession for ``model`` (path or serialized bytes) with pinned thread counts.

    ``threads`` sets intra-op threads; inter-op is 1 and execution sequential so timings repeat.
    ``opts``: session options to start from (e.g. with profiling on); the thread settings are applied.
    """
    import onnxruntime as ort

    opts = opts or ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=opts, providers=providers or ["CPUExecutionProvider"])


def run_samples(session, feeds):
    """Run one feed dict at a time; return the outputs stacked per output: list of [n, ...] arrays."""
    per_output = None
    for feed in feeds:
        outs = session.run(None, feed)
        if per_output is None:
            per_output = [[] for _ in outs]
        for acc, o in zip(per_output, outs):
            acc.append(np.asarray(o))
    return [np.concatenate(acc, axis=0) if acc[0].ndim else np.stack(acc) for acc in (per_output or [])]


def node_profile(model, feed, threads=1, providers=None, warmup=5, min_runs=15, budget_s=0.25, max_runs=400):
    """Per-node kernel times from onnxruntime's own profiler, in a session of its own (profiling slows
    every node a little, so the latency of a record is never timed in this session).

    Runs ``warmup`` inferences, then at least ``min_runs`` and until ``budget_s`` has passed (at most
    ``max_runs``). Returns ``{"source": "onnxruntime-profiler", "runs": n, "run_us": median whole-run
    time, "nodes": [[node name, op, median kernel us], ...]}`` over the runs after the warm-up; node
    names are those of the graph onnxruntime built (after its fusions). ``feed`` None: seeded synthetic
    inputs (``profiling.inputs.load_inputs``).
    """
    import shutil
    import tempfile
    import time

    tmp = tempfile.mkdtemp(prefix="node-profile-")
    try:
        session = _profiled_session(model, tmp + "/profile", threads, providers)
        feed = feed if feed is not None else _synthetic_feed(session)
        for _ in range(warmup):
            session.run(None, feed)
        t0, n = time.perf_counter(), 0
        while n < min_runs or (time.perf_counter() - t0 < budget_s and n < max_runs):
            session.run(None, feed)
            n += 1
        return _ended_profile(session, warmup, n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def node_profile_pair(base_model, variant_model, feed=None, threads=1, providers=None, warmup=5, runs=30):
    """Per-node kernel times of an original and its variant profiled in one process, alternately:
    ``(base_profile, variant_profile)``, each as ``node_profile`` returns it (plus ``"paired": True``).

    The interleaved ratio labels alternate the two graphs, so each runs with the other's data in the
    caches; a graph profiled alone keeps its own weights warm. Profiled alternately, base and variant
    run as they were timed, and the original's profile is a yardstick for the variant's from the same
    process. ``runs`` alternating pairs after ``warmup`` pairs (the order flips every pair); ``feed``
    None: seeded synthetic inputs for the original.
    """
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="node-profile-pair-")
    try:
        sessions = [_profiled_session(base_model, tmp + "/base", threads, providers),
                    _profiled_session(variant_model, tmp + "/variant", threads, providers)]
        feed = feed if feed is not None else _synthetic_feed(sessions[0])
        for _ in range(warmup):
            for s in sessions:
                s.run(None, feed)
        for i in range(runs):
            for s in (sessions if i % 2 == 0 else sessions[::-1]):
                s.run(None, feed)
        out = [_ended_profile(s, warmup, runs) for s in sessions]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for prof in out:
        prof["paired"] = True
    return out[0], out[1]


def _profiled_session(model, prefix, threads, providers):
    """A session (``make_session``) with onnxruntime's profiler on, writing under ``prefix``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = prefix
    return make_session(model, threads=threads, providers=providers, opts=opts)


def _synthetic_feed(session):
    """One seeded synthetic input dict for ``session`` (``profiling.inputs.load_inputs``)."""
    from profiling.inputs import load_inputs, session_input_specs
    return load_inputs(session_input_specs(session), n_samples=1)[0][0]


def _ended_profile(session, warmup, runs):
    """End ``session``'s profiling and summarize its events (``summarize_profile``)."""
    import json

    with open(session.end_profiling()) as fh:
        return summarize_profile(json.load(fh), warmup, runs)


def summarize_profile(events, warmup, runs):
    """The ``node_profile`` dict of onnxruntime profiler ``events`` (see ``node_profile``)."""
    durations, ops, order, run_us = {}, {}, [], []
    for e in events:
        name = e.get("name", "")
        if e.get("cat") == "Node" and name.endswith("_kernel_time"):
            key = name[:-len("_kernel_time")]
            if key not in durations:
                durations[key] = []
                ops[key] = (e.get("args") or {}).get("op_name", "")
                order.append(key)
            durations[key].append(float(e.get("dur", 0)))
        elif e.get("cat") == "Session" and name == "model_run":
            run_us.append(float(e.get("dur", 0)))
    nodes = [[k, ops[k], float(np.median(durations[k][warmup:] or durations[k]))] for k in order]
    return {"source": "onnxruntime-profiler", "runs": int(runs),
            "run_us": float(np.median(run_us[warmup:] or run_us)) if run_us else None, "nodes": nodes}
