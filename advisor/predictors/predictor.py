"""A loaded predictor bundle: ``load_bundle(device, runtime) -> PredictorBundle`` and its ``predict``.

``suite_files``/``suite_from_files`` convert a fitted Suite to and from the bundle's manifest
entries and XGBoost JSON files (see ``bundle`` for the checks done before anything is parsed).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from advisor.errors import DataError
from advisor.predictors.bundle import find_bundle, read_checked, refusal
from advisor.predictors.conformal import interval
from advisor.predictors.encoding import FAMILIES, SettingEncoder
from advisor.predictors.kernels import KernelModel
from advisor.predictors.models import (
    AccuracyDropModel,
    BaselineLatencyModel,
    FidelityLossModel,
    PowerModel,
    RatioModel,
)
from advisor.predictors.suite import Suite, energy_from_latency, predict_frame

ESTIMATORS = {"baseline_latency": ("baseline", BaselineLatencyModel), "ratio": ("ratio", RatioModel),
              "accuracy_drop_pct": ("accuracy", AccuracyDropModel), "fidelity_loss": ("fidelity", FidelityLossModel),
              "power": ("power", PowerModel), "kernel_time": ("kernel", KernelModel)}


def suite_files(suite: Suite) -> tuple[dict, dict[str, bytes]]:
    """Manifest ``targets`` entries and the JSON model files of a fitted suite."""
    targets, files = {}, {}
    for target, (attr, cls) in ESTIMATORS.items():
        est = getattr(suite, attr)
        if est is None:
            continue
        meta, raw = est.to_bundle()
        name = f"{target}.json" if raw is not None else None
        if raw is not None:
            files[name] = raw
        targets[target] = {"estimator": cls.__name__, "scale": est.scale, "file": name, "meta": clean_json(meta)}
    return targets, files


def clean_json(obj):
    """NaN -> None, so the manifest is strict JSON."""
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def suite_from_files(manifest: dict, files: dict[str, bytes]) -> Suite:
    parts = {}
    for target, (attr, cls) in ESTIMATORS.items():
        entry = manifest["targets"].get(target)
        if entry is None:
            parts[attr] = None
            continue
        meta = _restore_nan(entry["meta"])
        parts[attr] = cls.from_bundle(meta, files[entry["file"]] if entry.get("file") else None)
    return Suite(encoder=SettingEncoder.from_dict(manifest["setting_encoding"]), energy=manifest["energy"], **parts)


def _restore_nan(meta: dict) -> dict:
    out = dict(meta)
    if "global_median" in out and out["global_median"] is None:
        out["global_median"] = float("nan")
    return out


class PredictorBundle:
    """Predictions for one device/runtime. ``manifest`` holds the provenance and held-out figures."""

    def __init__(self, path: Path, manifest: dict, suite: Suite, calibration=None, applicability=None):
        self.path = Path(path)
        self.manifest = manifest
        self.suite = suite
        self.calibration = calibration  # advisor.predictors.calibration.Calibration or None
        self.applicability = applicability  # advisor.predictors.applicability table, or None
        self.conformal = manifest.get("conformal") or {}

    @property
    def device(self) -> str:
        return self.manifest["device"]

    @property
    def runtime(self) -> str:
        return self.manifest["runtime"]

    def predict(self, features, settings: list[str], threads: int | None = None, structure: dict | None = None,
                measured: dict | None = None) -> list[dict]:
        """Per setting: ``latency_ms``, ``ratio``, ``baseline_latency_ms`` (each with a nominal 90 %
        ``*_interval`` [lo, hi]), ``energy_mj`` (+ ``energy_is_estimate``), ``accuracy_drop_pct`` in
        percentage points (+ ``accuracy_source``: "predicted", None when the bundle saw no labels, or
        "baseline" for ``none``), ``fidelity_loss`` (1 - output cosine vs the original), and
        ``baseline_beyond_training``: how many times the slowest training network's the uncompressed
        latency's prior is, where it is past them (the trees' correction fades out there), else None.

        ``features``: feature name -> float (``ModelFeatures.values``) of the uncompressed model.
        ``structure``: setting -> what it does to the graph (``structure.structure_all``); without it the
        ratio falls back on the per-setting prior and the model features alone.
        ``measured``: setting -> ratio measured on the device for this network (its latency over the
        uncompressed model's): those settings report the measurement, and the others are updated from
        it where the bundle's ``network_update`` table has a pair (``network_update``). Each row says
        where its ratio comes from (``ratio_source``: baseline for ``none``, predicted, measured, or
        updated from measured S).
        """
        settings = list(settings)
        measured = self._checked_measured(measured)
        names = settings + [s for s in measured if s not in settings]  # measured settings are predicted too
        frame = self._frame(features, names, threads)
        if structure:
            from advisor.predictors.kernels import layer_columns
            from advisor.predictors.structure import frame_columns

            per_row = [structure.get(s) for s in names]
            for col, values in {**frame_columns(per_row), **layer_columns(per_row)}.items():
                frame[col] = values
        pred = predict_frame(self.suite, frame, report_range=True)
        fam = [self._setting_family(s) for s in names]
        if self.calibration is not None:
            pred = self.calibration.adjust(pred, fam)
        rows = [self._row(s, f, pred.iloc[i]) for i, (s, f) in enumerate(zip(names, fam, strict=True))]
        if measured:
            self._update(rows, pred["pred_log_ratio"].to_numpy(float), names, measured)
        return rows[:len(settings)]

    def _checked_measured(self, measured: dict | None) -> dict[str, float]:
        if not measured:
            return {}
        from advisor.predictors.network_update import check_measured

        return check_measured(measured, [s for s in self.suite.encoder.known_settings if s != "none"])

    @property
    def has_network_update(self) -> bool:
        """Whether the bundle holds the table that updates predictions from measured ratios (bundles
        trained before it existed, and device transfers, do not: measured settings are then reported as
        measured and nothing else moves)."""
        return isinstance(self.manifest.get("network_update"), dict)

    def _update(self, rows: list[dict], z, names: list[str], measured: dict[str, float]) -> None:
        """Rows updated in place from the measured ratios (``network_update.apply_network_update``):
        ratio and its interval; latency, the predicted uncompressed latency times the ratio (interval: a
        measured setting's is the uncompressed latency's own interval times the measurement; an updated
        one's, conformal from the held-out updated latencies, or for a pair written without those
        offsets, the two intervals' ends multiplied, conservatively); energy scaled with the latency."""
        from advisor.predictors.network_update import apply_network_update

        upd = apply_network_update(self.manifest.get("network_update") or {},
                                   dict(zip(names, map(float, z), strict=True)), measured)
        for row in rows:
            u = upd.get(row["setting"])
            if u is None or u["source"] is None:
                continue
            ratio, (lo, hi) = math.exp(u["z"]), np.exp(u["interval"]).tolist()
            base, (base_lo, base_hi) = row["baseline_latency_ms"], row["baseline_latency_ms_interval"]
            # energy is predicted as a function of latency: scaled with it (mJ per ms of this row)
            per_ms = row["energy_mj"] / row["latency_ms"] if row.get("energy_mj") is not None else None
            off = u.get("latency_offsets")
            lat_iv = ([base * ratio * math.exp(off[0]), base * ratio * math.exp(off[1])] if off else
                      [base_lo * lo, base_hi * hi])
            row.update(ratio=ratio, ratio_interval=[lo, hi], ratio_source=u["source"], latency_ms=base * ratio,
                       latency_ms_interval=lat_iv)
            if per_ms is not None:
                row.update(energy_mj=per_ms * base * ratio, energy_mj_interval=[per_ms * lat_iv[0], per_ms * lat_iv[1]])

    def _frame(self, features, settings: list[str], threads: int | None):
        import pandas as pd

        from advisor.predictors.dataset import FEATURE_PREFIX

        values = features if isinstance(features, dict) else features.values
        names = self.manifest["feature_names"]
        missing = [n for n in names if n not in values]
        if missing:
            raise DataError(f"Features lack {len(missing)} name(s) of schema "
                            f"{self.manifest['feature_schema_version']} (e.g. {missing[:3]}); extract them with "
                            "advisor.features.extract_features.")
        for s in settings:
            self.suite.encoder.describe(s)  # SettingError for an unknown setting, before any work
        threads = int(threads or self.manifest.get("threads", [1])[0])
        row = {FEATURE_PREFIX + n: float(values[n]) for n in names}
        return pd.DataFrame([{**row, "setting": s, "threads": threads} for s in settings])

    def _setting_family(self, name: str) -> str:
        desc = self.suite.encoder.describe(name)
        return next((f for f in FAMILIES if desc.get(f"s_fam_{f}") == 1.0), "other")

    def _bounds(self, key: str, z: float, group: str) -> list[float]:
        q = self.conformal.get(key)
        if not q:
            return [float("nan"), float("nan")]
        lo, hi = interval([z], q, [group])
        return [float(lo[0]), float(hi[0])]

    def _row(self, setting: str, group: str, p) -> dict:
        is_none = setting == "none"
        zb, zr, zl = float(p["pred_log_base"]), float(p["pred_log_ratio"]), float(p["pred_log_latency"])
        base_iv = np.exp(self._bounds("baseline_latency", zb, "baseline"))
        ratio_iv = [1.0, 1.0] if is_none else np.exp(self._bounds("ratio", zr, group)).tolist()
        lat_iv = base_iv.tolist() if is_none else np.exp(self._bounds("latency", zl, group)).tolist()
        threads = [int(self.manifest.get("threads", [1])[0])] * 2
        energy_iv = energy_from_latency(self.suite, np.array(lat_iv), threads).tolist()
        acc_mode = self.suite.accuracy.mode_
        acc = None if is_none else _finite(p["pred_acc_pp"])
        # How far past the training networks the uncompressed latency's prior lies (a calibrated bundle
        # was fitted to the target's own networks, whatever the base model's range)
        excess = float(p["base_prior_excess"]) if self.calibration is None else math.nan
        return {"setting": setting, "baseline_latency_ms": math.exp(zb), "baseline_latency_ms_interval": base_iv.tolist(),
                "baseline_beyond_training": math.exp(excess) if excess > 0 else None,
                "ratio": 1.0 if is_none else math.exp(zr), "ratio_interval": ratio_iv,
                "ratio_source": "baseline" if is_none else "predicted",
                "latency_ms": math.exp(zl), "latency_ms_interval": lat_iv,
                "energy_mj": _finite(p["pred_energy_mj"]), "energy_mj_interval": energy_iv,
                "energy_is_estimate": self.suite.energy.get("mode") != "measured",
                "accuracy_drop_pct": 0.0 if is_none else acc,
                "accuracy_source": "baseline" if is_none else "predicted" if acc is not None and acc_mode != "none"
                else None,
                "accuracy_method": acc_mode, "fidelity_loss": 0.0 if is_none else
                float(FidelityLossModel.from_scale(p["pred_log_fid"])) if self.suite.fidelity.mode_ != "none" else None}


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def load_bundle(device: str, runtime: str, bundle_dir: str | Path | None = None) -> PredictorBundle:
    """The checked bundle for ``device``/``runtime`` (lookup order in ``advisor.predictors.bundle``)."""
    path = find_bundle(device, runtime, bundle_dir)
    manifest, files = read_checked(path, device, runtime)
    try:
        suite = suite_from_files(manifest, files)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise refusal(path, f"its estimators' parameters in manifest.json are unreadable ({type(exc).__name__}: "
                      f"{exc})", manifest.get("device", device or "DEVICE"),
                      manifest.get("runtime", runtime or "RUNTIME")) from None
    from advisor.predictors.applicability import FILE, from_file

    return PredictorBundle(path, manifest, suite, _calibration(path, files), from_file(files.get(FILE)))


def _calibration(path: Path, files: dict[str, bytes]):
    """The bundle's few-shot correction (``calibration.json``, sha256-checked like the models), or None."""
    from advisor.predictors.bundle import BundleError
    from advisor.predictors.calibration import CALIBRATION_FILE, Calibration

    if CALIBRATION_FILE not in files:
        return None
    try:
        return Calibration.from_json(files[CALIBRATION_FILE])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"Predictor bundle '{path}' refused: {CALIBRATION_FILE} is unreadable ({exc}). "
                          "Recalibrate: advisor train --profiles FILE --calibrate-from BASE_BUNDLE") from None
