"""Profile records -> one DataFrame row per ``ok`` measurement, with features and targets.

Columns (units in names): identity (``record_id, model_sha, model_name, family, kind, setting,
setting_family, device, runtime, threads``), one ``f_<name>`` column per feature in
``advisor.features.feature_names()`` order, and targets ``baseline_latency_ms`` (median latency of
the same model's ``none`` record on the same device/runtime/threads), ``baseline_pooled_ms`` (median
over that record and the baseline re-measured, interleaved, in every variant's process) with
``baseline_repeat_dev_pct`` (median abs % deviation of those repeats), ``latency_ms``, ``ratio``
(the interleaved ratio, ``ratio_label``; 1.0 for ``none``), ``ratio_ci95_rel_pct`` (half-width of the
ratio's 95 % CI in % of the ratio), ``ratio_passes_agree`` (``passes_agree``), ``energy_mj``, ``energy_is_estimate``, ``size_bytes``,
``accuracy_drop_pct`` (percentage points; only where accuracy comes from labels), ``fidelity_loss``
(1 - mean output cosine vs the baseline), ``steal_pct``, and ``channels_kept`` (chprune notes).
"""
from __future__ import annotations

import contextlib
import gc
import gzip
import hashlib
import itertools
import json
import math
import zlib
from pathlib import Path

from advisor.errors import DataError
from advisor.predictors.structure import frame_columns

FEATURE_PREFIX = "f_"
ID_COLUMNS = ("record_id", "model_sha", "model_name", "family", "kind", "setting", "setting_family",
              "device", "runtime", "threads")


def feature_columns() -> list[str]:
    """``f_<name>`` for every feature of the current schema, in ``feature_names()`` order."""
    from advisor.features import feature_names

    return [FEATURE_PREFIX + n for n in feature_names()]


def load_profiles(paths) -> list[dict]:
    """Records of every file in ``paths`` (``.jsonl`` / ``.jsonl.gz``), in order.

    Raises DataError naming the file when one is missing, unreadable or holds no valid record.
    """
    from profiling.records import read_records

    out: list[dict] = []
    with gc_paused():  # collecting while 13,000 big records pile up doubled the read
        for path in paths:
            out.extend(_read_one(Path(path), read_records))
    return out


@contextlib.contextmanager
def gc_paused():
    """Python's cycle collector off for the block: reading records and building their rows allocates
    millions of objects (JSON trees, row dicts: no cycles), and every collection it triggers scans all
    the records already read. Building the host data set's frame took 4 s longer with it on.

    On the way out, what the block made is frozen (``gc.freeze``: left out of every later collection)
    before the collector is turned back on. Otherwise its first collections scan it all once per
    generation: 2.9-3.2 s of a host training run (three collections of 0.5-1 s), 0.4 s with the freeze
    (the training 48.5 / 46.6 s -> 44.3 / 43.6 s, alternating runs). Frozen objects are still freed
    when nothing refers to them (records hold no cycles); cycles left unreachable before the block are
    collected on the way in, so the freeze does not keep them."""
    enabled = gc.isenabled()
    if enabled:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _read_one(p: Path, read_records) -> list[dict]:
    """The records of one profile file (``load_profiles``)."""
    if not p.is_file():
        raise DataError(f"Profile file '{p}' does not exist or is not a file. Pass the .jsonl(.gz) "
                        "written by 'advisor profile'.")
    try:
        recs = read_records(p)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"Profile file '{p}' cannot be read ({type(exc).__name__}: {exc}). Pass the "
                        ".jsonl(.gz) written by 'advisor profile'.") from None
    if not recs:
        raise DataError(f"Profile file '{p}' holds no valid profile record (schema "
                        "profiling.records). Pass the .jsonl(.gz) written by 'advisor profile'.")
    return recs


def dedupe(records: list[dict]) -> list[dict]:
    """One record per ``record_id`` (the last one seen wins: a re-measurement supersedes)."""
    by_id: dict[str, dict] = {}
    for rec in records:
        by_id[rec["record_id"]] = rec
    return list(by_id.values())


def device_runtime_pairs(records: list[dict]) -> list[tuple[str, str]]:
    """Sorted distinct (device, runtime) pairs among ``ok`` records."""
    return sorted({(r["device"]["name"], r["runtime"]["name"]) for r in records if r["status"] == "ok"})


def training_data_hash(records: list[dict]) -> str:
    """sha256 over the sorted record ids plus the fields a predictor learns from."""
    h = hashlib.sha256()
    for rid, key in sorted((r["record_id"], _key_fields(r)) for r in records):
        h.update(rid.encode())
        h.update(key.encode())
    return h.hexdigest()


