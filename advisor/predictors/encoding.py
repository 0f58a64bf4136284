"""Compression setting -> numeric columns, and the design matrices the estimators read.

A setting is described twice: a one-hot column per known setting (``s_is_<name>``), and descriptive
columns derived from its registered recipe (family, weight/activation/compute bits, per-channel,
calibrated, sparsity, channel-prune ratio, what it touches), so a predictor can say something about
a setting it saw rarely or never. Two physically motivated model x setting columns are added: the
share of MACs in the op types the setting touches, and the prior MAC ratio of the setting.
"""
from __future__ import annotations

import math

from advisor.errors import SettingError
from advisor.predictors.dataset import FEATURE_PREFIX

FAMILIES = ("baseline", "precision", "quantization", "weight-only", "pruning", "structured-pruning", "combined")
DESCRIPTOR_COLUMNS = tuple(f"s_fam_{f}" for f in FAMILIES) + (
    "s_fam_other", "s_weight_bits", "s_act_bits", "s_compute_bits", "s_per_channel", "s_calibrated",
    "s_dynamic_quant", "s_dequant_weights", "s_sparsity", "s_chprune", "s_touches_conv", "s_touches_gemm",
    "s_touches_recurrent")
_MAX_COLUMNS = ("s_per_channel", "s_calibrated", "s_dynamic_quant", "s_dequant_weights", "s_sparsity", "s_chprune",
                "s_touches_conv", "s_touches_gemm", "s_touches_recurrent")
DERIVED_COLUMNS = ("x_touched_macs_share", "x_log_mac_ratio_prior", "x_amdahl")
_DEFAULTS = {"s_weight_bits": 32.0, "s_act_bits": 32.0, "s_compute_bits": 32.0}


def describe_setting(name: str) -> dict[str, float]:
    """Descriptive numeric columns of the registered setting ``name`` (SettingError if unknown)."""
    from advisor.compression import get_setting

    s = get_setting(name)
    d = {c: _DEFAULTS.get(c, 0.0) for c in DESCRIPTOR_COLUMNS}
    fam = s.family if s.family in FAMILIES else "other"
    d[f"s_fam_{fam}"] = 1.0
    if s.family == "combined":
        for step in s.params.get("steps", ()):
            _merge(d, describe_setting(step))
    else:
        _describe_family(d, s.family, s.params, bool(getattr(s, "needs_calibration", False)))
    touches = set(getattr(s, "touches", ()) or ())
    d["s_touches_conv"] = max(d["s_touches_conv"], float(bool(touches & {"Conv", "ConvTranspose"})))
    d["s_touches_gemm"] = max(d["s_touches_gemm"], float(bool(touches & {"Gemm", "MatMul"})))
    d["s_touches_recurrent"] = max(d["s_touches_recurrent"], float(bool(touches & {"LSTM", "GRU", "RNN"})))
    return d


def _describe_family(d: dict, family: str, params: dict, calibrated: bool) -> None:
    if family == "precision":
        d.update(s_weight_bits=16.0, s_act_bits=16.0, s_compute_bits=16.0)
    elif family == "quantization":
        d.update(s_weight_bits=8.0, s_act_bits=8.0, s_compute_bits=8.0, s_calibrated=float(calibrated),
                 s_dynamic_quant=float(not calibrated), s_per_channel=float(bool(params.get("per_channel"))))
    elif family == "weight-only":
        bits = float(params.get("bits", 8))
        d.update(s_weight_bits=bits, s_dequant_weights=1.0, s_per_channel=float(bits < 16))
    elif family == "pruning":
        d["s_sparsity"] = float(params.get("sparsity", 0.0))
    elif family == "structured-pruning":
        d["s_chprune"] = float(params.get("ratio", 0.0))


def _merge(d: dict, step: dict) -> None:
    """Fold one pipeline step into a combined setting: narrowest bits, largest ratios, any flag."""
    for c in ("s_weight_bits", "s_act_bits", "s_compute_bits"):
        d[c] = min(d[c], step[c])
    for c in _MAX_COLUMNS:
        d[c] = max(d[c], step[c])


class SettingEncoder:
    """Columns for a fixed list of known settings. ``table`` (from a bundle manifest) pins the
    descriptors of known settings so a bundle encodes them exactly as it did when trained."""

    def __init__(self, known_settings: list[str], table: dict[str, dict] | None = None):
        self.known_settings = list(known_settings)
        self.table = {n: dict(table[n]) if table and n in table else describe_setting(n)
                      for n in self.known_settings}

    def columns(self) -> list[str]:
        return [f"s_is_{n}" for n in self.known_settings] + list(DESCRIPTOR_COLUMNS)

    def describe(self, name: str) -> dict[str, float]:
        if name in self.table:
            return self.table[name]
        try:
            return describe_setting(name)
        except SettingError:
            raise SettingError(f"Unknown setting '{name}'. Known to this predictor bundle: "
                               f"{', '.join(self.known_settings)}. See 'advisor settings'.") from None

    def encode(self, name: str) -> dict[str, float]:
        row = {f"s_is_{n}": float(n == name) for n in self.known_settings}
        row.update(self.describe(name))
        return row

    def to_dict(self) -> dict:
        return {"known_settings": self.known_settings, "columns": self.columns(), "table": self.table}

    @classmethod
    def from_dict(cls, data: dict) -> SettingEncoder:
        return cls(data["known_settings"], table=data["table"])


