"""The reference point every other setting is compared with: the model unchanged."""
from __future__ import annotations

from advisor.compression.base import CompressionResult, Setting
from advisor.compression.graph_utils import copy_model


class Baseline(Setting):
    """No compression: a copy of the model (cosine 1.0 on every tiny-zoo model; floor 0.9999)."""

    family = "baseline"
    description = "No compression: the original FP32 model."
    touches = ()
    min_cosine = 0.9999

    def __init__(self, name: str = "none"):
        self.name = name

    def _apply(self, lm, data) -> CompressionResult:
        return CompressionResult(setting=self.name, model=copy_model(lm.model), notes={"changed": "nothing"})
