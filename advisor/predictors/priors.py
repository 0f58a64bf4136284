"""Physically grounded priors: a roofline baseline latency, and an Amdahl-style ratio per setting.

``RooflinePrior`` models the uncompressed network's latency as a roofline plus dispatch overhead:

    latency_ms = max(t_mac_ms * macs_total, t_byte_ms * (weight_bytes_total + activation_bytes_total))
                 [+ t_node_ms * n_compute_nodes]

with positive constants fitted to the *relative* (log) error under a soft-L1 loss, so tiny and large
networks count alike and a few outliers do not drag the constants. The per-node term is on by
default: on the host-cpu data it halved the held-out error of the smallest (MLP) networks. The prior
is a feature of the baseline-latency regressor and its fallback when a bundle holds no regressor.
"""
from __future__ import annotations

import numpy as np

from advisor.predictors.base import ParamsMixin, check_fitted

_MACS, _WBYTES, _ABYTES, _NODES = "f_macs_total", "f_weight_bytes_total", "f_activation_bytes_total", \
    "f_n_compute_nodes"
_START = (3e-8, 1e-8, 1e-4)  # ms per MAC, per byte, per node: a ~30 GMAC/s, ~100 GB/s CPU core


def _terms(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (X[_MACS].to_numpy(float), X[_WBYTES].to_numpy(float) + X[_ABYTES].to_numpy(float),
            X[_NODES].to_numpy(float))


def _roofline(coef, macs, nbytes, nodes) -> np.ndarray:
    out = np.maximum(coef[0] * macs, coef[1] * nbytes)
    return out + coef[2] * nodes if len(coef) > 2 else out


class RooflinePrior(ParamsMixin):
    """Baseline latency (ms) from MACs, bytes and nodes; ``X`` is a frame with ``f_`` feature columns."""

    def __init__(self, per_node: bool = True):
        self.per_node = per_node

    def fit(self, X, y):
        """``y``: measured latency in ms (> 0), one per row of ``X``."""
        from scipy.optimize import least_squares

        macs, nbytes, nodes = _terms(X)
        y = np.asarray(y, float)
        keep = np.isfinite(y) & (y > 0) & np.isfinite(macs + nbytes + nodes)
        start = np.log(_START[:3 if self.per_node else 2])
        if keep.sum() < len(start):
            self.coef_ = np.exp(start)
            return self

        def residuals(log_coef):
            pred = _roofline(np.exp(log_coef), macs[keep], nbytes[keep], nodes[keep])
            # A faint pull towards the generic constants: a term the networks never exercise (the byte
            # term when no training network is memory-bound) has no gradient and stays there instead of
            # wandering; a term they do exercise is set by the data. (A pull of 0.3 doubled the
            # held-out error of the 11-network TX2 bundle, whose GPU constants are far from a CPU's.)
            return np.concatenate([np.log(np.maximum(pred, 1e-9)) - np.log(y[keep]), 0.01 * (log_coef - start)])

        sol = least_squares(residuals, start, loss="soft_l1", f_scale=0.2)
        self.coef_ = np.exp(sol.x)
        return self

    def predict(self, X) -> np.ndarray:
        """Prior latency in ms (> 0) for each row of ``X``."""
        check_fitted(self, "coef_")
        return np.maximum(_roofline(self.coef_, *_terms(X)), 1e-6)

    def constants(self) -> dict:
        """The fitted constants, named with units."""
        check_fitted(self, "coef_")
        out = {"t_mac_ms": float(self.coef_[0]), "t_byte_ms": float(self.coef_[1])}
        if len(self.coef_) > 2:
            out["t_node_ms"] = float(self.coef_[2])
        return out

    @classmethod
    def from_constants(cls, constants: dict) -> RooflinePrior:
        prior = cls(per_node="t_node_ms" in constants)
        coef = [constants["t_mac_ms"], constants["t_byte_ms"]] + (
            [constants["t_node_ms"]] if prior.per_node else [])
        prior.coef_ = np.asarray(coef, float)
        return prior


class AmdahlRatioPrior(ParamsMixin):
    """Per-setting Amdahl-style prior of the latency ratio: ``ratio = a_s + b_s * x``.

    ``x`` (column ``x_amdahl``) is the physical quantity the setting changes: the share of MACs in
    the ops it touches (quantization, weight-only, sparsity: the untouched share runs as before, the
    touched share at a setting-specific speed), or the prior MAC ratio for channel pruning. ``a_s``,
    ``b_s`` are least-absolute-deviation fits per setting seen in training (the median with fewer
    than ``min_rows`` rows or no spread in ``x``); an unseen setting gets its prior MAC ratio. Rows are identified by the
    one-hot ``s_is_<name>`` columns of the design matrix.
    """

    def __init__(self, min_rows: int = 8):
        self.min_rows = min_rows

    def fit(self, X, y):
        """``y``: measured ratios (> 0), one per row of ``X``."""
        y = np.asarray(y, float)
        self.coef_ = {}
        for col in (c for c in X.columns if c.startswith("s_is_")):
            sel = (X[col].to_numpy() == 1.0) & np.isfinite(y)
            if not sel.any():
                continue
            x, t = X["x_amdahl"].to_numpy(float)[sel], y[sel]
            if sel.sum() >= self.min_rows and np.ptp(x) > 1e-3:
                a, b = _l1_line(x, t)
            else:
                a, b = float(np.median(t)), 0.0
            self.coef_[col[len("s_is_"):]] = [float(a), float(b)]
        return self

    def predict(self, X) -> np.ndarray:
        """Prior ratio (> 0) per row."""
        check_fitted(self, "coef_")
        out = np.exp(X["x_log_mac_ratio_prior"].to_numpy(float))
        x = X["x_amdahl"].to_numpy(float)
        for name, (a, b) in self.coef_.items():
            col = f"s_is_{name}"
            if col in X.columns:
                sel = X[col].to_numpy() == 1.0
                out[sel] = a + b * x[sel]
        return np.maximum(out, 0.02)


def _l1_line(x: np.ndarray, t: np.ndarray, iters: int = 30) -> tuple[float, float]:
    """Intercept and slope minimising sum |t - a - b x| (IRLS): a few wild ratios (a runtime falling off
    a fast path) must not tilt the line through the typical networks."""
    b, a = np.polyfit(x, t, 1)
    for _ in range(iters):
        w = 1.0 / np.sqrt(np.maximum(np.abs(t - a - b * x), 1e-4))
        b, a = np.polyfit(x, t, 1, w=w)
    return float(a), float(b)