def _key_fields(rec: dict) -> str:
    fields = [rec["status"], rec["model"].get("sha256"), rec["setting"].get("name"), rec["device"].get("name"),
              rec["runtime"].get("name"), rec["runtime"].get("threads"),
              (rec.get("latency") or {}).get("median_ms"), (rec.get("ratio") or {}).get("ratio_median"),
              (rec.get("energy") or {}).get("energy_mj"), (rec.get("accuracy") or {}).get("accuracy_drop_pct"),
              (rec.get("accuracy") or {}).get("cosine_mean"), rec["model"].get("feature_schema_version")]
    return json.dumps(fields, sort_keys=True, default=str)


def records_to_frame(records: list[dict]):
    """A DataFrame with one row per ok record (deduplicated by record_id) that carries features of the
    current schema. Raises DataError when the records' feature schema differs from this advisor's."""
    with gc_paused():
        return _records_to_frame(records)


def _records_to_frame(records: list[dict]):
    import pandas as pd

    from advisor.features import FEATURE_SCHEMA_VERSION, feature_names

    names = feature_names()
    ok = [r for r in dedupe(records) if r["status"] == "ok" and r.get("latency")]
    versions = {r["model"].get("feature_schema_version") for r in ok}
    if ok and versions != {FEATURE_SCHEMA_VERSION}:
        raise DataError(f"Profile records carry feature schema version(s) {sorted(versions, key=str)}; this "
                        f"advisor uses {FEATURE_SCHEMA_VERSION}. Re-profile the models with this advisor "
                        "('advisor profile').")
    base = {_base_key(r): r["latency"]["median_ms"] for r in ok if r["setting"]["name"] == "none"}
    pooled = _pooled_baselines(ok, base)
    rows = [{**_row(r, names, base.get(_base_key(r))), **pooled.get(_base_key(r), _NO_POOL)} for r in ok]
    columns = list(ID_COLUMNS) + [FEATURE_PREFIX + n for n in names] + list(_TARGETS)
    frame = pd.DataFrame(rows, columns=columns)
    # The variant's structure features (``setting.structure``, written by ``advisor profile``); rows without
    # them (or of another version) fall back on the model features and setting codes alone.
    for col, values in frame_columns([r["setting"].get("structure") for r in ok]).items():
        frame[col] = values
    for col, values in layer_columns(ok).items():
        frame[col] = values
    return frame


def layer_columns(ok: list[dict]) -> dict:
    """Per row: the original's and the variant's MAC-layer rows (``kernels``; None without them) and
    the measured per-layer times of the record's own graph (None without a node profile)."""
    from advisor.predictors import kernels

    structures = [r["setting"].get("structure") for r in ok]
    out = kernels.layer_columns(structures)
    scales = paired_scales(ok)
    us = []
    for r, st, b, scale in zip(ok, structures, out["k_layers1"], scales, strict=True):
        prof = r.get("node_profile") or {}
        aliases = st.get("aliases1") if b is not None else None
        good = prof.get("source") == "onnxruntime-profiler" and isinstance(prof.get("nodes"), list) and \
            isinstance(aliases, list) and len(aliases) == len(b)
        us.append([t * scale for t in kernels.layer_times(aliases, prof["nodes"])] if good else None)
    return {**out, "k_us": us}


def _profile_total(prof) -> float:
    """Sum of a node profile's per-node times (us); NaN when it has none."""
    nodes = prof.get("nodes") if isinstance(prof, dict) else None
    try:
        total = sum(float(n[2]) for n in nodes) if isinstance(nodes, list) and nodes else math.nan
    except (TypeError, ValueError, IndexError):
        return math.nan  # records may come from anywhere
    return total if math.isfinite(total) and total > 0 else math.nan


def paired_scales(ok: list[dict]) -> list[float]:
    """Per record: the factor that puts its node profile on its network's common scale (1 where it
    cannot).

    A profile taken alternately with the original's in one process (``node_profile["paired"]``, its
    original's beside it as ``node_profile["baseline"]``: ``ort_session.node_profile_pair``) is scaled
    by (median of the network's paired original totals) / (this pair's original total), and an
    original's own profile likewise by that median over its own total. The original, profiled beside
    each variant, is the yardstick between one pair's process and the next, so the variant's layers
    are priced against the original's as they ran together. Records without paired profiles (older
    data sets) keep their times as measured."""
    import numpy as np

    keys, own, per = [], [], {}
    for r in ok:
        prof, key = r.get("node_profile") or {}, _base_key(r)
        t = _profile_total(prof.get("baseline")) if prof.get("paired") else (
            _profile_total(prof) if r["setting"]["name"] == "none" else math.nan)
        keys.append(key)
        own.append(t)
        if prof.get("paired") and math.isfinite(t):
            per.setdefault(key, []).append(t)
    ref = {k: float(np.median(v)) for k, v in per.items()}
    return [ref[k] / t if k in ref and math.isfinite(t) else 1.0 for k, t in zip(keys, own, strict=True)]


