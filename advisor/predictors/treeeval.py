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

    def __init__(self, raw: bytes | str | dict):
        """``raw``: the model's JSON, or the model already parsed (a member of a file of several)."""
        doc = raw if isinstance(raw, dict) else json.loads(raw)
        learner = doc["learner"]
        objective = learner["objective"]["name"]
        if objective not in _IDENTITY_OBJECTIVES:
            raise ValueError(f"objective {objective} is not supported by the numpy evaluator")
        booster = learner["gradient_booster"]
        if booster.get("name") != "gbtree":
            raise ValueError(f"booster {booster.get('name')} is not supported by the numpy evaluator")
        self.feature_names = learner.get("feature_names") or []
        self.base_score = float(str(learner["learner_model_param"]["base_score"]).strip("[]").split(",")[0])
        trees = booster["model"]["trees"]
        self.n_trees = len(trees)
        # All trees' nodes in one set of arrays (children as positions in it; a leaf's children -1):
        # every tree is walked at once, one step a level, instead of one tree after another (a bundle
        # holds thousands of trees, and ``advisor recommend`` predicts a handful of rows).
        sizes = [len(t["left_children"]) for t in trees]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if trees else np.zeros(0, np.int64)
        self.roots = offsets

        def cat(key, dtype):
            return np.concatenate([np.asarray(t[key], dtype=dtype) for t in trees]) if trees else np.zeros(0, dtype)

        shift = np.repeat(offsets, sizes)
        left, right = cat("left_children", np.int64), cat("right_children", np.int64)
        self.leaf = left == -1
        self.left = np.where(self.leaf, -1, left + shift)
        self.right = np.where(self.leaf, -1, right + shift)
        self.feature = cat("split_indices", np.int64)
        self.threshold = cat("split_conditions", np.float32)
        self.default_left = cat("default_left", bool)

    CHUNK_PAIRS = 1 << 22  # (tree, row) pairs walked at once: ~100 MB of positions at most

    def predict(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        n = X.shape[0]
        if not self.n_trees:
            return np.full(n, self.base_score, dtype=np.float32)
        step = max(self.CHUNK_PAIRS // self.n_trees, 1)
        if n > step:
            return np.concatenate([self._predict(X[i:i + step]) for i in range(0, n, step)])
        return self._predict(X)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        node = np.repeat(self.roots, n)  # (tree, row) pairs, tree-major
        rows = np.tile(np.arange(n), self.n_trees)
        active = np.flatnonzero(~self.leaf[node])
        while len(active):
            at = node[active]
            x = X[rows[active], self.feature[at]]
            go_left = np.where(np.isnan(x), self.default_left[at], x < self.threshold[at])
            node[active] = np.where(go_left, self.left[at], self.right[at])
            active = active[~self.leaf[node[active]]]
        leaves = self.threshold[node].reshape(self.n_trees, n)
        # float32, base score first, then tree by tree: the order xgboost's CPU predictor adds them
        # (``add.accumulate`` adds in sequence; a pairwise ``sum`` would differ in the last bit)
        first = np.full((1, n), self.base_score, dtype=np.float32)
        return np.add.accumulate(np.concatenate([first, leaves]), axis=0, dtype=np.float32)[-1]
