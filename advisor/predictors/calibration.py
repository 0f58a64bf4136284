"""Few-shot calibration: adapt a fitted bundle to a board from a handful of profiled networks.

A base bundle (e.g. the shipped host or TX2 one) predicts on the log scale; on a new board the
errors are mostly systematic (the board is k times slower, a setting family speeds up less). The
correction, fitted on the user's few networks, is

* baseline latency: ``z' = c + a + b * (z - c)`` where ``z`` is the base bundle's log(ms), ``c`` the
  median ``z`` of the calibration networks, ``a`` the median residual and ``b`` a Theil-Sen slope
  shrunk toward 1 by ``n / (n + SLOPE_K)`` (``b = 1`` below ``MIN_SLOPE_NETWORKS`` networks);
* ratio: per setting family, the median over networks of each network's median log residual,
  shrunk toward 0 by ``n_f / (n_f + SHRINK_K)``; families never seen keep the base prediction.

Energy predictions are scaled with latency (power left as the base bundle's); the base bundle's
conformal intervals are shifted with the point predictions, not re-fitted. A calibrated bundle is
the base bundle's files, a ``calibration.json`` (sha256 in the manifest like every other file) and
manifest fields ``calibration`` (method, base bundle hash, n networks, leave-one-network-out figures);
its ``known_settings`` are the settings the calibration profiles hold (the base's in ``base_known_settings``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

CALIBRATION_FILE = "calibration.json"
CALIBRATION_VERSION = 1
METHOD = ("baseline: log offset + Theil-Sen slope in log(predicted) shrunk toward 1 (n/(n+8), from 4 networks); "
          "ratio: per setting-family log offset shrunk toward 0 (n/(n+2))")
SHRINK_K = 2.0
SLOPE_K = 8.0
MIN_SLOPE_NETWORKS = 4
SLOPE_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class Calibration:
    """A fitted correction on the base bundle's log scale (see the module docstring)."""

    base_offset: float = 0.0
    base_slope: float = 1.0
    base_center: float = 0.0
    ratio_offsets: dict = field(default_factory=dict)
    n_networks: int = 0
    n_rows: int = 0

    def to_json(self) -> bytes:
        doc = {"calibration_version": CALIBRATION_VERSION, "method": METHOD, **asdict(self)}
        return (json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Calibration:
        doc = json.loads(raw)
        if doc.get("calibration_version") != CALIBRATION_VERSION:
            raise ValueError(f"calibration version {doc.get('calibration_version')!r}, expected {CALIBRATION_VERSION}")
        return cls(**{k: doc[k] for k in ("base_offset", "base_slope", "base_center", "ratio_offsets",
                                          "n_networks", "n_rows")})

    def adjust(self, pred, setting_families):
        """A copy of ``predict_frame`` output with log baseline/ratio/latency and energy corrected."""
        out = pred.copy()
        z = out["pred_log_base"].to_numpy(float)
        out["pred_log_base"] = self.base_center + self.base_offset + self.base_slope * (z - self.base_center)
        shift = np.array([0.0 if f == "baseline" else float(self.ratio_offsets.get(f, 0.0))
                          for f in setting_families])
        out["pred_log_ratio"] = out["pred_log_ratio"].to_numpy(float) + shift
        old = out["pred_log_latency"].to_numpy(float)
        out["pred_log_latency"] = out["pred_log_base"] + out["pred_log_ratio"]
        if "pred_energy_mj" in out:
            out["pred_energy_mj"] = out["pred_energy_mj"].to_numpy(float) * np.exp(out["pred_log_latency"] - old)
        return out


def _theil_sen(x: np.ndarray, y: np.ndarray) -> float:
    i, j = np.triu_indices(len(x), 1)
    dx = x[j] - x[i]
    ok = np.abs(dx) > 1e-9
    return float(np.median((y[j] - y[i])[ok] / dx[ok])) if ok.any() else 1.0


def _fit_baseline(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(offset, slope, center) of the baseline correction."""
    if len(x) == 0:
        return 0.0, 1.0, 0.0
    center = float(np.median(x))
    slope = 1.0
    if len(x) >= MIN_SLOPE_NETWORKS:
        w = len(x) / (len(x) + SLOPE_K)
        slope = float(np.clip(1.0 + w * (_theil_sen(x, y) - 1.0), *SLOPE_RANGE))
    offset = float(np.median(y - center - slope * (x - center)))
    return offset, slope, center


def _fit_ratio(var) -> dict:
    """Setting family -> shrunk median log residual of the ratio over networks."""
    out = {}
    for fam, rows in var.groupby("setting_family"):
        per_net = rows.groupby("model_sha")["resid"].median().to_numpy(float)
        n = len(per_net)
        out[str(fam)] = float(np.median(per_net) * n / (n + SHRINK_K))
    return out


def fit_from_predictions(frame, pred) -> Calibration:
    """The correction from calibration rows ``frame`` and the base bundle's ``pred`` (same index)."""
    from advisor.predictors.suite import baseline_target

    none = (frame["setting"] == "none").to_numpy()
    base = frame[none]
    x = pred.loc[base.index, "pred_log_base"].to_numpy(float)
    y = np.log(baseline_target(base))
    offset, slope, center = _fit_baseline(x, y)
    var = frame[~none & (frame["ratio"] > 0)].copy()
    var["resid"] = np.log(var["ratio"].to_numpy(float)) - pred.loc[var.index, "pred_log_ratio"].to_numpy(float)
    return Calibration(offset, slope, center, _fit_ratio(var), int(frame["model_sha"].nunique()), len(frame))


def _errors(obs, pred_log, quantiles=None, groups=None) -> dict:
    """Abs % errors; ``coverage`` of the base bundle's nominal-90 % intervals around ``pred_log``."""
    from advisor.predictors.conformal import interval

    obs, z = np.asarray(obs, float), np.asarray(pred_log, float)
    err = 100.0 * np.abs(np.exp(z) / obs - 1.0)
    if not len(err):
        return {"n": 0}
    cov = None
    if quantiles:
        lo, hi = interval(z, quantiles, groups)
        cov = float(np.mean((np.log(obs) >= lo) & (np.log(obs) <= hi)))
    return {"n": int(len(err)), "median_abs_err_pct": float(np.median(err)),
            "p90_abs_err_pct": float(np.percentile(err, 90)), "within_tol": float(np.mean(err <= 10.0)),
            "tolerance": "10 pct", "coverage": cov, "spearman_median": None}


def _score(frame, pred, conformal=None) -> dict:
    from advisor.predictors.suite import baseline_target

    q = conformal or {}
    none = (frame["setting"] == "none").to_numpy()
    var = ~none & (frame["ratio"] > 0).to_numpy()
    fam = frame["setting_family"].to_numpy()
    lat_groups = np.where(none, "baseline", fam)
    return {"baseline_latency_ms": _errors(baseline_target(frame[none]), pred.loc[none, "pred_log_base"],
                                           q.get("baseline_latency"), ["baseline"] * int(none.sum())),
            "ratio": _errors(frame.loc[var, "ratio"], pred.loc[var, "pred_log_ratio"], q.get("ratio"), fam[var]),
            "latency_ms": _errors(frame["latency_ms"], pred["pred_log_latency"], q.get("latency"), lat_groups)}


def leave_one_network_out(frame, pred, conformal=None) -> dict:
    """Held-out figures before and after calibration: each network is predicted by a correction
    fitted on the other calibration networks only (``conformal``: the base bundle's quantiles)."""
    import pandas as pd

    parts = []
    for sha in frame["model_sha"].unique():
        test = (frame["model_sha"] == sha).to_numpy()
        cal = fit_from_predictions(frame[~test], pred[~test])
        parts.append(cal.adjust(pred[test], frame.loc[test, "setting_family"].tolist()))
    after = pd.concat(parts).loc[frame.index]
    return {"protocol": "leave-one-network-out over the calibration networks (correction fitted on k-1, "
                        "scored on the held-out network)",
            "n_networks": int(frame["model_sha"].nunique()), "n_rows": len(frame),
            "before": _score(frame, pred, conformal), "after": _score(frame, after, conformal)}


@dataclass(frozen=True)
class CalibrationResult:
    """The correction, its leave-one-network-out report, and (after ``calibrate_bundle``) where it went."""

    calibration: Calibration
    report: dict
    path: object = None  # pathlib.Path of the written bundle
    manifest: dict | None = None


def _base_and_rows(paths, device, runtime, base_dir):
    """(base PredictorBundle, base manifest, files, selection, frame of rows the base can predict, pred)."""
    import sys

    from advisor.predictors.bundle import find_bundle, read_checked
    from advisor.predictors.predictor import suite_from_files
    from advisor.predictors.suite import predict_frame
    from advisor.predictors.training import select

    path = find_bundle("BASE", "BASE", base_dir)
    manifest, files = read_checked(path)
    if CALIBRATION_FILE in files:
        from advisor.errors import DataError

        raise DataError(f"'{path}' is already a calibrated bundle; calibrate from its base bundle "
                        f"({(manifest.get('calibration') or {}).get('base_bundle', {}).get('path')}) instead.")
    suite = suite_from_files(manifest, files)
    sel = select(paths, device, runtime)
    known = set(manifest["known_settings"])
    frame = sel.frame[sel.frame["setting"].isin(known)].reset_index(drop=True)
    dropped = sorted(set(sel.frame["setting"]) - known)
    if dropped:
        print(f"note: the base bundle knows no setting {', '.join(dropped)}; those rows are not used",
              file=sys.stderr)
    return path, manifest, files, sel, frame, predict_frame(suite, frame)


def evaluate_calibration(paths, device, runtime, base_dir) -> CalibrationResult:
    """Before/after figures (leave-one-network-out) of calibrating ``base_dir`` with the profiles."""
    return _evaluate(paths, device, runtime, base_dir)[0]


def _evaluate(paths, device, runtime, base_dir):
    from advisor.errors import DataError

    path, manifest, files, sel, frame, pred = _base_and_rows(paths, device, runtime, base_dir)
    if frame["model_sha"].nunique() < 2:
        raise DataError("Calibration needs profiles of at least 2 networks (with a 'none' record each); "
                        f"these hold {frame['model_sha'].nunique()}.")
    report = leave_one_network_out(frame, pred, manifest.get("conformal"))
    report["base_bundle"] = _base_info(path, manifest)
    report["data"] = {"device": sel.device, "runtime": sel.runtime, "n_rows": len(frame),
                      "n_networks": int(frame["model_sha"].nunique()),
                      "settings": sorted(frame["setting"].unique())}
    return CalibrationResult(fit_from_predictions(frame, pred), report), (manifest, files, sel)


def _base_info(path, manifest) -> dict:
    from advisor.predictors.bundle import MANIFEST, sha256_bytes

    return {"path": str(path), "device": manifest.get("device"), "runtime": manifest.get("runtime"),
            "manifest_sha256": sha256_bytes((path / MANIFEST).read_bytes()),
            "training_data_hash": manifest.get("training_data_hash")}


def calibrate_bundle(paths, device, runtime, base_dir, out=None, command: str = "") -> CalibrationResult:
    """Fit the correction on every profiled network and write base files + calibration.json to ``out``
    (default: the user folder of the profiles' device/runtime, which then takes precedence)."""
    from datetime import datetime, timezone
    from pathlib import Path

    from advisor.predictors import dataset
    from advisor.predictors.applicability import FILE as APPLICABILITY_FILE
    from advisor.predictors.bundle import user_bundle_dir, write_bundle
    from advisor.predictors.predictor import clean_json

    res, (manifest, files, sel) = _evaluate(paths, device, runtime, base_dir)
    # the applicability table's figures are the base device's held-out ones: not carried to another target
    m = {k: v for k, v in manifest.items() if k not in ("files", "evaluation", "evaluation_headline", "applicability")}
    after = res.report["after"]
    seen = set(res.report["data"]["settings"])  # settings never calibrated are not offered on the board
    m.update(device=sel.device, runtime=sel.runtime, threads=sorted(int(t) for t in sel.frame["threads"].unique()),
             known_settings=[n for n in manifest["known_settings"] if n in seen],
             base_known_settings=manifest["known_settings"],
             base_evaluation_headline=manifest.get("evaluation_headline"),
             evaluation_headline={k: v for k, v in after.items() if v.get("n")},
             created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), command=command,
             calibration={"method": METHOD, "file": CALIBRATION_FILE, "base_bundle": res.report["base_bundle"],
                          "n_networks": res.calibration.n_networks, "n_rows": res.calibration.n_rows,
                          "calibration_data_hash": dataset.training_data_hash(sel.records),
                          "evaluation": res.report})
    dest = Path(out) if out else user_bundle_dir(sel.device, sel.runtime)
    files = {n: raw for n, raw in files.items() if n != APPLICABILITY_FILE}
    files = dict(files, **{CALIBRATION_FILE: res.calibration.to_json()})
    write_bundle(dest, clean_json(m), files)
    return CalibrationResult(res.calibration, res.report, dest, m)
