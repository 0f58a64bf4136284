"""On-device profiling agent. Light: numpy + onnxruntime only; Python 3.6 syntax; never imports advisor."""

__version__ = "0.1.0"
