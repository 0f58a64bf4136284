"""Evaluate XGBoost JSON models with numpy, without importing xgboost.

`import xgboost` also imports scikit-learn and SciPy (1-2 s cold); `advisor recommend` must start
fast, so bundles are *evaluated* by walking the trees of XGBoost's own JSON model format here.
Training still uses xgboost. Semantics follow XGBoost's JSON schema (doc/model.schema): inputs and
thresholds are float32, a row goes left when ``x < split_condition`` (or when x is missing and
``default_left``), a leaf's value is its ``split_condition``, and the margin is the sum of leaves
plus ``base_score`` (identity link for the regression objectives used here), accumulated in float32
in tree order as xgboost's CPU predictor does: the predictions are bit for bit xgboost's (a float64
sum differed in the last bit, and a model fed another's prediction could then take the other side of
a split).
"""
from __future__ import annotations

import json

import numpy as np

_IDENTITY_OBJECTIVES = {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"}


class JsonForest:
    """A loaded XGBoost regression forest: ``predict(X)`` for a float array [n_rows, n_features]."""

    def __init__(self, raw: bytes | str):
        doc = json.loads(raw)
        learner = doc["learner"]
        objective = learner["objective"]["name"]
        if objective not in _IDENTITY_OBJECTIVES:
            raise ValueError(f"objective {objective} is not supported by the numpy evaluator")
        booster = learner["gradient_booster"]
        if booster.get("name") != "gbtree":
            raise ValueError(f"booster {booster.get('name')} is not supported by the numpy evaluator")
        self.feature_names = learner.get("feature_names") or []
        self.base_score = float(str(learner["learner_model_param"]["base_score"]).strip("[]").split(",")[0])
        self.trees = [_Tree(t) for t in booster["model"]["trees"]]

    def predict(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        out = np.full(X.shape[0], self.base_score, dtype=np.float32)
        for tree in self.trees:
            out += tree.leaf_values(X)
        return out


class _Tree:
    def __init__(self, t: dict):
        self.left = np.asarray(t["left_children"], dtype=np.int64)
        self.right = np.asarray(t["right_children"], dtype=np.int64)
        self.feature = np.asarray(t["split_indices"], dtype=np.int64)
        self.threshold = np.asarray(t["split_conditions"], dtype=np.float32)
        self.default_left = np.asarray(t["default_left"], dtype=bool)

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        node = np.zeros(X.shape[0], dtype=np.int64)
        active = self.left[node] != -1
        rows = np.arange(X.shape[0])
        while active.any():
            idx = rows[active]
            n = node[idx]
            x = X[idx, self.feature[n]]
            go_left = np.where(np.isnan(x), self.default_left[n], x < self.threshold[n])
            node[idx] = np.where(go_left, self.left[n], self.right[n])
            active = self.left[node] != -1
        return self.threshold[node]
