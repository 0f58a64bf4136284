"""Sweeps: compress each model with each setting, then measure every variant with profiling/.

Variants are cached under a work folder keyed by model hash and setting, so a resumed sweep does
not recompress. Settings that do not apply become ``skipped`` records with the reason; settings
that fail to compress become ``failed`` records. Measurement runs in child processes
(profiling.sweep), one job per device at a time.
"""
from __future__ import annotations

import errno
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from advisor.errors import AdvisorError, OutputError

# Errors of the disk rather than of a variant: they stop the sweep instead of becoming records.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


@dataclass(frozen=True)
class SweepOptions:
    """How to measure: device/runtime labels, threads, protocol, and per-item timeout (s)."""

    device: str = "host"
    runtime: str = "onnxruntime-cpu"
    threads: int = 1
    warmup_runs: int = 5
    min_runs: int = 10
    max_runs: int = 200
    target_rel_ci: float = 0.05
    time_budget_s: float = 10.0
    timeout_s: float = 300.0
    interleaved: bool = True
    power: str = "auto"
    wait_for_lock: bool = False
    work_dir: str | None = None
    compress_jobs: int = 1
    accuracy_samples: int = 8
    node_profile: bool = False  # per-node kernel times (onnxruntime's profiler) for layer-time predictors

    def __post_init__(self):
        if self.threads < 1:
            raise AdvisorError(f"--threads must be at least 1, got {self.threads}.")
        if not 2 <= self.min_runs <= self.max_runs:
            raise AdvisorError(f"Need 2 <= --min-runs <= --max-runs, got {self.min_runs} and {self.max_runs}.")
        if not 0 < self.target_rel_ci < 1:
            raise AdvisorError(f"--target-ci must be between 0% and 100%, got {self.target_rel_ci:.0%}.")

    def plan_header(self) -> dict:
        return {"device": {"name": self.device}, "runtime": self.runtime, "threads": self.threads,
                "power": self.power, "accuracy_samples": self.accuracy_samples, "timeout_s": self.timeout_s, "wait_for_lock": self.wait_for_lock,
                "node_profile": self.node_profile,
                "protocol": {"warmup_runs": self.warmup_runs, "min_runs": self.min_runs, "max_runs": self.max_runs,
                             "target_rel_ci": self.target_rel_ci, "time_budget_s": self.time_budget_s,
                             "interleaved": self.interleaved}}


def resolve_settings(spec: str) -> list[str]:
    """'all' or a comma list -> validated setting names ('none' always measured first)."""
    from advisor.compression import get_setting, setting_names

    names = setting_names() if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise AdvisorError("--settings is empty. Give 'all' or a comma list such as 'none,fp16'.")
    for n in names:
        get_setting(n)
    return ["none"] + [n for n in names if n != "none"]


def model_identity(path: Path, lm) -> dict:
    """name, sha256, family and a digest of the feature vector (what the record says of the model)."""
    from advisor.api import file_sha256
    from advisor.features import FEATURE_SCHEMA_VERSION, extract_features, feature_vector

    meta = {p.key: p.value for p in lm.model.metadata_props}
    features = extract_features(lm)
    vec = json.dumps([round(v, 9) for v in feature_vector(features)])
    return {"name": meta.get("advisor.name", path.stem), "family": meta.get("advisor.family", "unknown"),
            "kind": meta.get("advisor.kind", "user"), "sha256": file_sha256(path), "path": str(path),
            "features_digest": hashlib.sha256(vec.encode()).hexdigest()[:16],
            "feature_schema_version": FEATURE_SCHEMA_VERSION, "features": dict(features.values)}


def build_plan(models: list[Path], settings: list[str], opts: SweepOptions, out: Path,
               data: Path | None = None, progress=None, input_shapes: dict | None = None) -> dict:
    """Compress what is not yet measured and return the plan for profiling.sweep.run_plan.

    With ``opts.compress_jobs > 1`` models are compressed in that many worker processes (nothing is
    being timed yet, so this does not disturb measurements). ``input_shapes`` ({input name: dims})
    fixes dynamic input dims of every model (each must have the named inputs).
    """
    from profiling.sweep import done_keys

    plan = opts.plan_header()
    work = Path(opts.work_dir) if opts.work_dir else out.with_name(out.name + ".variants")
    _ensure_dir(work)
    done = done_keys(out)
    jobs = [(Path(p), settings, plan, work, data, done, input_shapes) for p in models]
    plan["items"] = []
    for items in _map(_model_items, jobs, opts.compress_jobs):
        if progress and items:
            progress("compress", items[0], None)
        plan["items"].extend(items)
    return plan


def _map(fn, jobs: list, workers: int):
    if workers <= 1 or len(jobs) <= 1:
        return map(fn, jobs)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    return _drain(pool, pool.map(fn, jobs, chunksize=1))


def _drain(pool, results):
    with pool:
        yield from results


def _model_items(job: tuple) -> list[dict]:
    """Items for one model: identity, data file, and each setting's variant (compressed if needed)."""
    from advisor.compression.data import embedding_rows
    from advisor.modelio import load_model
    from profiling.sweep import item_key

    path, settings, plan, work, data, done, input_shapes = job
    lm = load_model(path, input_shapes=input_shapes, require_static=True)
    ident = model_identity(path, lm)
    baseline = path.resolve()
    if input_shapes:
        baseline, ident = _fixed_baseline(lm, ident, input_shapes, work)
    sibling = path.with_suffix(".npz")
    data = data or (sibling if sibling.is_file() else None)
    structure = _structures(lm, settings)
    items = []
    for name in settings:
        item = {"model": ident, "setting": {"name": name}, "baseline_path": str(baseline),
                "data_path": str(data) if data else None, "int_high": embedding_rows(lm),
                "n_samples": plan.get("accuracy_samples", 8)}
        item = item if item_key(item, plan) in done else _variant_item(item, lm, name, work, data, plan)
        if structure.get(name):
            item["setting"]["structure"] = structure[name]
        items.append(item)
    return items


