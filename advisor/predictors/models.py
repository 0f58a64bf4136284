"""The estimators (scikit-learn contract: ``fit`` returns self, learned attributes end in ``_``,
``predict`` checks it is fitted). Inputs are the frames of ``advisor.predictors.encoding``; each
estimator predicts on its own *scale* (``scale`` attribute, ``to_scale``/``from_scale``):

* ``BaselineLatencyModel``: log(latency_ms) of the uncompressed network, as a roofline prior times
  an XGBoost correction (the prior alone when data are too thin for trees);
* ``RatioModel``: log(latency of a setting / latency of the baseline), measured interleaved; with
  too few rows, the setting's prior MAC ratio. ``PowerModel`` is the same learner for log(mean power).
* ``AccuracyDropModel``: accuracy drop in percentage points (labels only); ``FidelityLossModel``:
  log(1 - output cosine + 1e-6). With thin data they fall back to per-setting medians, and with
  none they predict NaN (and say so through ``mode_``). Those two live in ``models_quality``.
"""
from __future__ import annotations

import json
import math

import numpy as np

from advisor.predictors.base import (
    ParamsMixin,
    booster_from_json,
    booster_predict,
    booster_to_json,
    check_columns,
    check_fitted,
    fit_booster,
    forests_from_doc,
    forests_from_json,
    group_weights,
    member_seeds,
    members_to_json,
    restore,
)
from advisor.predictors.cost_priors import CostLatencyPrior, CostModelPrior, KernelCostPrior, KernelLatencyPrior
from advisor.predictors.models_quality import AccuracyDropModel, FidelityLossModel
from advisor.predictors.priors import AmdahlRatioPrior, RooflinePrior
from advisor.predictors.structure import identical_compute
from advisor.predictors.structure import tree_inputs as _tree_inputs

__all__ = ["AccuracyDropModel", "BaselineLatencyModel", "FidelityLossModel", "KERN_WEIGHT", "PowerModel", "RatioModel"]


class _LogScale:
    scale = "log"

    @staticmethod
    def to_scale(y):
        return np.log(np.asarray(y, float))

    @staticmethod
    def from_scale(z):
        return np.exp(np.asarray(z, float))


