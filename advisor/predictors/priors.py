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

import math

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


class CostModelPrior(ParamsMixin):
    """The latency ratio as a ratio of op-level costs: ``ratio = cost(q1) / cost(q0)`` with
    ``cost(q) = sum_k c_k q_k`` over ``structure.QUANTITIES`` (float MACs by op kind and channel
    alignment, integer MACs, activation elements written and converted, weight elements de-quantized
    per run, compute nodes) of the variant (``q1_*`` columns) and the original (``q0_*``).

    One set of positive costs serves every setting, fitted to the measured ratios (log scale, soft-L1
    loss), so what a setting does to a graph of a family never seen is priced by op-level costs
    learned on other families. Costs are relative (the scale cancels): each is a group anchor (MACs:
    fixed at 1; elements; nodes) times ``exp(delta_k)``, with an L2 pull of ``delta_k`` towards 0, so a
    quantity the training graphs never had costs what its group costs.

    ``MERGE``: kinds priced together here. A setting rarely moves work between them, and held out by
    family (the only family of batch-1 fully connected layers is the MLP) a split that cancels in a
    ratio only adds unidentified costs; the absolute prior (``CostLatencyPrior``) keeps them apart.
    MatMulNBits (integer weights unpacked in the kernel) is priced as the float GEMM it replaces: only
    the transformers have it, and held out, an unidentified cost made their wq8 ratio 0.31 for 1.05.
    """

    MERGE = {"mac_gemv": "mac_gemm", "nodes_shape": "nodes", "mac_mm_nbits": "mac_gemm"}
    _START = (0.0, math.log(5.0), math.log(5e4))  # per element ~5 MACs; per node ~50k MACs of dispatch

    def __init__(self, shrink: float = 1.0, min_rows: int = 30):
        self.shrink = shrink
        self.min_rows = min_rows

    @staticmethod
    def _group(name: str) -> int:
        return 0 if name.startswith("mac_") else 2 if name.startswith("nodes") else 1

    def _kinds(self) -> list[str]:
        from advisor.predictors.structure import QUANTITIES

        return [k for k in QUANTITIES if k not in self.MERGE]

    def _matrices(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(q0, q1) over ``_kinds()`` (merged kinds added to their target); NaN without the columns."""
        from advisor.predictors.structure import QUANTITIES

        kinds = self._kinds()

        def block(prefix):
            cols = [f"{prefix}{k}" for k in QUANTITIES]
            if not set(cols) <= set(X.columns):
                return np.full((len(X), len(kinds)), np.nan)
            raw = X[cols].to_numpy(float)
            out = np.zeros((len(X), len(kinds)))
            for j, k in enumerate(QUANTITIES):
                out[:, kinds.index(self.MERGE.get(k, k))] += raw[:, j]
            return out

        return block("q0_"), block("q1_")

    def _start(self) -> np.ndarray:
        return np.asarray(self._START[1:], float)

    def _log_costs(self, theta: np.ndarray, groups: np.ndarray) -> np.ndarray:
        anchors = np.array([0.0, theta[0], theta[1]])
        return anchors[groups] + theta[2:]

    def _residuals(self, theta, groups, a, b, t):
        c = np.exp(self._log_costs(theta, groups))
        return np.log(np.maximum(b @ c, 1e-30)) - np.log(np.maximum(a @ c, 1e-30)) - t

    def fit(self, X, y, sample_weight=None):
        """``y``: measured values (> 0); rows without structure columns (NaN) are ignored.
        ``sample_weight``: per row (each residual is scaled by its square root)."""
        from scipy.optimize import least_squares

        q0, q1 = self._matrices(X)
        y = np.asarray(y, float)
        keep = np.isfinite(q0).all(1) & np.isfinite(q1).all(1) & np.isfinite(y) & (y > 0)
        self.quantities_ = self._kinds()
        groups = np.array([self._group(k) for k in self.quantities_])
        self.n_rows_ = int(keep.sum())
        if self.n_rows_ < self.min_rows:
            self.log_costs_ = None
            return self
        a, b, t = q0[keep], q1[keep], np.log(y[keep])
        pull, n_anchor = math.sqrt(self.shrink), len(self._start())
        sw = np.ones(len(t)) if sample_weight is None else np.sqrt(np.asarray(sample_weight, float)[keep])

        def residuals(theta):
            return np.concatenate([sw * self._residuals(theta, groups, a, b, t), pull * theta[n_anchor:]])

        start = np.concatenate([self._start(), np.zeros(len(self.quantities_))])
        sol = least_squares(residuals, start, loss="soft_l1", f_scale=0.1, max_nfev=300)
        self.log_costs_ = self._log_costs(sol.x, groups).tolist()
        return self

    def _costs(self) -> np.ndarray | None:
        check_fitted(self, "n_rows_")
        return None if self.log_costs_ is None else np.exp(np.asarray(self.log_costs_, float))

    def predict(self, X) -> np.ndarray:
        """Prior ratio per row; NaN where the row has no structure columns or the prior is unfitted."""
        c = self._costs()
        if c is None:
            return np.full(len(X), np.nan)
        q0, q1 = self._matrices(X)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (q1 @ c) / (q0 @ c)
        return np.where(np.isfinite(out) & (out > 0), out, np.nan)

    def constants(self) -> dict | None:
        """Cost per unit of each quantity (log; MAC-anchored for ratios, ms for latency), or None."""
        check_fitted(self, "n_rows_")
        if self.log_costs_ is None:
            return None
        return {"log_costs": dict(zip(self.quantities_, self.log_costs_, strict=True)), "n_rows": self.n_rows_}

    @classmethod
    def from_constants(cls, constants: dict | None) -> CostModelPrior:
        prior = cls()
        prior.quantities_ = prior._kinds()
        prior.n_rows_ = int((constants or {}).get("n_rows", 0))
        prior.log_costs_ = None if not constants else [float(constants["log_costs"][k]) for k in prior.quantities_]
        return prior


class CostLatencyPrior(CostModelPrior):
    """The uncompressed network's latency (ms) as the same additive op-level cost, ``sum_k c_k q0_k``,
    with absolute costs (ms per MAC of each kind, per element, per node; every kind apart) fitted to
    measured baseline latencies (log scale, soft-L1, the same pull of each cost towards its group's
    anchor)."""

    MERGE: dict = {}
    _START = (math.log(3e-8), math.log(1.5e-7), math.log(1.5e-3))  # ~30 GMAC/s; ~1.5 us per node

    def _start(self) -> np.ndarray:
        return np.asarray(self._START, float)

    def _log_costs(self, theta: np.ndarray, groups: np.ndarray) -> np.ndarray:
        return np.asarray(theta[:3])[groups] + theta[3:]

    def _residuals(self, theta, groups, a, b, t):
        c = np.exp(self._log_costs(theta, groups))
        return np.log(np.maximum(a @ c, 1e-30)) - t

    def _matrices(self, X) -> tuple[np.ndarray, np.ndarray]:
        q0, _ = super()._matrices(X)
        return q0, q0  # the original graph only

    def predict(self, X) -> np.ndarray:
        """Prior latency in ms per row; NaN where the row has no structure columns or it is unfitted."""
        c = self._costs()
        if c is None:
            return np.full(len(X), np.nan)
        out = self._matrices(X)[0] @ c
        return np.where(np.isfinite(out) & (out > 0), out, np.nan)


class KernelCostPrior(CostModelPrior):
    """The latency ratio as ``(K1 + sum_k c_k q1_k) / (K0 + sum_k c_k q0_k)``: ``K`` the layer-time
    model's predicted MAC-layer time of the variant / the original (us, columns ``q1_kern_us`` /
    ``q0_kern_us``, ``suite.ratio_inputs``), the sum the work its layer rows do not hold -- activation
    elements written and converted (Cast, QuantizeLinear/DequantizeLinear), weights de-quantized on
    every run, nodes -- priced in us per unit and fitted to the measured ratios like
    ``CostModelPrior`` (the layer time is the anchor, cost 1).

    The layer rows alone say that a weight-only 8-bit MLP runs as fast as the float one (its MAC
    layers are the same float GEMMs), while the weights it de-quantizes on every run make it 2.5x
    slower; and fp16 on depthwise networks 1.0 for 1.15 (the Casts). Families held out (16 families,
    2026-11-29), pricing that work beside the layer times took the ratio from 75.3% to 75.9% within
    +-10% at the same blend weight (76.5% at ``models.KERN_WEIGHT`` 0.7)."""

    KINDS = ("kern_us", "act", "q_act", "dq_w", "dq4_w", "nodes")
    MERGE = {"nodes_shape": "nodes"}
    _START = (0.0, math.log(5e-4), math.log(5.0))  # us per element, per node (a MAC ~1e-4 us)

    def _kinds(self) -> list[str]:
        return list(self.KINDS)

    def _matrices(self, X):
        kinds = self._kinds()

        def block(prefix):
            names = kinds + list(self.MERGE)
            cols = [f"{prefix}{k}" for k in names]
            if not set(cols) <= set(X.columns):
                return np.full((len(X), len(kinds)), np.nan)
            raw = X[cols].to_numpy(float)
            out = np.zeros((len(X), len(kinds)))
            for j, k in enumerate(names):
                out[:, kinds.index(self.MERGE.get(k, k))] += raw[:, j]
            return out

        return block("q0_"), block("q1_")

    @staticmethod
    def _group(name: str) -> int:
        return 0 if name == "kern_us" else 2 if name.startswith("nodes") else 1
