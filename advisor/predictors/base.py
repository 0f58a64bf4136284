"""Plumbing shared by the estimators: scikit-learn's parameter protocol and fitted check without
importing scikit-learn at import time, XGBoost fitting, and JSON-only tree models (``Trees``)."""
from __future__ import annotations

import inspect

import numpy as np

from advisor.errors import AdvisorError

# Deterministic, modest trees, one thread each (evaluate.run_jobs fits two folds side by side).
XGB_DEFAULTS = {"n_estimators": 400, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.8,
                "colsample_bytree": 0.8, "min_child_weight": 3.0, "reg_lambda": 1.0,
                "objective": "reg:squarederror", "random_state": 0}


def seed_params(seed: int) -> dict | None:
    """XGBoost overrides that draw with ``seed`` (row and column sampling; the layer-time model's sample
    of layers too); None for seed 0, the default every fit and bundle already uses (so a bundle's
    recorded parameters stay as they were)."""
    return {"random_state": int(seed)} if seed else None


class NotFittedError(AdvisorError, ValueError, AttributeError):
    """``predict`` (or a fitted-only method) called before ``fit``; same bases as scikit-learn's."""


class ParamsMixin:
    """``get_params``/``set_params`` from ``__init__``'s signature, as ``sklearn.base.BaseEstimator``
    does, so ``sklearn.base.clone`` and grid searches work on these estimators."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._param_names():
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid: {', '.join(self._param_names())}")
            setattr(self, name, value)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def restore(cls, meta: dict):
    """An estimator of class ``cls`` from its bundle ``meta``: its parameters and the input columns it
    was fitted on (``feature_names_in_``); the caller restores the rest."""
    est = cls(**meta["params"])
    est.feature_names_in_ = list(meta["feature_names_in"])
    est.n_features_in_ = len(est.feature_names_in_)
    return est


def check_fitted(est, attr: str) -> None:
    """Raise NotFittedError unless ``est`` has the learned attribute ``attr``."""
    if not hasattr(est, attr):
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet; call 'fit' first.")


def check_columns(X, names: list[str]) -> None:
    """Raise ValueError naming the columns of ``names`` that ``X`` lacks."""
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise ValueError(f"X lacks {len(missing)} column(s) seen in fit: {missing[:5]}")


class Trees:
    """A fitted XGBoost forest kept as XGBoost's own JSON model (``raw``), predicted by the numpy
    evaluator ``advisor.predictors.treeeval`` -- so loading a bundle and predicting never import
    xgboost, and a model predicts identically before and after a save/load round trip."""

    def __init__(self, raw: bytes | None, booster=None, doc: dict | None = None):
        """``booster``: the xgboost Booster ``raw`` was saved from, when fitted in this process (kept for
        ``predict(native=True)``, which otherwise loads one from ``raw``). ``doc``: the model already
        parsed (``forests_from_json``: a file of several members is parsed once); ``raw`` may then be
        None, and is written from it when asked for."""
        from advisor.predictors.treeeval import JsonForest

        self._raw = None if raw is None else bytes(raw)
        self._doc = doc if self._raw is None else None
        self.forest = JsonForest(doc if doc is not None else self._raw)
        self.feature_names = list(self.forest.feature_names)
        self._booster = booster

    @property
    def raw(self) -> bytes:
        """XGBoost's own JSON of the forest."""
        if self._raw is None:
            import json

            self._raw = json.dumps(self._doc, separators=(",", ":")).encode()
            self._doc = None
        return self._raw

    def predict(self, X, native: bool = False) -> np.ndarray:
        """Predictions for the rows of frame ``X`` (columns in the forest's order). ``native``: by
        xgboost's own predictor instead (imports xgboost; the same numbers as the numpy evaluator, bit
        for bit, faster on large batches). Training uses it: for the large batches it prices as inputs
        of other models, and for its out-of-fold predictions."""
        A = X[self.feature_names].to_numpy(np.float32)
        if not native:
            return self.forest.predict(A).astype(np.float64)
        if self._booster is None:
            import xgboost as xgb

            self._booster = xgb.Booster(params={"nthread": 1}, model_file=bytearray(self.raw))
        return np.asarray(self._booster.inplace_predict(A), np.float32).astype(np.float64)


def fit_booster(X, y: np.ndarray, params: dict, sample_weight=None) -> Trees:
    """Trees fitted by xgboost (hist, one thread) on frame ``X`` and target ``y``."""
    import xgboost as xgb

    p = {**XGB_DEFAULTS, **(params or {})}
    n_rounds = int(p.pop("n_estimators"))
    p["seed"] = int(p.pop("random_state"))
    p.update(nthread=1, tree_method="hist", verbosity=0)
    # Feature names are set on the fitted booster, not the DMatrix: xgboost re-reads and compares a
    # DMatrix's names on every boosting round, which cost ~8 s of a host training run (same trees).
    dtrain = xgb.DMatrix(X.to_numpy(np.float32), label=np.asarray(y, float), weight=sample_weight)
    booster = xgb.train(p, dtrain, num_boost_round=n_rounds)
    booster.feature_names = list(X.columns)
    return Trees(bytes(booster.save_raw(raw_format="json")), booster)


def booster_predict(trees: Trees, X, native: bool = False) -> np.ndarray:
    return trees.predict(X, native)


def booster_to_json(trees: Trees) -> bytes:
    """XGBoost's own JSON model format (never a pickle)."""
    return trees.raw


def booster_from_json(raw: bytes) -> Trees:
    return Trees(raw)


def member_seeds(xgb_params: dict | None, members: int) -> list[int]:
    """Each member's seed in a model of ``members`` forests: member k of a model seeded s
    (``xgb_params["random_state"]``, default 0) draws with s * members + k, so that models of different
    seeds share no member (member 0 of seed 0 is the one forest of a one-member model)."""
    base, n = int((xgb_params or {}).get("random_state", 0)), max(int(members), 1)
    return [base * n + k for k in range(n)]


def members_to_json(raws: list[bytes]) -> bytes:
    """One file for several forests (a model's members): XGBoost's own JSON of one, or
    ``{"members": [...]}`` of several (never a pickle)."""
    return raws[0] if len(raws) == 1 else b'{"members": [' + b", ".join(raws) + b"]}"


def forests_from_json(raw: bytes) -> list[Trees]:
    """The members' forests in a file written by ``members_to_json``, the file parsed once (a bundle
    loads in every ``advisor recommend``)."""
    import json

    doc = json.loads(raw)
    if not (isinstance(doc, dict) and isinstance(doc.get("members"), list)):
        return [Trees(raw, doc=doc)]
    return forests_from_doc(doc)


def forests_from_doc(doc: dict) -> list[Trees]:
    """``forests_from_json`` of a file already parsed (a part of a larger document)."""
    if not (isinstance(doc, dict) and isinstance(doc.get("members"), list)):
        return [Trees(None, doc=doc)]
    return [Trees(None, doc=m) for m in doc["members"]]


def group_weights(groups) -> np.ndarray:
    """Row weights that give every group (e.g. architecture family) the same total weight: 1 / its
    rows, scaled to a mean of 1."""
    import pandas as pd

    g = pd.Series(np.asarray(groups, dtype=object)).astype(str)
    w = 1.0 / g.map(g.value_counts()).to_numpy(float)
    return w / w.mean() if len(w) else w
