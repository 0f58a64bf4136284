"""Shared pieces of the importers: published numbers -> schema-valid profile records (profiling.records).

A published record holds one value where a measured one holds many: ``latency.samples_ms`` is the
single published figure (``n_runs`` 1) and the protocol says so (``PUBLISHED_PROTOCOL``). Every record
carries ``setting.provenance``: the source folder, the file(s) and 1-based data row(s) (header
excluded, so file line = row + 1) each number came from, and an evidence class per quantity:
``T`` printed in the source's text, tables or CSV; ``F`` read from a figure; ``D`` derived (by the
source's reconstruction or by this importer, e.g. baseline x published ratio).
"""
from __future__ import annotations

import csv
import datetime
import gzip
import hashlib
import io
import json
from pathlib import Path

from profiling.measure import summarize
from profiling.records import SCHEMA_VERSION, record_key, validate

PUBLISHED_PROTOCOL = {"warmup_runs": 0, "min_runs": 1, "max_runs": 1, "target_rel_ci": 1.0, "source": "published"}
EVIDENCE_CLASSES = ("T", "F", "D")
MB_BYTES = 1_000_000  # the sources' MB are 10**6 bytes (Qin's 553 MB VGG_16 = 138.36 M float32 weights)
KIND = "imported"  # model.kind of every imported record


def read_rows(path: Path) -> list[dict]:
    """Rows of a CSV file as dicts, each with ``_row`` = its 1-based data row (header excluded)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [dict(row, _row=i) for i, row in enumerate(csv.DictReader(fh), 1)]


def num(value) -> float | None:
    """A CSV cell as a float; None for an empty cell."""
    value = (value or "").strip() if isinstance(value, str) else value
    return None if value in ("", None) else float(value)


def source_ref(folder: str, file: str, row: int, **columns) -> dict:
    """Where a number came from: ``folder/file`` and data ``row``, plus the cells used (``columns``)."""
    return {"file": f"{folder}/{file}", "row": int(row), **({"columns": columns} if columns else {})}


def provenance(dataset: str, refs: list[dict], evidence: dict[str, str], **notes) -> dict:
    """The ``setting.provenance`` block: source files/rows and an evidence class per quantity."""
    bad = {k: v for k, v in evidence.items() if v not in EVIDENCE_CLASSES}
    if bad:
        raise ValueError(f"evidence classes must be one of {EVIDENCE_CLASSES}; got {bad}")
    return {"dataset": dataset, "sources": refs, "evidence": dict(evidence), **notes}


def latency_block(latency_ms: float, statistic: str = "published mean", **extra) -> dict:
    """The latency block of one published figure (ms): summarize([x]) with n_runs 1."""
    return dict(summarize([float(latency_ms)]), stopping="published", statistic=statistic, **extra)


def ratio_block(ratio: float, baseline_ms: float, baseline_setting: str = "none", **extra) -> dict:
    """Variant/baseline latency ratio from published figures: a point value, no spread known."""
    r = float(ratio)
    return {"ratio_median": r, "ratio_geomean": r, "ratio_ci95": [r, r], "n_pairs": 1, "stopping": "published",
            "baseline_median_ms": float(baseline_ms), "baseline_setting": baseline_setting, **extra}


def energy_block(energy_mj: float | None, source: str, idle_deducted: bool | None, **extra) -> dict:
    """Energy per inference in mJ (None when the source gives none), measured (not an estimate)."""
    return {"energy_mj": None if energy_mj is None else float(energy_mj), "source": source,
            "energy_is_estimate": False, "idle_deducted": idle_deducted, **extra}


def size_block(size_bytes: float | None, basis: str) -> dict:
    """Stored model size in bytes; the compressed size is unknown, so it equals ``size_bytes``."""
    n = None if size_bytes is None else int(round(size_bytes))
    return {"size_bytes": n, "compressed_size_bytes": n, "compressed_size_known": False, "basis": basis}


def name_identity(dataset: str, name: str, family: str, **extra) -> dict:
    """The model block of a network we do not rebuild: ``features`` {} (``features_available`` False),
    sha256 of ``dataset:name``. The schema version is the current one so that a file mixing rebuilt
    and unrebuilt networks still loads (advisor.predictors.dataset gives the latter NaN features)."""
    from advisor.features import FEATURE_SCHEMA_VERSION

    sha = hashlib.sha256(f"{dataset}:{name}".encode()).hexdigest()
    return {"name": name, "family": family, "kind": KIND, "sha256": sha, "sha256_of": "dataset:name",
            "features": {}, "features_available": False, "feature_schema_version": FEATURE_SCHEMA_VERSION,
            "features_digest": None, **extra}


def features_identity(name: str, family: str, sha256: str, sha256_of: str, values: dict[str, float],
                      **extra) -> dict:
    """The model block of a rebuilt network: its feature values and their digest (as advisor.profile)."""
    from advisor.features import FEATURE_SCHEMA_VERSION, feature_names

    vec = json.dumps([round(values[k], 9) for k in feature_names()])
    return {"name": name, "family": family, "kind": KIND, "sha256": sha256, "sha256_of": sha256_of,
            "features": dict(values), "features_available": True, "feature_schema_version": FEATURE_SCHEMA_VERSION,
            "features_digest": hashlib.sha256(vec.encode()).hexdigest()[:16], **extra}


def make_record(source_tag: str, model: dict, setting: dict, device: dict, runtime: dict, software: dict,
                created_utc: str, status: str = "ok", error: str | None = None, **blocks) -> dict:
    """A validated record; for ``ok``, ``blocks`` are latency, energy, size, accuracy and optionally
    ratio, memory and host (memory and host default to "not published").

    The record id hashes ``source_tag`` with the model's sha256, so two sources measuring the same
    network on the same device, runtime and setting stay two records.
    """
    runtime = {"threads": 1, **runtime}
    rec = {"schema_version": SCHEMA_VERSION,
           "record_id": record_key(f"{model['sha256']}|{source_tag}", setting["name"], device["name"],
                                   runtime["name"], runtime["threads"]),
           "created_utc": created_utc, "status": status, "error": error, "model": model, "setting": setting,
           "device": device, "runtime": runtime, "software": software, "protocol": dict(PUBLISHED_PROTOCOL),
           "memory": {"peak_rss_bytes": None}, "host": {"steal_pct": None}}
    rec.update(blocks)
    validate(rec)
    return rec


def now_utc() -> str:
    """The current UTC time as the records' ``created_utc`` (ISO 8601, seconds, Z)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def write_records(path: Path, records: list[dict]) -> int:
    """Validate and write ``records`` as gzipped JSON lines (sorted keys; mtime 0 for stable bytes).

    Every record is validated before anything is written, and the file is replaced in one rename: a
    record that fails validation (or a failed write) leaves a file already at ``path`` as it was."""
    from advisor.modelio import write_bytes_atomic

    for rec in records:
        validate(rec)
    buf = io.BytesIO()
    # filename: the gzip header names the file as it did when written in place (same bytes as before)
    with gzip.GzipFile(filename=str(path), fileobj=buf, mode="wb", compresslevel=9, mtime=0) as fh:
        for rec in records:
            fh.write((json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n").encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue())
    return len(records)