def _structures(lm, settings: list[str]) -> dict:
    """Setting -> what it does to this graph (advisor.predictors.structure), for the predictors; a model
    whose structure replay fails is still profiled, its records just carry no structure."""
    from advisor.predictors.structure import structure_all

    try:
        return {k: v for k, v in structure_all(lm, settings).items() if v}
    except Exception as exc:  # the replay is an aid to prediction, never a reason to lose a measurement
        print(f"note: no structure features for {lm.path}: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
        return {}


def _fixed_baseline(lm, ident: dict, input_shapes: dict, work: Path) -> tuple[Path, dict]:
    """Write the model with its input dims fixed into ``work`` (the device measures what the features
    describe); its hash becomes the record's model identity, so each shape is its own measurement."""
    from advisor.api import file_sha256
    from advisor.modelio import save_model

    shapes = {k: list(v) for k, v in sorted(input_shapes.items())}
    tag = hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:8]
    target = work / f"{ident['sha256'][:16]}-shape{tag}.onnx"
    if not target.exists():
        save_model(lm.model, target)
    return target, dict(ident, sha256=file_sha256(target), source_sha256=ident["sha256"], input_shapes=shapes)


def variant_file_name(sha256: str, setting: str) -> str:
    """The file a compressed variant is written to under the work dir (``+`` written ``_``); the dataset
    scripts find variants again by it (``datasets/add_node_profiles.py``, ``datasets/build_variants.py``)."""
    return f"{sha256[:16]}-{setting.replace('+', '_')}.onnx"


def _variant_item(item: dict, lm, name: str, work: Path, data: Path | None, plan: dict) -> dict:
    """Compress (or reuse the cached variant); attach a skipped/failed record when it cannot."""
    from advisor.compression import data as cdata
    from advisor.compression import get_setting
    from advisor.errors import NotApplicableError, OutputError
    from advisor.modelio import from_proto, save_model, write_bytes_atomic
    from profiling.runner import base_record

    setting = get_setting(name)
    item["setting"] = {"name": name, "family": setting.family, "params": setting.params}
    target = work / variant_file_name(item["model"]["sha256"], name)
    item["model_path"] = str(target)
    if name == "none":
        item["model_path"] = item["baseline_path"]
        item.pop("baseline_path")
        return item
    sidecar = target.with_name(target.name + ".json")
    if target.exists() and sidecar.exists():
        item["setting"]["notes"] = json.loads(sidecar.read_text())["notes"]
        return item
    try:
        calib = cdata.load_npz(data, lm) if data else None
        result = setting.apply(lm, calib)
        from_proto(result.model)
        save_model(result.model, target)
        write_bytes_atomic(sidecar, json.dumps({"notes": result.notes}, default=str).encode())
        item["setting"]["notes"] = json.loads(json.dumps(result.notes, default=str))
    except NotApplicableError as exc:
        item["record"] = base_record(item, plan, status="skipped", error=str(exc))
    except OutputError:
        raise  # a full or read-only work folder is not a property of the variant: stop, record nothing
    except AdvisorError as exc:
        item["record"] = base_record(item, plan, status="failed", error=f"compression failed: {exc}")
    except OSError as exc:
        if exc.errno not in _DISK_ERRNOS:
            raise
        raise OutputError(f"Compressing with '{name}' failed: {exc.strerror} ({exc.filename or 'temp files'}). "
                          "Free space or choose another --work-dir / TMPDIR; rerun to resume.") from None
    except Exception as exc:  # a bug in a setting must cost one record, not the sweep
        item["record"] = base_record(item, plan, status="failed",
                                     error=f"compression crashed: {type(exc).__name__}: {str(exc)[:300]}")
    return item


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create work folder '{path}': {exc.strerror}. Pass --work-dir.") from exc


def run_sweep(models: list[Path], settings_spec: str, out: Path, opts: SweepOptions,
              data: Path | None = None, progress=None, input_shapes: dict | None = None) -> dict:
    """Compress and measure; returns counts {ok, failed, skipped, already_done}.

    The device lock is taken before compressing: a second sweep on the same device refuses at once
    (or waits, ``opts.wait_for_lock``) instead of compressing while another one measures.
    """
    from profiling.sweep import run_plan

    out = Path(out)
    if out.is_dir() or not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise OutputError(f"Cannot write records to '{out}': give a file in an existing folder.")
    settings = resolve_settings(settings_spec)
    lock = _take_lock(opts)
    try:
        plan = build_plan([Path(m) for m in models], settings, opts, out, data, progress, input_shapes)
        if progress:
            progress("plan", {"n_items": len(plan["items"])}, None)
        return run_plan(plan, str(out), progress=progress, lock=False)
    except OSError as exc:
        raise OutputError(f"Could not write records to '{out}': {exc.strerror}. Records already written are kept; "
                          "rerun the same command to resume.") from exc
    finally:
        lock.__exit__(None, None, None)


def _take_lock(opts: SweepOptions):
    from profiling.sweep import DeviceLock, LockBusyError

    lock = DeviceLock(opts.device, wait=opts.wait_for_lock)
    try:
        return lock.__enter__()
    except LockBusyError as exc:
        raise AdvisorError(str(exc)) from None
    except OSError as exc:
        raise OutputError(f"Cannot create the device lock '{lock.path}': {exc.strerror}. Set ADVISOR_LOCK_DIR to "
                          "a writable folder.") from None
