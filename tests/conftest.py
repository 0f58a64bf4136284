"""Shared fixtures: the tiny model zoo, built once per test session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_models() -> dict:
    """Tiny zoo model name -> onnx.ModelProto (seeded; never modify these, copy first)."""
    from advisor.zoo.tiny import TINY_MODELS, build_tiny

    return {name: build_tiny(name) for name in TINY_MODELS}
