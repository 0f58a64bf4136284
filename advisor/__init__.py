"""Compression Advisor: whether and how to compress a neural network for an embedded device."""

__version__ = "0.1.0"
