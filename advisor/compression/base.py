"""The contract every compression setting meets.

A setting is a named, registered recipe: ``check`` says why it does not apply (or None), ``apply``
returns a new ModelProto that onnxruntime can run. Settings never modify their input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from advisor.errors import NotApplicableError
from advisor.modelio import LoadedModel


@dataclass(frozen=True)
class CompressionResult:
    """A compressed model plus JSON-able notes (what was touched, calibration source, ...)."""

    setting: str
    model: onnx.ModelProto
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationData:
    """Input batches for calibration/accuracy: name -> array of shape [n_samples, *input_shape[1:]].

    ``source`` is ``"data:<path>"`` for user data or ``"synthetic(seed=S)"`` for generated inputs.
    ``labels`` (optional) is an int array of shape [n_samples].
    """

    inputs: dict
    source: str
    labels: object = None

    @property
    def n_samples(self) -> int:
        return len(next(iter(self.inputs.values())))

    def feeds(self):
        """Yield one feed dict per sample, each with batch dimension 1."""
        for i in range(self.n_samples):
            yield {k: v[i:i + 1] for k, v in self.inputs.items()}


class Setting:
    """Base class: subclasses set the class attributes and implement ``_apply``.

    ``min_cosine`` is the documented fidelity floor: the mean cosine similarity between the
    compressed and original outputs on seeded synthetic inputs, over the test zoo (random weights,
    no fine-tuning), that the contract test enforces.
    """

    name: str = ""
    family: str = ""
    description: str = ""
    touches: tuple = ()
    min_cosine: float = 0.99
    needs_calibration: bool = False

    @property
    def params(self) -> dict:
        return {}

    def check(self, lm: LoadedModel) -> str | None:
        """Return a one-line reason why this setting does not apply to ``lm``, or None."""
        return None

    def apply(self, lm: LoadedModel, data: CalibrationData | None = None) -> CompressionResult:
        """Compress ``lm``; raise NotApplicableError with ``check``'s reason when it does not apply."""
        reason = self.check(lm)
        if reason:
            raise NotApplicableError(f"Setting '{self.name}' does not apply: {reason}")
        return self._apply(lm, data)

    def _apply(self, lm: LoadedModel, data: CalibrationData | None) -> CompressionResult:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "description": self.description,
                "touches": list(self.touches), "params": self.params, "min_cosine": self.min_cosine,
                "needs_calibration": self.needs_calibration}