class BaselineLatencyModel(_LogScale, ParamsMixin):
    """log(latency_ms) of the uncompressed network from ``model_matrix`` columns: a physically grounded
    prior (``_augment``) plus trees fitted to its log residual.

    Beyond the training networks' range the trees' residual fades out (``EXTRAPOLATION_FADE``): a
    forest is piecewise constant, so for a network slower than any it was fitted on it repeats the
    correction of the slowest ones, learned where dispatch overheads and weights that leave the cache
    matter (measured on the host: networks of more than 3M parameters ran ~20% slower than the prior).
    The prior scales with the network. On the study's networks (Inception v1-v4, ResNet-50/101: 29-220
    ms against at most 10 ms in the host data) the prior was within 6% of the measured latency and
    the trees added 26-42% (``benchmarks/real_networks.py``, 2026-11-29)."""

    # Few networks (one row each): shallower, shorter boosting than the per-setting models.
    XGB_OVERRIDES = {"max_depth": 3, "n_estimators": 200}
    # The residual is scaled by 1 at the slowest training prior (log ms), falling linearly to 0 at a
    # prior this much slower (log scale: twice as slow).
    EXTRAPOLATION_FADE = math.log(2.0)

    def __init__(self, per_node: bool = True, min_rows: int = 20, xgb_params: dict | None = None):
        self.per_node = per_node
        self.min_rows = min_rows
        self.xgb_params = xgb_params

    def fit(self, X, y, sample_weight=None):
        """``y``: measured baseline latency in ms, one per row of ``X``."""
        y = np.asarray(y, float)
        self.feature_names_in_ = _tree_inputs(X)
        self.n_features_in_ = len(self.feature_names_in_)
        self.roofline_ = RooflinePrior(per_node=self.per_node).fit(X, y)
        self.cost_ = CostLatencyPrior().fit(X, y, sample_weight)
        # The layer-time model prices in profiled time, MAC layers only. ``kcost_`` puts it on the
        # measured scale and adds the work outside the MAC layers (cost_priors.KernelLatencyPrior);
        # bundles written before it (and rows without its inputs) use one shift, the median log gap to
        # the measured latencies. Since the layer times hold the MAC nodes alone (kernels.layer_times),
        # the shift alone gave a median error of 11.1% held out by family, the cost model 10.8%.
        self.kern_shift_ = None
        self.kcost_ = KernelLatencyPrior().fit(X, y, sample_weight) if "q0_kern_us" in X.columns else None
        if "x_log_kern_ms" in X.columns:
            k = X["x_log_kern_ms"].to_numpy(float)
            ok = np.isfinite(k) & (y > 0)
            if ok.sum() >= self.min_rows:
                self.kern_shift_ = float(np.median(np.log(y[ok]) - k[ok]))
        self.booster_ = None
        Xa = self._augment(X)
        prior = Xa["x_log_roofline_ms"].to_numpy(float)
        self.prior_max_log_ms_ = float(np.nanmax(prior)) if np.isfinite(prior).any() else None
        if len(y) >= self.min_rows:
            self.booster_ = fit_booster(Xa, np.log(y) - prior, {**self.XGB_OVERRIDES, **(self.xgb_params or {})},
                                        sample_weight)
        return self

    def prior_excess(self, X) -> np.ndarray:
        """log(prior / the slowest training network's prior) per row (> 0: beyond the training range,
        where ``trees_weight`` fades the trees out); NaN for bundles without a recorded range."""
        check_fitted(self, "roofline_")
        top = getattr(self, "prior_max_log_ms_", None)
        prior = self._augment(X)["x_log_roofline_ms"].to_numpy(float)
        return prior - top if top is not None else np.full(len(prior), np.nan)

    def trees_weight(self, log_prior_ms) -> np.ndarray:
        """Weight of the trees' residual for priors ``log_prior_ms`` (log ms): 1 up to the slowest
        training prior, then falling linearly to 0 over ``EXTRAPOLATION_FADE`` (1 without a recorded
        range: bundles written before it)."""
        z = np.asarray(log_prior_ms, float)
        top = getattr(self, "prior_max_log_ms_", None)
        if top is None:
            return np.ones_like(z)
        return np.clip(1.0 - (z - top) / self.EXTRAPOLATION_FADE, 0.0, 1.0)

    def _augment(self, X):
        Xa = X[self.feature_names_in_].copy()
        Xa["x_log_roofline_ms"] = np.log(self.roofline_.predict(X))
        # Where the rows carry structure, the prior is the geometric mean of the roofline and the
        # op-level cost model (cost_priors.CostLatencyPrior). The cost model alone prices kinds of op it saw
        # in one family only (batch-1 fully connected layers, attention) and, that family held out,
        # missed it by up to 40%; the mean keeps most of its gain (median error 17% -> 14.5%, families
        # held out) with intervals that still cover.
        #
        # With a layer-time model (suite.baseline_inputs), the layer-priced MAC time takes the
        # roofline's place: the roofline prices a MAC alike in every layer, the layer model knows that
        # an attention MatMul or a 3-channel first convolution costs more per MAC. Families held out,
        # the median error fell from 16.0% to 11.5% (p90 50% -> 33%; transformers 58% -> 27%).
        if self.cost_ is not None:
            cost = np.log(self.cost_.predict(X))
            roof = Xa["x_log_roofline_ms"].to_numpy()
            Xa["x_log_roofline_ms"] = np.where(np.isfinite(cost), 0.5 * (cost + roof), roof)
            shift = getattr(self, "kern_shift_", None)
            if shift is not None and "x_log_kern_ms" in X.columns:
                kern = X["x_log_kern_ms"].to_numpy(float) + shift
                kc = getattr(self, "kcost_", None)
                if kc is not None and "q0_kern_us" in X.columns:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        whole = np.log(kc.predict(X))
                    kern = np.where(np.isfinite(whole), whole, kern)
                Xa["x_log_roofline_ms"] = np.where(np.isfinite(cost) & np.isfinite(kern), 0.5 * (cost + kern),
                                                   Xa["x_log_roofline_ms"].to_numpy())
        return Xa

    def predict(self, X, native: bool = False) -> np.ndarray:
        """log(latency_ms) per row (``native``: see ``base.Trees.predict``)."""
        check_fitted(self, "roofline_")
        check_columns(X, self.feature_names_in_)
        Xa = self._augment(X)
        out = Xa["x_log_roofline_ms"].to_numpy()
        if self.booster_ is None:
            return out
        return out + self.trees_weight(out) * booster_predict(self.booster_, Xa, native)

    def to_bundle(self) -> tuple[dict, bytes | None]:
        check_fitted(self, "roofline_")
        meta = {"params": self.get_params(), "feature_names_in": self.feature_names_in_,
                "roofline": self.roofline_.constants(),
                "cost_model": self.cost_.constants() if self.cost_ is not None else None,
                "kern_shift": getattr(self, "kern_shift_", None),
                "prior_max_log_ms": getattr(self, "prior_max_log_ms_", None),
                "kernel_cost_model": self.kcost_.constants() if getattr(self, "kcost_", None) is not None else None}
        return meta, booster_to_json(self.booster_) if self.booster_ is not None else None

    @classmethod
    def from_bundle(cls, meta: dict, raw: bytes | None) -> BaselineLatencyModel:
        est = restore(cls, meta)
        est.roofline_ = RooflinePrior.from_constants(meta["roofline"])
        est.cost_ = CostLatencyPrior.from_constants(meta["cost_model"]) if meta.get("cost_model") else None
        est.kern_shift_ = float(meta["kern_shift"]) if meta.get("kern_shift") is not None else None
        top = meta.get("prior_max_log_ms")  # bundles before it: the trees' residual applies everywhere
        est.prior_max_log_ms_ = float(top) if top is not None else None
        kc = meta.get("kernel_cost_model")
        est.kcost_ = KernelLatencyPrior.from_constants(kc) if kc else None
        est.booster_ = booster_from_json(raw) if raw is not None else None
        return est