_TARGETS = ("baseline_latency_ms", "baseline_pooled_ms", "baseline_repeat_dev_pct", "latency_ms", "ratio", "ratio_ci95_rel_pct",
            "ratio_passes_agree", "energy_mj", "energy_is_estimate",
            "size_bytes", "accuracy_drop_pct", "fidelity_loss", "steal_pct", "channels_kept")


_NO_POOL = {"baseline_pooled_ms": math.nan, "baseline_repeat_dev_pct": math.nan}


def _pooled_baselines(ok: list[dict], base: dict) -> dict:
    """Per (model, device, runtime, threads): the median of every measurement of the uncompressed
    model -- its ``none`` record and the baseline each variant was timed against, interleaved, in its
    own process -- and the median absolute % deviation of those repeats from it (a noise floor)."""
    import numpy as np

    values: dict[tuple, list[float]] = {k: [v] for k, v in base.items() if v and v > 0}
    for r in ok:
        b = (r.get("ratio") or {}).get("baseline_median_ms")
        if r["setting"]["name"] != "none" and b and b > 0:
            values.setdefault(_base_key(r), []).append(float(b))
    out = {}
    for key, v in values.items():
        med = float(np.median(v))
        dev = float(np.median(np.abs(np.asarray(v) / med - 1.0)) * 100.0) if len(v) > 1 else math.nan
        out[key] = {"baseline_pooled_ms": med, "baseline_repeat_dev_pct": dev}
    return out


def _base_key(rec: dict) -> tuple:
    return (rec["model"]["sha256"], rec["device"]["name"], rec["runtime"]["name"], rec["runtime"].get("threads"))


def _row(rec: dict, names: list[str], baseline_ms: float | None) -> dict:
    model, setting = rec["model"], rec["setting"]
    feats = model.get("features") or {}
    row = {"record_id": rec["record_id"], "model_sha": model["sha256"], "model_name": model.get("name"),
           "family": model.get("family") or "unknown", "kind": model.get("kind") or "unknown",
           "setting": setting["name"], "setting_family": setting.get("family") or "unknown",
           "device": rec["device"]["name"], "runtime": rec["runtime"]["name"],
           "threads": int(rec["runtime"].get("threads") or 1)}
    for n in names:
        row[FEATURE_PREFIX + n] = _num(feats.get(n))
    row.update(_targets(rec, baseline_ms))
    return row


def _targets(rec: dict, baseline_ms: float | None) -> dict:
    lat, ratio = rec["latency"], rec.get("ratio") or {}
    energy, acc = rec.get("energy") or {}, rec.get("accuracy") or {}
    r = 1.0 if rec["setting"]["name"] == "none" else ratio_label(ratio)
    ci = ratio.get("ratio_ci95") or [math.nan, math.nan]
    cos = _num(acc.get("cosine_mean"))
    notes = rec["setting"].get("notes") or {}
    before, after = _num(notes.get("channels_before")), _num(notes.get("channels_after"))
    return {"baseline_latency_ms": _num(baseline_ms), "latency_ms": _num(lat.get("median_ms")), "ratio": r,
            "ratio_ci95_rel_pct": 100.0 * (_num(ci[1]) - _num(ci[0])) / 2.0 / r if r and r > 0 else math.nan,
            "ratio_passes_agree": passes_agree(ratio), "energy_mj": _num(energy.get("energy_mj")),
            "energy_is_estimate": bool(energy.get("energy_is_estimate")),
            "size_bytes": _num((rec.get("size") or {}).get("size_bytes")),
            "accuracy_drop_pct": _num(acc.get("accuracy_drop_pct")) if acc.get("source") == "labels" else math.nan,
            "fidelity_loss": 1.0 - cos if math.isfinite(cos) else math.nan,
            "steal_pct": _num((rec.get("host") or {}).get("steal_pct")),
            "channels_kept": after / before if before and before > 0 else math.nan}


# The passes every record of a data set has (``passes_agree``); more are taken where those disagree.
NOISE_PASSES = 2


