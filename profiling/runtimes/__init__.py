"""Inference runtimes the profiler can drive, in one registry.

Built-ins: onnxruntime with the CPU, CUDA or TensorRT execution provider, and ``fake`` (a test
double). Third parties register through the ``advisor.runtimes`` entry-point group.
"""
from profiling.registry import Registry

RUNTIMES = Registry("runtime", entry_point_group="advisor.runtimes")
RUNTIMES.register("onnxruntime-cpu", "profiling.runtimes.onnxrt:OnnxRuntime", provider="CPUExecutionProvider")
RUNTIMES.register("onnxruntime-cuda", "profiling.runtimes.onnxrt:OnnxRuntime", provider="CUDAExecutionProvider")
RUNTIMES.register("onnxruntime-tensorrt", "profiling.runtimes.onnxrt:OnnxRuntime",
                  provider="TensorrtExecutionProvider")
RUNTIMES.register("fake", "profiling.runtimes.fake:FakeRuntime")


def get_runtime(name):
    """The runtime instance registered as ``name`` (UnknownNameError lists the known names)."""
    obj = RUNTIMES.get(name)
    return obj() if isinstance(obj, type) else obj


def available_runtimes():
    """Names of the registered runtimes usable on this machine."""
    return [n for n in RUNTIMES.names() if get_runtime(n).available()[0]]