def setting_of_row(row: dict, known: list[str]) -> str | None:
    """The known setting whose one-hot column is set in ``row`` (None for an unseen setting)."""
    for n in known:
        if row.get(f"s_is_{n}") == 1.0:
            return n
    return None


def touched_macs_share(feats: dict, desc: dict) -> float:
    """Share of the model's MACs in op types the setting touches (``feats`` keyed by feature name)."""
    share = 0.0
    if desc["s_touches_conv"]:
        share += feats["share_conv"] + feats["share_conv_depthwise"] + feats["share_conv_grouped"]
    if desc["s_touches_gemm"]:
        share += feats["share_gemm"] + (feats["share_matmul_dynamic"] if desc["s_act_bits"] < 32 else 0.0)
    if desc["s_touches_recurrent"]:
        share += feats["share_recurrent"]
    if desc["s_fam_precision"] or desc["s_fam_baseline"]:
        share = 1.0 if desc["s_fam_precision"] else 0.0
    return min(1.0, share)


def mac_ratio_prior(feats: dict, desc: dict, channels_kept: float | None = None) -> float:
    """MACs of the compressed variant / MACs of the original (dense runtime; quantization = 1.0).

    Channel pruning keeps a share ``k`` of the channels (``channels_kept`` from the setting's notes
    when known, else 1 - ratio): ordinary convs between pruned layers lose both in- and output
    channels (~k^2), depthwise/grouped convs ~k; everything else is unchanged.
    """
    r = desc["s_chprune"]
    if r <= 0:
        return 1.0
    k = channels_kept if channels_kept is not None and math.isfinite(channels_kept) else 1.0 - r
    conv, dw = feats["share_conv"], feats["share_conv_depthwise"] + feats["share_conv_grouped"]
    return max(1e-3, 1.0 - conv * (1.0 - k * k) - dw * (1.0 - k))


def model_matrix(frame):
    """Setting-independent inputs: every ``f_`` feature column, ``rt_threads``, and per-MAC ratios
    that trees cannot form themselves (weight / activation traffic and node count per MAC)."""
    import numpy as np

    from advisor.predictors.dataset import feature_columns

    X = frame[feature_columns()].astype(float).copy()
    X["rt_threads"] = frame["threads"].astype(float).to_numpy()
    macs = np.maximum(X["f_macs_total"].to_numpy(), 1.0)
    X["x_log_macs"] = np.log(macs)
    X["x_log_params_per_mac"] = np.log((X["f_params_total"].to_numpy() + 1.0) / macs)
    X["x_log_act_bytes_per_mac"] = np.log((X["f_activation_bytes_total"].to_numpy() + 1.0) / macs)
    X["x_log_macs_per_node"] = np.log(macs / np.maximum(X["f_n_compute_nodes"].to_numpy(), 1.0))
    from advisor.predictors.structure import Q_COLUMNS

    _copy_columns(X, frame, Q_COLUMNS[:len(Q_COLUMNS) // 2])  # the original graph's quantities (cost prior)
    return X


def _copy_columns(X, frame, names) -> None:
    """``frame``'s columns ``names`` into ``X`` (NaN where ``frame`` lacks one), skipping those ``X`` has."""
    import numpy as np

    for c in names:
        if c not in X.columns:
            X[c] = frame[c].to_numpy(float) if c in frame.columns else np.nan


def design_matrix(frame, encoder: SettingEncoder):
    """Inputs of the per-setting estimators: model columns + setting columns + derived columns."""
    import numpy as np
    import pandas as pd

    X = model_matrix(frame)
    enc = pd.DataFrame([encoder.encode(s) for s in frame["setting"]], columns=encoder.columns(), index=X.index)
    feats = frame[[c for c in frame.columns if c.startswith(FEATURE_PREFIX)]]
    feats = feats.rename(columns=lambda c: c[len(FEATURE_PREFIX):]).to_dict("records")
    desc = enc[list(DESCRIPTOR_COLUMNS)].to_dict("records")
    X = pd.concat([X, enc], axis=1)
    X["x_touched_macs_share"] = [touched_macs_share(f, d) for f, d in zip(feats, desc, strict=True)]
    X["x_log_mac_ratio_prior"] = np.log([mac_ratio_prior(f, d) for f, d in zip(feats, desc, strict=True)])
    # The quantity an Amdahl-style prior regresses the ratio on: MAC ratio for channel pruning, else
    # the share of MACs the setting touches.
    X["x_amdahl"] = np.where(X["s_chprune"] > 0, np.exp(X["x_log_mac_ratio_prior"]), X["x_touched_macs_share"])
    from advisor.predictors.structure import ALL_COLUMNS

    _copy_columns(X, frame, ALL_COLUMNS)  # what the setting does to this graph (NaN where the rows do not say)
    return X
