"""Pipelines: registered settings applied one after another (e.g. channel pruning, then INT8)."""
from __future__ import annotations

from advisor.compression.base import CompressionResult, Setting
from advisor.errors import AdvisorError, NotApplicableError, SettingError


class Pipeline(Setting):
    """Apply each registered step in order, re-validating the model between steps.

    Notes hold ``steps`` (the names, in order), each step's own notes under its name, and the
    calibration source of the first calibrated step. ``min_cosine`` is not measured separately: it is
    derived from the steps' floors as ``1 - sum(1 - floor)`` (output errors of successive steps add up
    to first order), clipped at 0. Measured with the channel-pruning code of 2026-11-28 (mean output
    cosine, tiny CNNs, 4 seeded synthetic samples): chprune25+int8-static-pc worst 0.8035 and
    chprune50+int8-static-pc worst 0.8166 (both bn_cnn), i.e. channel pruning dominates.
    """

    family = "combined"

    def __init__(self, name: str, steps: tuple):
        if len(steps) < 2:
            raise ValueError(f"a pipeline needs at least two steps, got {list(steps)}")
        self.name = name
        self.steps = tuple(steps)
        self.description = "Applied in order: " + ", then ".join(self.steps) + "."

    def _settings(self) -> list:
        from advisor.compression import get_setting  # the registry imports this module lazily

        return [get_setting(step) for step in self.steps]

    @property
    def params(self) -> dict:
        return {"steps": list(self.steps)}

    @property
    def touches(self) -> tuple:
        return tuple(dict.fromkeys(op for s in self._settings() for op in s.touches))

    @property
    def needs_calibration(self) -> bool:
        return any(s.needs_calibration for s in self._settings())

    @property
    def min_cosine(self) -> float:
        return max(0.0, round(1.0 - sum(1.0 - s.min_cosine for s in self._settings()), 4))

    def check(self, lm) -> str | None:
        """The first step's reason; later steps are checked on the original model, since the ops they
        need survive the earlier steps (pruning and quantization keep op types)."""
        for setting in self._settings():
            reason = setting.check(lm)
            if reason:
                return f"step '{setting.name}': {reason}"
        return None

    def _apply(self, lm, data) -> CompressionResult:
        from advisor.modelio import from_proto

        notes: dict = {"steps": list(self.steps)}
        current = lm
        for setting in self._settings():
            try:
                result = setting.apply(current, data)
                current = from_proto(result.model)
            except NotApplicableError as exc:
                raise NotApplicableError(f"Setting '{self.name}' does not apply after earlier steps: {exc}") from exc
            except AdvisorError as exc:
                raise SettingError(f"Setting '{self.name}', step '{setting.name}' failed: {exc}") from exc
            notes[setting.name] = result.notes
            if "calibration" in result.notes:
                notes.setdefault("calibration", result.notes["calibration"])
        return CompressionResult(setting=self.name, model=current.model, notes=notes)
