"""Every registered compression setting x every tiny zoo model meets the Setting contract.

Either ``check`` names a one-line reason and ``apply`` raises NotApplicableError carrying it, or the
result validates, runs in onnxruntime CPU with the original's output shapes and dtypes, has
JSON-able notes, and stays at or above the setting's documented ``min_cosine``.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass

import numpy as np
import pytest

from advisor.compression import data as cdata
from advisor.compression import get_setting, setting_names
from advisor.compression.base import CalibrationData
from advisor.errors import NotApplicableError
from advisor.modelio import LoadedModel, from_proto
from advisor.zoo.tiny import TINY_MODELS
from profiling.accuracy import cosine_per_sample
from profiling.runtimes.ort_session import make_session, run_samples

_HAS_CHANNEL_PRUNING = importlib.util.find_spec("advisor.compression.channel_prune") is not None


@dataclass(frozen=True)
class Case:
    lm: LoadedModel
    inputs: CalibrationData
    reference: list  # one [n_samples, ...] array per graph output


def _run(model, inputs: CalibrationData) -> list:
    return run_samples(make_session(model.SerializeToString()), list(inputs.feeds()))


@pytest.fixture(scope="module")
def zoo_case(tiny_models):
    """model name -> Case, each loaded and run once per module."""
    cache: dict = {}

    def get(name: str) -> Case:
        if name not in cache:
            lm = from_proto(tiny_models[name])
            inputs = cdata.synthetic(lm, n_samples=4)
            cache[name] = Case(lm, inputs, _run(lm.model, inputs))
        return cache[name]

    return get


@pytest.mark.parametrize("model_name", TINY_MODELS)
@pytest.mark.parametrize("setting_name", setting_names())
def test_setting_contract(setting_name, model_name, zoo_case):
    if "chprune" in setting_name and not _HAS_CHANNEL_PRUNING:
        pytest.skip("advisor/compression/channel_prune.py does not exist yet")
    setting = get_setting(setting_name)
    case = zoo_case(model_name)
    reason = setting.check(case.lm)
    if reason:
        _assert_refused(setting, case, reason)
        return
    result = setting.apply(case.lm)
    assert result.setting == setting_name
    json.dumps(result.notes)
    if setting.needs_calibration:
        assert result.notes["calibration"] == "synthetic(seed=0)"
    from_proto(result.model)  # onnx.checker + shape inference, else ModelError
    got = _run(result.model, case.inputs)
    assert [(g.shape, g.dtype) for g in got] == [(r.shape, r.dtype) for r in case.reference]
    cosine = min(float(np.mean(cosine_per_sample(r, g))) for r, g in zip(case.reference, got, strict=True))
    assert cosine >= setting.min_cosine, f"{setting_name} on {model_name}: cosine {cosine:.6f}"


def _assert_refused(setting, case: Case, reason: str) -> None:
    assert reason.strip() and "\n" not in reason
    with pytest.raises(NotApplicableError) as info:
        setting.apply(case.lm)
    message = str(info.value)
    assert "\n" not in message and reason in message
