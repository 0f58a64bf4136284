"""The zoo catalogue: every network the advisor characterises, by name, with its family label.

Builders are plain callables, so listing the catalogue never imports torch; building does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import onnx


@dataclass(frozen=True)
class ZooEntry:
    """One network. ``build()`` returns (ModelProto, data) where data is None or a dict of numpy
    arrays in the advisor's .npz layout (input names / ``inputs``, optional ``labels``)."""

    name: str
    family: str
    kind: str  # "study" | "generated" | "trained"
    description: str
    build: Callable[[], tuple]
    params: dict = field(default_factory=dict)

    def build_model(self) -> tuple[onnx.ModelProto, dict | None]:
        """Build and label the model: metadata_props advisor.name / advisor.family / advisor.kind."""
        model, data = self.build()
        meta = {p.key: p for p in model.metadata_props}
        for key, value in (("advisor.name", self.name), ("advisor.family", self.family), ("advisor.kind", self.kind)):
            if key in meta:
                meta[key].value = value
            else:
                model.metadata_props.add(key=key, value=value)
        return model, data
