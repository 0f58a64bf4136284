"""Op-level cost priors: a graph's latency, or a setting's latency ratio, as a sum of per-unit costs of
what the graph computes (``structure.QUANTITIES``: MACs by kernel kind, activation elements,
weights de-quantized per run, nodes), fitted to measured latencies or ratios; ``KernelCostPrior``
prices the layer-time model's MAC-layer time beside the work outside the MAC layers.
"""
from __future__ import annotations

import math

import numpy as np

from advisor.predictors.base import ParamsMixin, check_fitted


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

    def _columns(self) -> list[str]:
        """The quantities read from the frame (``q0_<name>`` / ``q1_<name>``), each added to its kind."""
        from advisor.predictors.structure import QUANTITIES

        return list(QUANTITIES)

    def _matrices(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(q0, q1) over ``_kinds()`` (merged kinds added to their target); NaN without the columns."""
        kinds, names = self._kinds(), self._columns()

        def block(prefix):
            cols = [f"{prefix}{k}" for k in names]
            if not set(cols) <= set(X.columns):
                return np.full((len(X), len(kinds)), np.nan)
            raw = X[cols].to_numpy(float)
            out = np.zeros((len(X), len(kinds)))
            for j, k in enumerate(names):
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

    def _jacobian(self, theta, groups, a, b, t):
        """d ``_residuals`` / d theta, analytic (least_squares' finite differences took one residual
        evaluation a parameter per step: 15 of a host training run's 46 CPU seconds). With c = exp(log
        costs), d r / d log c_k = c_k (b_k / b.c - a_k / a.c); a group's anchor moves every cost of it."""
        c = np.exp(self._log_costs(theta, groups))
        d = c * (b / np.maximum(b @ c, 1e-30)[:, None] - a / np.maximum(a @ c, 1e-30)[:, None])
        anchors = [d[:, groups == g].sum(1) for g in (1, 2)]
        return np.column_stack(anchors + [d])

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
        shrink = np.hstack([np.zeros((len(self.quantities_), n_anchor)), pull * np.eye(len(self.quantities_))])

        def jacobian(theta):
            return np.vstack([sw[:, None] * self._jacobian(theta, groups, a, b, t), shrink])

        jac = jacobian if self._jacobian is not None else "2-point"
        sol = least_squares(residuals, start, jac=jac, loss="soft_l1", f_scale=0.1, max_nfev=300)
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

    _jacobian = None  # its own residuals: least_squares' finite differences (a small share of the fit)

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
    every run, nodes, and apart from those the quantize / de-quantize nodes onnxruntime folds into its
    integer kernels (``q_fused``, ``nodes_qfused``: structure version 11) -- priced in us per unit and
    fitted to the measured ratios like ``CostModelPrior`` (the layer time is the anchor, cost 1).

    The layer rows alone say that a weight-only 8-bit MLP runs as fast as the float one (its MAC
    layers are the same float GEMMs), while the weights it de-quantizes on every run make it 2.5x
    slower; and fp16 on depthwise networks 1.0 for 1.15 (the Casts). Families held out (16 families,
    2026-11-29), pricing that work beside the layer times took the ratio from 75.3% to 75.9% within
    +-10% at the same blend weight (76.5% at ``models.KERN_WEIGHT`` 0.7)."""

    KINDS = ("kern_us", "act", "q_act", "dq_w", "dq4_w", "nodes", "q_fused", "nodes_qfused")
    MERGE = {"nodes_shape": "nodes"}
    _START = (0.0, math.log(5e-4), math.log(5.0))  # us per element, per node (a MAC ~1e-4 us)

    def _kinds(self) -> list[str]:
        return list(self.KINDS)

    def _columns(self) -> list[str]:
        return list(self.KINDS) + list(self.MERGE)

    @staticmethod
    def _group(name: str) -> int:
        return 0 if name == "kern_us" else 2 if name.startswith("nodes") else 1


class KernelLatencyPrior(KernelCostPrior, CostLatencyPrior):
    """The uncompressed network's latency (ms) as ``s K0 + sum_k c_k q0_k``: the layer-time model's
    MAC-layer time of the graph (us, ``q0_kern_us``, ``suite.baseline_inputs``) on the measured scale
    plus the work outside the MAC layers (``KernelCostPrior.KINDS``), with absolute costs fitted to
    measured baseline latencies like ``CostLatencyPrior``."""

    _START = (math.log(1e-3), math.log(5e-7), math.log(5e-3))  # ms per profiled us, per element, per node
