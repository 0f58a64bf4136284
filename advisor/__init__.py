"""Compression Advisor: whether and how to compress a neural network for an embedded device."""

__version__ = "0.1.0"

__all__ = ["recommend", "predict", "Constraints", "AdvisorError"]


def __getattr__(name):
    """Lazy public API: ``from advisor import recommend, predict, Constraints`` imports nothing heavy."""
    if name in ("recommend", "predict", "inspect", "compress", "settings"):
        from advisor import api

        return getattr(api, name)
    if name == "Constraints":
        from advisor.decision import Constraints

        return Constraints
    if name == "AdvisorError":
        from advisor.errors import AdvisorError

        return AdvisorError
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
