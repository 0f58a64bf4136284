"""The profile-record schema (lowest layer): one JSON object per line, versioned.

A record keeps raw timing samples and their statistics, the device/runtime/software versions, the
protocol, and a ``status`` (ok / failed / skipped) with an ``error``. Failures are rows, never gaps.
Python 3.6 syntax; standard library only.

A variant record's ``ratio`` may carry ``remeasured``: the same ratio measured again in later passes
(``datasets/remeasure.py``), a list of objects each with a positive ``ratio_median``.

Units live in names: ``*_ms`` milliseconds, ``*_mj`` millijoules, ``*_mw`` milliwatts,
``*_bytes`` bytes, ``*_pct`` percent (0..100), ``*_s`` seconds.
"""
import gzip
import hashlib
import json
import os

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "skipped")

# field -> (type(s), required-for-every-status)
_TOP = {
    "schema_version": (int, True),
    "record_id": (str, True),
    "created_utc": (str, True),
    "status": (str, True),
    "error": ((str, type(None)), True),
    "model": (dict, True),
    "setting": (dict, True),
    "device": (dict, True),
    "runtime": (dict, True),
    "software": (dict, True),
    "protocol": (dict, True),
    "host": (dict, False),
    "latency": (dict, False),
    "ratio": (dict, False),
    "energy": (dict, False),
    "memory": (dict, False),
    "size": (dict, False),
    "accuracy": (dict, False),
    "node_profile": (dict, False),
}
_OK_REQUIRED = ("latency", "energy", "memory", "size", "accuracy", "host")
_NESTED_REQUIRED = {
    "model": ("name", "sha256"),
    "setting": ("name",),
    "device": ("name",),
    "runtime": ("name", "threads"),
    "protocol": ("warmup_runs", "min_runs", "max_runs", "target_rel_ci"),
    "latency": ("samples_ms", "mean_ms", "median_ms", "p90_ms", "n_runs", "ci95_halfwidth_ms"),
    "energy": ("source", "energy_is_estimate"),
    "memory": ("peak_rss_bytes",),
    "size": ("size_bytes", "compressed_size_bytes"),
    "accuracy": ("source",),
    "host": ("steal_pct",),
    "node_profile": ("source", "nodes"),
}


class RecordError(ValueError):
    """A record that does not match the schema; the message names the field."""


def record_key(model_sha256, setting, device, runtime, threads):
    """The identity of a measurement: a sweep skips any key it already holds with a final status."""
    raw = "|".join([model_sha256, setting, device, runtime, str(threads)])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]


def validate(rec):
    """Raise RecordError if ``rec`` (a dict) is not a valid record of this schema version."""
    if not isinstance(rec, dict):
        raise RecordError("a record must be a JSON object")
    if rec.get("schema_version") != SCHEMA_VERSION:
        raise RecordError("schema_version is {!r}; this reader knows {}".format(
            rec.get("schema_version"), SCHEMA_VERSION))
    for name, (types, required) in _TOP.items():
        if name not in rec:
            if required or (rec.get("status") == "ok" and name in _OK_REQUIRED):
                raise RecordError("missing field '{}'".format(name))
            continue
        if not isinstance(rec[name], types):
            raise RecordError("field '{}' has type {}".format(name, type(rec[name]).__name__))
    if rec["status"] not in STATUSES:
        raise RecordError("status '{}' is not one of {}".format(rec["status"], ", ".join(STATUSES)))
    if rec["status"] != "ok" and not rec["error"]:
        raise RecordError("a '{}' record must carry an error".format(rec["status"]))
    for name, keys in _NESTED_REQUIRED.items():
        if name in rec:
            for key in keys:
                if key not in rec[name]:
                    raise RecordError("missing field '{}.{}'".format(name, key))
    _check_latency(rec.get("latency"))
    _check_remeasured((rec.get("ratio") or {}).get("remeasured"))


def _check_remeasured(passes):
    if passes is None:
        return
    if not isinstance(passes, list) or not all(isinstance(p, dict) for p in passes):
        raise RecordError("ratio.remeasured must be a list of objects")
    for p in passes:
        value = p.get("ratio_median")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise RecordError("ratio.remeasured: every pass needs a positive ratio_median")


def _check_latency(lat):
    if not lat:
        return
    samples = lat["samples_ms"]
    if len(samples) != lat["n_runs"] or any(s < 0 for s in samples):
        raise RecordError("latency.samples_ms must hold n_runs non-negative samples")
    if not lat.get("min_ms", 0) <= lat["median_ms"] <= lat["p90_ms"] <= lat.get("max_ms", float("inf")):
        raise RecordError("latency statistics out of order (min <= median <= p90 <= max)")


def append_record(path, rec):
    """Validate and append one record as one line, flushed and fsynced.

    The whole line goes out before the fsync; if writing fails part-way (a full disk, an interrupt)
    the file is cut back to its previous length, so a record is either whole or absent. A kill can
    at worst leave a final partial line, which ``read_records`` ignores; earlier lines are never
    touched.
    """
    validate(rec)
    data = (json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    fd = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            _ensure_line_start(fd, path, size)
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            _truncate_quiet(fd, size)
            raise
    finally:
        os.close(fd)


def rewrite_records(path, records):
    """Replace the records file ``path`` (gzip when its name ends in .gz) with ``records``, one JSON
    line each, atomically: written and fsynced beside it, then renamed over it, so a kill leaves the old
    file or the new one, never a mix."""
    path = str(path)
    tmp = path + ".tmp"
    text = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)
    if path.endswith(".gz"):
        with gzip.open(tmp, "wt", compresslevel=9) as fh:
            fh.write(text)
    else:
        with open(tmp, "w") as fh:
            fh.write(text)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _truncate_quiet(fd, size):
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _ensure_line_start(fd, path, size):
    """If a previous writer died mid-line, start on a fresh line so the new record stays whole."""
    if size == 0:
        return
    with open(str(path), "rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            os.write(fd, b"\n")


def read_records(path, strict=False):
    """Records in file order (``.jsonl`` or gzipped ``.jsonl.gz``). Lines that are not valid JSON (a
    torn last line after a kill) are skipped unless ``strict``; schema-invalid records raise
    RecordError when ``strict``."""
    out = []
    if not os.path.exists(str(path)):
        return out
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(str(path), "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
                validate(rec)
            except (ValueError, RecordError) as exc:
                if strict:
                    raise RecordError("{}:{}: {}".format(path, lineno, exc)) from exc
                continue
            out.append(rec)
    return out
