"""The workflows behind ``advisor train`` and ``advisor evaluate`` (no printing, no exiting).

``evaluate_profiles``: leave-one-family-out figures of the model and the two baselines.
``train_bundle``: the same evaluation, then every estimator fitted on all rows, conformal quantiles
from the out-of-fold residuals, and a bundle written atomically with its manifest.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from advisor.errors import DataError
from advisor.predictors import TRAIN_FOLDS, applicability, dataset
from advisor.predictors.base import seed_params
from advisor.predictors.bundle import BUNDLE_FORMAT_VERSION, library_versions, user_bundle_dir, write_bundle
from advisor.predictors.conformal import ALPHA_DEFAULT, METHOD, fit_quantiles
from advisor.predictors.encoding import SettingEncoder, design_matrix
from advisor.predictors.evaluate import (
    assemble_folds,
    family_folds,
    fold_jobs,
    noise_floor,
    per_family,
    per_setting,
    run_jobs,
    summarize,
)
from advisor.predictors.network_update import fit_network_update
from advisor.predictors.predictor import clean_json, suite_files
from advisor.predictors.suite import energy_spec_of, fit_suite, layer_index


@dataclass(frozen=True)
class Selection:
    """The ok rows of one device/runtime and the records they came from."""

    device: str
    runtime: str
    records: list
    frame: object  # pandas.DataFrame from dataset.records_to_frame
    all_records: list
    group_by: str | None = None  # record field whose values replace the architecture family as CV groups


@dataclass(frozen=True)
class TrainResult:
    """Where the bundle went, its manifest, the fitted suite (as written) and the wall time (s)."""

    path: Path
    manifest: dict
    seconds: float
    suite: object  # advisor.predictors.suite.Suite


def select(paths, device: str | None, runtime: str | None, group_by: str | None = None) -> Selection:
    """Read ``paths`` and keep one device/runtime (either may be None when the files hold one pair).

    ``group_by``: a dotted path into the records (e.g. ``setting.provenance.folder``) whose value, per
    network, replaces the architecture family as the cross-validation group (for data sets of one or
    two architecture families whose sub-collections are the meaningful unit to hold out)."""
    records = dataset.load_profiles(paths)
    pairs = dataset.device_runtime_pairs(records)
    listed = ", ".join(f"{d}/{r}" for d, r in pairs) or "none"
    chosen = [(d, r) for d, r in pairs if device in (None, d) and runtime in (None, r)]
    if len(chosen) != 1:
        what = " and ".join(f"{k} '{v}'" for k, v in (("device", device), ("runtime", runtime)) if v) or \
            "a single device/runtime"
        raise DataError(f"{'No' if not chosen else 'More than one'} ok profile records match {what}; "
                        f"the files hold device/runtime: {listed}. Pass --device and --runtime.")
    dev, rt = chosen[0]
    mine = [r for r in records if r["device"]["name"] == dev and r["runtime"]["name"] == rt]
    frame = dataset.records_to_frame(mine)
    frame = frame[np.isfinite(frame["latency_ms"]) & np.isfinite(frame["baseline_latency_ms"])]
    frame = _registered_only(frame)
    if frame.empty:
        raise DataError(f"No ok record of {dev}/{rt} has a matching 'none' baseline measurement; profile "
                        "with --settings including none.")
    if group_by:
        frame = frame.assign(family=frame["model_sha"].map(_groups(mine, group_by)).fillna("unknown"))
    return Selection(dev, rt, mine, frame.reset_index(drop=True), records, group_by)


def _groups(records, group_by: str) -> dict:
    """model sha256 -> the value at ``group_by`` (dotted path) of its first record that has one."""
    out = {}
    for rec in records:
        value = rec
        for key in group_by.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            out.setdefault(rec["model"]["sha256"], str(value))
    if not out:
        raise DataError(f"No record has a value at '{group_by}' to group the cross-validation folds by.")
    return out


def _registered_only(frame):
    """Rows whose setting the registry knows: a predictor can only be asked about settings the
    advisor can apply (published data also hold e.g. the study's 'wq6' or retrained pruning)."""
    import sys

    from advisor.compression import setting_names

    known = set(setting_names())
    unknown = sorted(set(frame["setting"]) - known)
    if unknown:
        print(f"note: ignoring {int((~frame['setting'].isin(known)).sum())} row(s) of settings the advisor "
              f"cannot apply: {', '.join(unknown)}", file=sys.stderr)
    return frame[frame["setting"].isin(known)]


def known_settings(frame) -> list[str]:
    from advisor.compression import setting_names

    registered = setting_names()
    seen = set(frame["setting"])
    return [n for n in registered if n in seen] + sorted(seen - set(registered))


def evaluate_selection(sel: Selection, repeats: list | None = None, xgb_params=None, progress=None,
                       folds: int | None = None):
    """(report dict, out-of-fold frame) for a selection (``folds``: see ``evaluate.fold_jobs``)."""
    return _evaluate(sel, repeats, xgb_params, progress, fit_all=False, folds=folds)[:2]


def _evaluate(sel: Selection, repeats, xgb_params, progress, fit_all: bool, folds: int | None = None):
    """(report, out-of-fold frame, suite fitted on all rows or None, the measured-ratio update table
    ``network_update.fit_network_update``): the folds and, with ``fit_all``, the final fit run as jobs
    of one thread pool (``evaluate.run_jobs``). ``folds``: see ``evaluate.fold_jobs`` (None: one family
    a fold)."""
    spec = energy_spec_of(sel.records, sel.frame)
    names = known_settings(sel.frame)
    design = design_matrix(sel.frame, SettingEncoder(names))  # row-wise: computed once for every fold
    layers = layer_index(sel.frame)  # likewise: every distinct layer row, encoded once
    jobs = fold_jobs(sel.frame, names, spec, xgb_params, progress, design, layers, folds=folds)
    if fit_all:  # the largest job first, so that it does not run alone at the end
        if progress:
            progress("fitting on all rows, beside the folds")
        jobs.insert(0, functools.partial(fit_suite, sel.frame, names, spec, xgb_params, design, layers))
    results = run_jobs(jobs)
    suite = results.pop(0) if fit_all else None
    df = sel.frame.join(assemble_folds(sel.frame, results))
    reps = dataset.repeat_differences(sel.all_records, repeats)
    held = family_folds(sel.frame, folds)
    report = {"data": _data_summary(sel), "protocol": {
        "cv": _cv_text(held, sel.group_by), "held_out": sel.group_by or "family", "folds": [list(h) for h in held],
        "nominal_coverage": 1 - ALPHA_DEFAULT,
        "intervals": "calibrated on the out-of-fold residuals of the other families only"},
        "targets": summarize(df, ALPHA_DEFAULT), "per_family_ratio": per_family(df),
        "per_setting_ratio": per_setting(df),
        "noise_floor": noise_floor(sel.frame, reps), "energy": spec}
    update = fit_network_update(df)  # measure one setting, predict the others: held out the same way
    report["measured_update"] = {k: update[k] for k in ("method", "min_networks", "summary", "best_pairs", "joint")
                                 if k in update}
    return report, df, suite, update


def _cv_text(held: list[tuple], group_by: str | None) -> str:
    """What the folds ``held`` (``evaluate.family_folds``) hold out, for the report."""
    if all(len(h) == 1 for h in held):
        return (f"leave-one-group-out, groups = record field '{group_by}' (never random rows)" if group_by else
                "leave-one-family-out (architecture families; never random rows)")
    unit = f"values of record field '{group_by}'" if group_by else "architecture families"
    return (f"grouped {len(held)}-fold: each fold holds out about 1/{len(held)} of the {unit}, whole (never random "
            "rows); 'advisor evaluate' holds out one at a time")


def evaluate_profiles(paths, device=None, runtime=None, repeat_paths=None, progress=None, seed: int = 0,
                      folds: int | None = None) -> dict:
    """Leave-one-family-out figures for the profiles' device/runtime (see ``evaluate``). ``seed``: of
    every random draw of the fitting (XGBoost's row and column sampling, the layer-time model's sample
    of layers); 0 is the seed bundles are trained with. The report records it (``seed``)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sel = select(paths, device, runtime)
    repeats = dataset.load_profiles(repeat_paths) if repeat_paths else None
    report = evaluate_selection(sel, repeats, xgb_params=seed_params(seed), progress=progress, folds=folds)[0]
    report["seed"] = seed
    return report


def _data_summary(sel: Selection) -> dict:
    f = sel.frame
    return {"device": sel.device, "runtime": sel.runtime, "n_records": len(sel.records), "n_rows": len(f),
            "n_networks": int(f["model_sha"].nunique()), "families": sorted(f["family"].unique()),
            "settings": known_settings(f), "threads": sorted(int(t) for t in f["threads"].unique()),
            "training_data_hash": dataset.training_data_hash(sel.records)}


def conformal_quantiles(df) -> dict:
    """Nominal-90 % quantiles per target from the out-of-fold residuals of all families."""
    var = df[(df["setting"] != "none") & (df["ratio"] > 0)]
    base = df[df["setting"] == "none"]
    lab = var[np.isfinite(var["accuracy_drop_pct"])]
    fid = var[np.isfinite(var["fidelity_loss"])]
    q = {"method": METHOD, "nominal_coverage": 1 - ALPHA_DEFAULT,
         "baseline_latency": fit_quantiles(np.log(base["latency_ms"]) - base["pred_log_base"]),
         "ratio": fit_quantiles(np.log(var["ratio"]) - var["pred_log_ratio"], var["setting_family"], var["family"]),
         "latency": fit_quantiles(np.log(var["latency_ms"]) - var["pred_log_latency"], var["setting_family"],
                                  var["family"])}
    if len(lab):
        q["accuracy_drop_pct"] = fit_quantiles(lab["accuracy_drop_pct"] - lab["pred_acc_pp"])
    if len(fid):
        q["fidelity_loss"] = fit_quantiles(np.log(fid["fidelity_loss"].clip(lower=0) + 1e-6) - fid["pred_log_fid"],
                                           fid["setting_family"], fid["family"])
    return q


def train_bundle(paths, device=None, runtime=None, out=None, command: str = "", xgb_params=None,
                 progress=None, group_by: str | None = None, repeat_paths=None,
                 folds: int | None = TRAIN_FOLDS) -> TrainResult:
    """Evaluate (grouped CV), fit on all rows, and write the bundle to ``out`` (default: user folder).
    ``repeat_paths``: records re-measuring the same ids, for the noise floor in the manifest. ``folds``:
    the cross-validation behind the manifest's figures and the intervals (``TRAIN_FOLDS``; None: one
    family a fold, as ``advisor evaluate``)."""
    t0 = time.perf_counter()
    sel = select(paths, device, runtime, group_by)
    repeats = dataset.load_profiles(repeat_paths) if repeat_paths else None
    report, df, suite, update = _evaluate(sel, repeats, xgb_params, progress, fit_all=True, folds=folds)
    spec = report["energy"]
    targets, files = suite_files(suite)
    # which training networks a new one resembles, by architecture family (not by another grouping's values)
    near = applicability.fit(sel.frame) if not group_by else None
    if near is not None:
        near["held_out_check"] = applicability.held_out_check(sel.frame, df)
        near, raw = applicability.to_file(near)
        files = dict(files, **{applicability.FILE: raw})
    data = report["data"]
    manifest = {"bundle_format_version": BUNDLE_FORMAT_VERSION, "feature_schema_version": _schema(),
                "feature_names": _feature_names(), "device": sel.device, "runtime": sel.runtime,
                "threads": data["threads"], "setting_encoding": suite.encoder.to_dict(),
                "known_settings": suite.encoder.known_settings, "targets": targets, "energy": spec,
                "libraries": library_versions(), "training_data_hash": data["training_data_hash"],
                "n_records": data["n_records"], "n_rows": data["n_rows"], "n_networks": data["n_networks"],
                "families": data["families"], "conformal": conformal_quantiles(df),
                "network_update": update,
                "roofline": suite.baseline.roofline_.constants(), "structure": _structure_summary(sel.frame, suite),
                "applicability": near,
                "evaluation": report,
                "evaluation_headline": headline(report), "training_summary": {
                    k: data[k] for k in ("n_records", "n_rows", "n_networks", "families", "training_data_hash")},
                "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command}
    if group_by:
        manifest["cv_groups"] = f"record field '{group_by}' (the 'families' listed are its values)"
    dest = Path(out) if out else user_bundle_dir(sel.device, sel.runtime)
    manifest["train_seconds"] = round(time.perf_counter() - t0, 2)
    write_bundle(dest, clean_json(manifest), files)
    return TrainResult(dest, manifest, time.perf_counter() - t0, suite)


def _structure_summary(frame, suite) -> dict:
    """Which structure features (advisor.predictors.structure) the bundle was trained with, and the
    op-level costs its ratio prior learned from them (None when the records carried none)."""
    from advisor.predictors.structure import STRUCTURE_VERSION

    variants = frame[frame["setting"] != "none"]
    with_structure = int(np.isfinite(variants["v_mac_ratio"]).sum()) if "v_mac_ratio" in variants else 0
    cost, kcost = suite.ratio.cost_, getattr(suite.ratio, "kcost_", None)
    return {"version": STRUCTURE_VERSION, "variant_rows_with_structure": with_structure,
            "variant_rows": int(len(variants)), "ratio_cost_model": cost.constants() if cost is not None else None,
            "ratio_kernel_cost_model": kcost.constants() if kcost is not None else None}


def headline(report: dict) -> dict:
    """The model's held-out figures per target (method ``model`` only), for summaries."""
    out = {}
    for target, t in report["targets"].items():
        f = t["methods"].get("model") or {}
        if f.get("n"):
            out[target] = {k: v for k, v in f.items() if k.startswith(("median_abs", "p90_abs")) or k in (
                "n", "within_tol", "tolerance", "spearman_median", "coverage")}
    return out


def _schema() -> int:
    from advisor.features import FEATURE_SCHEMA_VERSION

    return FEATURE_SCHEMA_VERSION


def _feature_names() -> list[str]:
    from advisor.features import feature_names

    return feature_names()
