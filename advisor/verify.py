"""--apply and --verify: write the recommended model, and measure it against the prediction.

Verification runs only when the target is this machine (device ``host``): the baseline and the
applied model alternate in one process (the interleaved protocol), so the measured ratio holds even
on a noisy host; the measured latency is compared with the predicted 90% interval.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from advisor.errors import AdvisorError


def apply_setting(model_path, setting: str, out, data=None, input_shapes=None) -> dict:
    """Compress ``model_path`` with ``setting`` and write it atomically to ``out``."""
    from advisor import api

    report = api.compress(model_path, setting, out, data=data, check_fidelity=False, input_shapes=input_shapes)
    return {"path": str(out), "setting": setting, "size_bytes": report.size_bytes_after}


def paired_runs(base_path, variant_path, threads: int = 1, input_shapes=None) -> tuple:
    """Two callables without arguments, one inference each of the original and of the variant on this
    host (onnxruntime CPU sessions, ``threads`` intra-op threads), both on the same synthetic input of the
    original's: what ``profiling.measure.measure_interleaved`` alternates."""
    from advisor.compression import data as cdata
    from advisor.modelio import load_model
    from profiling.runtimes.ort_session import make_session

    feed = next(cdata.synthetic(load_model(base_path, input_shapes=input_shapes), n_samples=1).feeds())
    base, var = make_session(str(base_path), threads=threads), make_session(str(variant_path), threads=threads)
    return (lambda: base.run(None, feed)), (lambda: var.run(None, feed))


def verify(rec, applied_path, threads: int = 1, input_shapes=None) -> dict:
    """Measured vs predicted latency of the applied model on this host."""
    from profiling.measure import Protocol, measure_interleaved

    if rec.device != "host":
        raise AdvisorError(f"--verify measures on this machine, but the target is '{rec.device}'. Profile on the "
                           "device instead: python -m profiling run PLAN.json (see profiling/README.md).")
    b, v, r = measure_interleaved(*paired_runs(rec.model["path"], applied_path, threads, input_shapes),
                                  Protocol(warmup_runs=5, min_runs=20, max_runs=400, time_budget_s=10))
    cand = next(c for c in rec.candidates if c.setting == rec.setting)
    base = next((c for c in rec.candidates if c.setting == "none"), None)
    lo, hi = cand.latency_ms_interval or (None, None)
    measured = v["median_ms"]
    return {"setting": rec.setting, "predicted_latency_ms": cand.latency_ms, "predicted_interval_ms": [lo, hi],
            "measured_latency_ms": measured, "measured_baseline_ms": b["median_ms"],
            "predicted_ratio": cand.latency_ms / base.latency_ms if base and base.latency_ms else None,
            "measured_ratio": r["ratio_median"], "measured_ratio_ci95": r["ratio_ci95"],
            "within_interval": bool(lo is not None and lo <= measured <= hi), "n_pairs": r["n_pairs"]}


def apply_and_verify(rec, out=None, do_verify: bool = False, data=None, input_shapes=None):
    """Return ``rec`` with ``applied`` and ``verification`` filled as asked (``input_shapes`` as given
    to ``recommend``)."""
    if rec.setting is None:
        return rec
    applied = apply_setting(rec.model["path"], rec.setting, out, data, input_shapes) if out else None
    verification = None
    if do_verify:
        if rec.setting == "none":
            target = rec.model["path"]
        elif applied:
            target = applied["path"]
        else:
            raise AdvisorError("--verify needs --apply OUT.onnx to know where to write the model it measures.")
        verification = verify(rec, target, input_shapes=input_shapes)
    return replace(rec, applied=applied, verification=verification)


def plot(rec, out: str | Path) -> str:
    """A Pareto chart (latency vs size, feasible/Pareto marked) as PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from advisor.modelio import write_bytes_atomic

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in rec.candidates:
        if not c.applicable or c.latency_ms is None or c.size_bytes is None:
            continue
        color = "tab:green" if c.feasible else "tab:gray"
        ax.scatter(c.size_bytes / 1e6, c.latency_ms, s=80 if c.pareto else 30, color=color,
                   edgecolors="black" if c.pareto else "none", zorder=3)
        if c.latency_ms_interval:
            ax.vlines(c.size_bytes / 1e6, *c.latency_ms_interval, color=color, alpha=0.4)
        ax.annotate(c.setting + (" *" if c.setting == rec.setting else ""), (c.size_bytes / 1e6, c.latency_ms),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    if rec.constraints.max_latency_ms:
        ax.axhline(rec.constraints.max_latency_ms, ls="--", color="tab:red", lw=1)
    if rec.constraints.max_size_bytes:
        ax.axvline(rec.constraints.max_size_bytes / 1e6, ls="--", color="tab:red", lw=1)
    ax.set_xlabel("size (MB)")
    ax.set_ylabel("predicted latency (ms), 90% interval")
    ax.set_title(f"{rec.model.get('name', '')} on {rec.device}/{rec.runtime}: green feasible, ringed Pareto")
    import io
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(Path(out), buf.getvalue())
    return str(out)
