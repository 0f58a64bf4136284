"""ONNX graph -> feature vector: size, compute by category, structure, activations, weight statistics.

Every feature name, its unit and meaning are in FEATURE_DOCS; ``feature_vector`` orders values by
``feature_names()`` (sorted). Bump FEATURE_SCHEMA_VERSION whenever a name or meaning changes.
"""
from advisor.features.extract import extract_features
from advisor.features.schema import (
    FEATURE_DOCS,
    FEATURE_SCHEMA_VERSION,
    ModelFeatures,
    feature_names,
    feature_vector,
)

__all__ = ["FEATURE_DOCS", "FEATURE_SCHEMA_VERSION", "ModelFeatures", "extract_features", "feature_names",
           "feature_vector"]
