"""Profiling at scale: every (model, setting) item becomes a Dask task on a device farm.

Each task asks for one unit of the worker resource named after the device (workers started with
``dask worker SCHEDULER --resources "jetson-tx2=1"``), so a board runs one measurement at a time and
only boards of that kind get the work. Model files travel with the task as bytes (written to a temp
folder on the worker) unless ``shared_storage``. Records stream back into the append-only JSONL as
they finish; an item already in the file is not submitted, and a duplicate result is dropped. A
worker lost mid-task makes Dask run the task elsewhere. See docs/FARM.md.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from advisor.errors import AdvisorError, OutputError

_FILE_KEYS = ("model_path", "baseline_path", "data_path")
_INSTALL_HINT = "pip install '.[cluster]'"


def require_dask():
    """The distributed module, or a one-line AdvisorError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise AdvisorError(f"--cluster needs Dask, which is not installed; run: {_INSTALL_HINT}") from None
    return distributed


def run_farm_sweep(models: list, settings_spec: str, out: Path, opts, scheduler: str,
                   shared_storage: bool = False, agent_command: str | None = None, data: Path | None = None,
                   progress=None, input_shapes: dict | None = None) -> dict:
    """Compress locally, then measure on the farm at ``scheduler``; returns counts like run_sweep."""
    from advisor.profile import build_plan, resolve_settings

    require_dask()
    out = Path(out)
    if out.is_dir() or not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise OutputError(f"Cannot write records to '{out}': give a file in an existing folder.")
    settings = resolve_settings(settings_spec)
    plan = build_plan([Path(m) for m in models], settings, opts, out, data, progress, input_shapes)
    return run_farm(plan, out, scheduler, shared_storage=shared_storage, agent_command=agent_command,
                    progress=progress)


def run_farm(plan: dict, out, scheduler: str, shared_storage: bool = False, agent_command: str | None = None,
             progress=None, retries: int = 2) -> dict:
    """Submit every item of ``plan`` not yet in ``out`` to the Dask scheduler; append records as
    they finish. Counts: ok, failed, skipped, already_done, duplicate, lost (engine gave up; rerun)."""
    from profiling.sweep import done_keys, item_key

    distributed = require_dask()
    out = str(out)
    device = (plan.get("device") or {"name": "host"})["name"]
    task_plan = {k: v for k, v in plan.items() if k != "items"}
    task_plan.setdefault("isolation", "spawn")  # never fork a multithreaded Dask worker
    counts = {"ok": 0, "failed": 0, "skipped": 0, "already_done": 0, "duplicate": 0, "lost": 0}
    seen = done_keys(out)
    if progress:
        progress("plan", {"n_items": len(plan["items"])}, None)
    pending = _triage(plan, out, seen, counts, progress)
    if not pending:
        return counts
    try:
        client = distributed.Client(scheduler, timeout="20s")
    except OSError as exc:
        raise AdvisorError(f"Cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        _check_workers(client, device, scheduler)
        futures = {_submit(client, item, task_plan, shared_storage, agent_command, device, retries,
                           item_key(item, plan)): item for item in pending}
        for fut in distributed.as_completed(list(futures)):
            _collect(fut, futures[fut], out, seen, counts, progress)
    return counts


def _triage(plan: dict, out: str, seen: set, counts: dict, progress) -> list:
    """Items still to measure; records attached while compressing are appended here."""
    from profiling.records import append_record
    from profiling.sweep import item_key

    pending = []
    for item in plan["items"]:
        if item_key(item, plan) in seen:
            counts["already_done"] += 1
            _call(progress, "skip", item, None)
        elif item.get("record"):  # skipped / failed while compressing: nothing to measure
            _append(append_record, out, item["record"], seen, counts)
            _call(progress, "done", item, item["record"])
        else:
            pending.append(item)
    return pending


def _check_workers(client, device: str, scheduler: str) -> None:
    """Refuse at once when no worker offers the device's resource (tasks would wait forever)."""
    try:
        info = client.scheduler_info(n_workers=-1)  # newer distributed lists only 5 workers by default
    except TypeError:
        info = client.scheduler_info()
    workers = info["workers"].values()
    if not any(w.get("resources", {}).get(device) for w in workers):
        raise AdvisorError(f"No worker of {scheduler} offers resource '{device}'; start one per board with "
                           f"dask worker {scheduler} --resources \"{device}=1\" --nthreads 1 (docs/FARM.md).")


def _submit(client, item: dict, task_plan: dict, shared_storage: bool, agent_command, device: str,
            retries: int, key: str):
    files = None if shared_storage else _read_files(item)
    return client.submit(measure_task, item, task_plan, files, agent_command, resources={device: 1},
                         retries=retries, pure=False, key=f"measure-{key}-{os.urandom(4).hex()}")


def _collect(fut, item: dict, out: str, seen: set, counts: dict, progress) -> None:
    from profiling.records import append_record

    try:
        rec = fut.result()
    except Exception as exc:  # the engine gave up (workers kept dying): nothing recorded, rerun
        counts["lost"] += 1
        _call(progress, "lost", item, {"status": "lost", "error": f"{type(exc).__name__}: {exc}"})
        return
    _append(append_record, out, rec, seen, counts)
    _call(progress, "done", item, rec)


def _append(append_record, out: str, rec: dict, seen: set, counts: dict) -> None:
    if rec["record_id"] in seen:
        counts["duplicate"] += 1
        return
    append_record(out, rec)
    seen.add(rec["record_id"])
    counts[rec["status"]] += 1


def _call(progress, event, item, rec):
    if progress is not None:
        progress(event, item, rec)


def _read_files(item: dict) -> dict:
    """{item key: (file name, bytes)} of the files the measurement needs."""
    files = {}
    for key in _FILE_KEYS:
        if item.get(key):
            path = Path(item[key])
            try:
                files[key] = (path.name, path.read_bytes())
            except OSError as exc:
                raise AdvisorError(f"Cannot read '{path}' to send to the farm: {exc.strerror}.") from None
    return files


def measure_task(item: dict, plan: dict, files: dict | None, agent_command: str | None) -> dict:
    """Runs on a Dask worker: materialise the files, measure in a child (or through the agent
    command), and note which worker measured in ``record["device"]``."""
    from profiling.sweep import run_child

    worker = _worker_info()
    with tempfile.TemporaryDirectory(prefix="advisor-farm-") as tmp:
        item = dict(item)
        for key, (name, blob) in (files or {}).items():
            item[key] = os.path.join(tmp, f"{key.split('_')[0]}-{name}")
            Path(item[key]).write_bytes(blob)
        if agent_command:
            from profiling.agent_command import run_agent_command

            host = os.environ.get("ADVISOR_AGENT_HOST") or str(worker.get("name") or "")
            rec = run_agent_command(item, plan, agent_command, host=host, stage=files is not None)
        else:
            rec = run_child(item, plan)
    rec["device"] = dict(rec["device"], worker=worker)
    return rec


def _worker_info() -> dict:
    from distributed import get_worker

    try:
        w = get_worker()
    except ValueError:  # called outside a worker (tests, debugging)
        return {}
    state = getattr(w, "state", None)
    resources = getattr(state, "total_resources", None) or getattr(w, "total_resources", {}) or {}
    return {"address": w.address, "name": str(w.name), "resources": dict(resources)}
