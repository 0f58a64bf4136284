"""The numpy evaluator of XGBoost JSON models matches xgboost's own predictions."""
from __future__ import annotations

import numpy as np
import pytest

from advisor.predictors.treeeval import JsonForest


@pytest.mark.parametrize("depth, rounds", [(2, 5), (6, 120)])
def test_matches_xgboost(depth, rounds):
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 7)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values take the default branch
    y = np.sin(np.nan_to_num(X[:, 0])) + np.nan_to_num(X[:, 1]) ** 2 + rng.normal(0, 0.1, 400)
    booster = xgb.train({"max_depth": depth, "eta": 0.1, "seed": 0, "nthread": 1, "tree_method": "hist"},
                        xgb.DMatrix(X, label=y), num_boost_round=rounds)
    forest = JsonForest(bytes(booster.save_raw(raw_format="json")))
    Xt = rng.standard_normal((300, 7)).astype(np.float32)
    Xt[::17, 3] = np.nan
    # bit for bit: float32 sums of the leaves in tree order, as xgboost's CPU predictor adds them
    np.testing.assert_array_equal(forest.predict(Xt), booster.predict(xgb.DMatrix(Xt)))
    np.testing.assert_array_equal(forest.predict(Xt), booster.inplace_predict(Xt))
    forest.CHUNK_PAIRS = rounds * 7  # rows walked 7 at a time: the same numbers
    np.testing.assert_array_equal(forest.predict(Xt), booster.inplace_predict(Xt))
    assert forest.predict(Xt[:0]).shape == (0,)


def test_rejects_other_objectives():
    xgb = pytest.importorskip("xgboost")
    X = np.random.default_rng(1).standard_normal((50, 2)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(X, label=X[:, 0] > 0), 2)
    with pytest.raises(ValueError, match="objective"):
        JsonForest(bytes(booster.save_raw(raw_format="json")))