# Weight of the layer-time model's log ratio in the ratio's prior (the op-level cost model's has the
# rest). Held out by family on the host data (with a 200-round layer model on 40k layers), 0.5 and 0.8
# gave 71.2% / 71.0% within +-10%; the cost prior alone with the layer ratio as one more tree input:
# 69%. Since the layer term also prices the work outside the MAC layers (``KernelCostPrior``), it is
# the more complete of the two; 16 families held out, weights 0.5 / 0.6 / 0.7 / 0.8 / 1.0 gave 75.9 /
# 76.3 / 76.5 / 76.7 / 76.1% within +-10% (rho 0.881 / 0.888 / 0.888 / 0.891 / 0.879): 0.7, the middle
# of the plateau. With the host labels re-measured (the median of the sweep and two quiet passes,
# ``dataset.ratio_label``; 19 families, seeds 0-2, 2026-11-30), 0.6 / 0.7 / 0.8 / 0.85 / 0.9 / 1.0 gave
# 81.5 / 82.3 / 82.8 / 82.9 / 82.8 / 82.0% (means): 0.85, the middle of the plateau the cleaner labels
# moved up. Bundles record the weight they were fitted with (0.5 before it was recorded).
KERN_WEIGHT = 0.85


class RatioModel(_LogScale, ParamsMixin):
    """log(ratio of a setting's latency to the baseline's) from ``design_matrix`` columns.

    ``prior="amdahl"``: trees learn the log residual over a physically grounded prior that carries
    over to families whose MAC mix the trees never saw: ``CostModelPrior`` (op-level costs of the
    variant's graph against the original's) where the rows carry structure features
    (``advisor.predictors.structure``), else ``AmdahlRatioPrior`` (per-setting linear in the touched MAC
    share).
    """

    # Median regression on the log scale: a few networks where a runtime falls off its fast path
    # (ratios of 3-10) should not pull the typical prediction. 200 rounds at rate 0.1 instead of 400 at
    # 0.05: the same held-out figures on the host data (15 families: 75.0% vs 75.2% within +-10%, rho
    # 0.889 vs 0.888, coverage 89.2% vs 89.3%) in half the fitting time (training stays under a minute).
    # Depth 6 (was 4) since the members below: one deeper forest alone moved the held-out figure by
    # the seeds' spread (depth 6, 300 rounds: 83.75% mean of seeds 0-4 against 83.35%), an average of
    # several by more.
    XGB_OVERRIDES = {"objective": "reg:absoluteerror", "n_estimators": 200, "learning_rate": 0.1, "max_depth": 6}
    # Settings whose graph does the original's work, quantity for quantity (``identical_compute``:
    # zeroed weights, fp16 weights cast back at load): where the training rows of such settings show
    # no effect -- median log ratio within ``IDENTITY_MAX_BIAS`` of 0 and 90% of them within
    # ``IDENTITY_MAX_SPREAD`` of it, measurement noise on this host -- they are predicted at that median
    # (``identity_``), all alike, instead of by the trees, whose +-0.5% scatter ordered them at random.
    # A runtime that exploits zeroed weights shows an effect in its rows, and its bundle keeps the trees.
    IDENTITY = True
    IDENTITY_MAX_BIAS = 0.03
    IDENTITY_MAX_SPREAD = 0.05

    # Members: forests fitted on the same residual with their own row and column draws (``_seeds``),
    # averaged. One forest's held-out figure moves by +-0.3 points from seed to seed (the draws fit
    # different networks' quirks); their mean keeps what they agree on. Families held out (19, the
    # re-measured labels, 2026-11-30), depth 6 and 300 rounds, one shared layer-time model: members
    # alone 84.1 / 83.5 / 84.0 / 84.0 / 83.8% within +-10%, their mean 84.2%; with the layer-time
    # model's 10 forests (``kernels.KernelModel``) alone 84.1 / 84.1 / 83.9 / 84.1 / 84.4%, their mean
    # 84.4%. Shipped, 200 rounds (1.9 s a forest on all rows here; 300: 2.5 s; depth 4: 1.1 s):
    # ``advisor evaluate`` seeds 0-4 84.3 / 83.9 / 84.1 / 83.8 / 84.2%, mean 84.1% (one depth-4 forest:
    # 83.6 / 83.4 / 83.2 / 83.3 / 83.3%). ``advisor train`` stays under a minute by calibrating on a few
    # groups of families (``advisor.predictors.TRAIN_FOLDS``).
    MEMBERS = 5
    # The layer term's weight in the prior (``KERN_WEIGHT`` above); a class attribute so that a trial can
    # fit a model of another weight (``benchmarks/ratio_trials.py --kern-weights``).
    KERN_WEIGHT = KERN_WEIGHT
    # Setting families (``encoding.FAMILIES``) whose rows a ratio model of their own predicts: its own
    # priors and forests, fitted on that family's rows alone (row weights recomputed over them when
    # ``fit`` is given the rows' groups). The shared model still fits every row and predicts the rest.
    # Channel pruning changes the graph's shapes and weight-only settings add a dequantization before
    # each touched layer: neither is what the other settings do, and the shared trees split their
    # capacity between them. Families held out (23 families, the ratio folds of ``advisor evaluate``,
    # 2026-11-30, three forests a model of its own): seeds 0 / 1 / 2 gave 84.64 / 84.42 / 84.76% within
    # +-10% against 84.21 / 84.13 / 84.40% with the shared model alone, the settings' ranking 0.948 /
    # 0.950 / 0.947 against 0.948 / 0.948 / 0.945. Five forests a model: 84.59 / 84.23 / 84.75%, for
    # 5-6 s more of training. With the identical-compute rows (wq16) in the weight-only model's rows
    # (five forests): 84.48 / 84.17% at seeds 0 / 1. A model of its own for int8 static quantization was
    # worse (61.5% -> 60.2% of its rows), as was one for the rest.
    OWN_MODELS = ("structured-pruning", "weight-only")
    # A family gets its own model only with at least this many rows and, where ``fit`` knows the rows'
    # groups, ``OWN_MIN_GROUPS`` architecture families among them; with fewer, the shared model's
    # pooled rows predict it (the split was measured on 2,400-2,600 rows a setting family, 14-23
    # architecture families).
    OWN_MIN_ROWS = 500
    OWN_MIN_GROUPS = 5
    # Forests of each model of its own (None: as many as the shared model's ``members``); figures above.
    OWN_MEMBERS = 3

    def __init__(self, prior: str = "amdahl", min_rows: int = 30, xgb_params: dict | None = None,
                 members: int | None = None, own_models: tuple | list | None = None):
        self.prior = prior
        self.min_rows = min_rows
        self.xgb_params = xgb_params
        self.members = members  # None: the class's MEMBERS
        self.own_models = own_models  # None: the class's OWN_MODELS; () for the shared model alone

    def fit(self, X, y, sample_weight=None, groups=None):
        """``y``: positive ratios (or, for PowerModel, mean power in mW), one per row of ``X``.
        ``groups``: each row's architecture family, for the own models' row weights (``OWN_MODELS``)."""
        z = self.to_scale(y)
        keep = np.isfinite(z)
        self.feature_names_in_ = _tree_inputs(X)
        self.n_features_in_ = len(self.feature_names_in_)
        self.prior_ = AmdahlRatioPrior().fit(X[keep], np.exp(z[keep])) if self.prior == "amdahl" else None
        w = None if sample_weight is None else np.asarray(sample_weight, float)[keep]
        self.cost_ = CostModelPrior().fit(X[keep], np.exp(z[keep]), w) if self.prior == "amdahl" else None
        self.kcost_ = None  # the layer times plus the work outside the MAC layers (suite.ratio_inputs)
        if self.prior == "amdahl" and "q0_kern_us" in X.columns:
            self.kcost_ = KernelCostPrior().fit(X[keep], np.exp(z[keep]), w)
        self.kern_weight_ = self.KERN_WEIGHT
        self.identity_ = self._identity(z[keep], identical_compute(X)[keep]) if self.IDENTITY else None
        self.fallback_ = float(np.median(z[keep])) if keep.any() else 0.0
        self.boosters_ = []
        if keep.sum() >= self.min_rows:
            Xa = self._augment(X[keep])
            params = {**self.XGB_OVERRIDES, **(self.xgb_params or {})}
            self.boosters_ = [fit_booster(Xa, z[keep] - Xa["x_log_prior"].to_numpy(), {**params, "random_state": seed}, w)
                              for seed in self._seeds()]
        self.own_ = self._fit_own(X, y, sample_weight, groups)
        return self

    def _fit_own(self, X, y, sample_weight, groups) -> dict:
        """The ratio models of their own (``OWN_MODELS``), by setting family, fitted on its rows."""
        own = {}
        names = self.OWN_MODELS if self.own_models is None else self.own_models
        y = np.asarray(y, float)
        usable = np.isfinite(self.to_scale(y))
        if self.identity_ is not None:  # rows the shared model's one value predicts (below): not the own model's
            usable &= ~identical_compute(X)
        g = None if groups is None else np.asarray(groups, dtype=object)
        for fam in names:
            rows = self._own_rows(X, fam)
            if rows is None:
                continue
            rows &= usable
            if rows.sum() < self.OWN_MIN_ROWS or (g is not None and len(set(g[rows])) < self.OWN_MIN_GROUPS):
                continue
            if g is not None:
                w = group_weights(g[rows])
            else:
                w = None if sample_weight is None else np.asarray(sample_weight, float)[rows]
            sub = type(self)(prior=self.prior, min_rows=self.min_rows, xgb_params=self.xgb_params,
                             members=self.members if self.OWN_MEMBERS is None else self.OWN_MEMBERS, own_models=())
            own[fam] = sub.fit(X[rows], y[rows], w)
            # Identical-compute rows (wq16 beside the sparse settings) keep the shared model's one value
            # (``IDENTITY``): a value of the family's own ordered wq16 against the sparse settings at
            # random, and the median Spearman of the settings' ranking fell from 0.950 to 0.936 (seed 0).
            sub.identity_ = None
        return own

    @staticmethod
    def _own_rows(X, fam: str) -> np.ndarray | None:
        """Which rows of ``X`` are of setting family ``fam`` (None where ``X`` does not say)."""
        col = f"s_fam_{fam}"
        return X[col].to_numpy(float) == 1.0 if col in X.columns else None

    def _seeds(self) -> list[int]:
        """Each member's tree seed (its row and column sampling; ``base.member_seeds``)."""
        return member_seeds(self.xgb_params, self.MEMBERS if self.members is None else self.members)

    def _identity(self, z: np.ndarray, same: np.ndarray) -> float | None:
        """The log ratio of the identical-compute rows when they show no effect (see ``IDENTITY``)."""
        zs = z[same]
        if len(zs) < self.min_rows:
            return None
        mid = float(np.median(zs))
        spread = float(np.quantile(np.abs(zs - mid), 0.9))
        return mid if abs(mid) <= self.IDENTITY_MAX_BIAS and spread <= self.IDENTITY_MAX_SPREAD else None

    def _augment(self, X):
        Xa = X[self.feature_names_in_].copy()
        if self.prior_ is not None:
            Xa["x_log_prior"] = np.log(self.prior_.predict(X))
            if self.cost_ is not None:
                cost = np.log(self.cost_.predict(X))
                Xa["x_log_prior"] = np.where(np.isfinite(cost), cost, Xa["x_log_prior"].to_numpy())
            if "x_log_kern" in Xa.columns:  # the layer-time model's ratio (suite.ratio_inputs)
                kern, prior = Xa["x_log_kern"].to_numpy(float), Xa["x_log_prior"].to_numpy(float)
                if self.kcost_ is not None and {"q0_kern_us", "q1_kern_us"} <= set(X.columns):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        whole = np.log(self.kcost_.predict(X))
                    kern = np.where(np.isfinite(whole), whole, kern)
                wk = self.kern_weight_
                Xa["x_log_prior"] = np.where(np.isfinite(kern), wk * kern + (1 - wk) * prior, prior)
        elif "x_log_mac_ratio_prior" in X.columns and type(self) is RatioModel:
            Xa["x_log_prior"] = X["x_log_mac_ratio_prior"].to_numpy(float)
        else:
            Xa["x_log_prior"] = self.fallback_
        return Xa

    def predict(self, X, native: bool = False) -> np.ndarray:
        """Values on the log scale, one per row (``native``: see ``base.Trees.predict``)."""
        prior, residual, fixed = self.parts(X, native)
        return np.where(np.isfinite(fixed), fixed, prior + residual)

    def parts(self, X, native: bool = False, own: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What ``predict`` adds up, per row of ``X`` on the log scale: the prior, the members' mean
        residual over it (0 without trees), and the value identical-compute rows take instead (``IDENTITY``;
        NaN for the other rows). The rows of a setting family with a model of its own (``OWN_MODELS``)
        take that model's prior and residual; ``own=False``: the shared model's, for every row."""
        check_fitted(self, "feature_names_in_")
        check_columns(X, self.feature_names_in_)
        prior, residual, fixed = self._shared_parts(X, native)
        for fam, sub in self.own_.items() if own else ():
            rows = self._own_rows(X, fam)
            if rows is not None and rows.any():
                prior[rows], residual[rows], _ = sub.parts(X[rows], native)
        return prior, residual, fixed

    def _shared_parts(self, X, native: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Xa = self._augment(X)
        prior = Xa["x_log_prior"].to_numpy(float)
        residual = np.mean([booster_predict(b, Xa, native) for b in self.boosters_], axis=0) if self.boosters_ \
            else np.zeros(len(prior))
        identity = getattr(self, "identity_", None)
        fixed = np.where(identical_compute(X), identity, np.nan) if identity is not None else np.full(len(prior), np.nan)
        return np.array(prior, float), np.array(residual, float), np.array(fixed, float)

    def to_bundle(self) -> tuple[dict, bytes | None]:
        check_fitted(self, "feature_names_in_")
        meta = {"params": self.get_params(), "feature_names_in": self.feature_names_in_,
                "fallback": self.fallback_, "amdahl": self.prior_.coef_ if self.prior_ is not None else None,
                "cost_model": self.cost_.constants() if self.cost_ is not None else None,
                "kernel_cost_model": self.kcost_.constants() if self.kcost_ is not None else None,
                "kern_weight": self.kern_weight_, "identity_log_ratio": getattr(self, "identity_", None)}
        raw = members_to_json([booster_to_json(b) for b in self.boosters_]) if self.boosters_ else None
        if not self.own_:
            return meta, raw
        # One file: {"ratio_models": {"shared": <its forests>, "<setting family>": <its forests>, ...}}
        # (each part as ``members_to_json`` writes it; null for a model without trees).
        meta["own_models"], parts = {}, [b'"shared": ' + (raw or b"null")]
        for fam, sub in self.own_.items():
            meta["own_models"][fam], sub_raw = sub.to_bundle()
            parts.append(json.dumps(fam).encode() + b": " + (sub_raw or b"null"))
        return meta, b'{"ratio_models": {' + b", ".join(parts) + b"}}"

    @classmethod
    def from_bundle(cls, meta: dict, raw: bytes | None):
        if not meta.get("own_models"):  # bundles without models of their own: the file is the forests'
            return cls._restore(meta, raw, None)
        doc = json.loads(raw)["ratio_models"]
        est = cls._restore(meta, None, doc["shared"])
        est.own_ = {fam: cls._restore(m, None, doc[fam]) for fam, m in meta["own_models"].items()}
        return est

    @classmethod
    def _restore(cls, meta: dict, raw: bytes | None, doc):
        """A model from its ``meta`` and its forests' file ``raw``, or that file already parsed (``doc``)."""
        est = restore(cls, meta)
        est.own_ = {}
        est.fallback_ = float(meta["fallback"])
        est.prior_ = None
        if meta.get("amdahl") is not None:
            est.prior_ = AmdahlRatioPrior()
            est.prior_.coef_ = {k: [float(a), float(b)] for k, (a, b) in meta["amdahl"].items()}
        # Bundles written before the cost model (no key) predict with the Amdahl prior alone.
        est.cost_ = CostModelPrior.from_constants(meta["cost_model"]) if meta.get("cost_model") else None
        # Bundles written before the layer term priced the work outside the MAC layers (no key) blend
        # the MAC-layer ratio alone, at the weight of that time.
        kc = meta.get("kernel_cost_model")
        est.kcost_ = KernelCostPrior.from_constants(kc) if kc else None
        est.kern_weight_ = float(meta.get("kern_weight", 0.5))
        identity = meta.get("identity_log_ratio")  # bundles before it: the trees predict every row
        est.identity_ = float(identity) if identity is not None else None
        # one forest (bundles before the members, and one-member models) or several (``members_to_json``)
        est.boosters_ = forests_from_json(raw) if raw is not None else forests_from_doc(doc) if doc is not None else []
        return est


class PowerModel(RatioModel):
    """log(mean power in mW = energy_mj / latency_ms * 1000) for devices with measured energy."""

    XGB_OVERRIDES = {}
    MEMBERS = 1
    IDENTITY = False  # an absolute quantity, not one relative to the original
    OWN_MODELS = ()

    def __init__(self, prior: str = "none", min_rows: int = 30, xgb_params: dict | None = None):
        super().__init__(prior=prior, min_rows=min_rows, xgb_params=xgb_params)
