"""Predictors: fit, evaluate, save and load the per-device/runtime predictor bundles.

Modules (import them directly; nothing heavy is imported here):

* ``dataset``   profile records -> one DataFrame row per ok measurement, training-data hash
* ``encoding``  compression setting -> one-hot + descriptive numeric columns; the design matrix
* ``priors``    physically grounded priors (roofline baseline latency, MAC ratio of a setting)
* ``models``    scikit-learn-style estimators (BaselineLatencyModel, RatioModel, AccuracyDropModel)
* ``conformal`` cross-conformal prediction intervals from grouped (whole-family) folds
* ``evaluate``  grouped (leave-one-family-out) evaluation against two simple baselines
* ``bundle``    JSON-only bundles (XGBoost JSON + manifest.json): save, check, load, predict
* ``training``  the workflows behind ``advisor train`` and ``advisor evaluate``
* ``synthetic`` a test double: schema-valid profile records with a known structure
* ``size``      serialized size of each setting's output, computed from the graph
"""

__all__ = ["PredictorBundle", "load_bundle"]

# The folds of ``advisor train`` (groups of whole families): its manifest's figures and its intervals come
# from them. ``advisor evaluate`` holds out one family at a time. Three (four until 2026-11-30, 16:40 UTC):
# the final fit on all rows runs beside the folds on two threads, and with four folds one fold was left
# to run alone at the end; host training (23 families) 50-60 s with four, about 40 s with three.
TRAIN_FOLDS = 3


def __getattr__(name: str):
    # Lazy, so importing advisor.predictors stays cheap (numpy/pandas/xgboost load on first use).
    if name in __all__:
        from advisor.predictors import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'advisor.predictors' has no attribute {name!r}")