def ratio_label(ratio: dict) -> float:
    """The latency ratio a variant record teaches: the median of every measurement of it -- the
    sweep's interleaved ``ratio_median`` and each later pass's (``ratio.remeasured``, written by
    ``datasets/remeasure.py``); the sweep's alone without passes. NaN where none is a positive number.

    One quiet pass of 60 pairs repeats to within +-10% for 98.8% of variants, the host sweep (10-200
    pairs until a 5% CI, other jobs sharing the cores) for 93.8% (``benchmarks/label_noise.py``); the
    median of the sweep and two passes outvotes the one of them that was disturbed. Where the two
    passes were more than 3% apart, the host data set has two more (``remeasure.py measure
    --disagree 3``): the median of five."""
    sweep = _num(ratio.get("ratio_median"))
    values = sorted(([sweep] if sweep > 0 else []) + pass_ratios(ratio))
    if not values:
        return math.nan
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else math.sqrt(values[mid - 1] * values[mid])


def passes_agree(ratio: dict) -> float:
    """With two or more re-measured passes (``ratio.remeasured``): the share of the pairs of its first
    ``NOISE_PASSES`` passes within +-10% of each other (a noise floor of the labels: how well a
    measurement repeats a measurement); NaN with fewer. Later passes are left out: they are taken only
    where the first ones disagree (``datasets/remeasure.py measure --disagree``), so counting them would
    describe that choice, not how a pass repeats."""
    values = pass_ratios(ratio)[:NOISE_PASSES]
    if len(values) < 2:
        return math.nan
    ok = [abs(math.log(a / b)) <= math.log(1.1) for a, b in itertools.combinations(values, 2)]
    return sum(ok) / len(ok)


def pass_ratios(ratio: dict) -> list[float]:
    """The positive ratios of a record's re-measured passes (``ratio.remeasured``), in pass order."""
    values = [_num(p.get("ratio_median")) for p in ratio.get("remeasured") or [] if isinstance(p, dict)]
    return [v for v in values if v > 0]


def _num(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def repeat_differences(records: list[dict], repeats: list[dict] | None = None) -> dict:
    """Median absolute % difference between repeated measurements of the same record id.

    Repeats are records sharing a ``record_id`` within ``records`` (e.g. the same sweep in two files)
    or between ``records`` and ``repeats``. Returns ``{"n_pairs", "ratio_pct", "latency_pct"}`` plus
    what a perfect predictor of the original could at best score against the repeat: the share of
    repeated ratios within ±10% of the original (``ratio_within_10pct``) and the median over networks
    (>= 3 repeated settings) of the Spearman correlation of their ratios (``ratio_spearman_median``).
    """

    first: dict[str, dict] = {}
    pairs = []
    for rec in list(records) + list(repeats or []):
        if rec["status"] != "ok" or not rec.get("latency"):
            continue
        prev = first.setdefault(rec["record_id"], rec)
        if prev is not rec:
            pairs.append((prev, rec))
    ratio_d, lat_d, rel, by_net = [], [], [], {}
    for a, b in pairs:
        lat_d.append(_pct_diff(a["latency"]["median_ms"], b["latency"]["median_ms"]))
        ra, rb = (a.get("ratio") or {}).get("ratio_median"), (b.get("ratio") or {}).get("ratio_median")
        if ra and rb:
            ratio_d.append(_pct_diff(ra, rb))
            rel.append(abs(rb / ra - 1.0))
            by_net.setdefault(a["model"]["sha256"], []).append((ra, rb))
    rhos = [_spearman(v) for v in by_net.values() if len(v) >= 3]
    return {"n_pairs": len(pairs), "ratio_pct": _median(ratio_d), "latency_pct": _median(lat_d),
            "n_ratio_pairs": len(rel), "ratio_within_10pct": (sum(r <= 0.1 for r in rel) / len(rel)) if rel else None,
            "n_rank_networks": len(rhos), "ratio_spearman_median": _median(rhos)}


def _spearman(pairs: list[tuple[float, float]]) -> float:
    """Spearman correlation of the repeat's ratios with the original's across one network's settings."""
    from scipy.stats import spearmanr

    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    rho = spearmanr(a, b).statistic
    return float(rho) if rho == rho else 0.0  # a constant column has no ranking: counts as 0


def _median(values: list[float]) -> float | None:
    import numpy as np

    return float(np.median(values)) if values else None


def _pct_diff(a: float, b: float) -> float:
    return 100.0 * abs(a - b) / ((a + b) / 2.0) if a + b > 0 else 0.0
