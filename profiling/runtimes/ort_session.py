"""Thin helpers around onnxruntime sessions (Python 3.6 syntax; numpy + onnxruntime only)."""
import numpy as np


def make_session(model, threads=1, providers=None):
    """An InferenceSession for ``model`` (path or serialized bytes) with pinned thread counts.

    ``threads`` sets intra-op threads; inter-op is 1 and execution sequential so timings repeat.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
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
