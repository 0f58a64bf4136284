"""onnxruntime with one execution provider (CPU, CUDA or TensorRT), threads pinned and recorded."""
import platform


class OnnxRuntime(object):
    """A runtime backed by onnxruntime and ``provider``; GPU providers are used only when present."""

    def __init__(self, provider="CPUExecutionProvider"):
        self.provider = provider
        self.name = {"CPUExecutionProvider": "onnxruntime-cpu", "CUDAExecutionProvider": "onnxruntime-cuda",
                     "TensorrtExecutionProvider": "onnxruntime-tensorrt"}.get(provider, provider)

    def available(self):
        """(True, "") when onnxruntime imports and offers the provider, else (False, reason)."""
        try:
            import onnxruntime as ort
        except ImportError as exc:
            return False, "onnxruntime is not installed ({})".format(exc)
        if self.provider not in ort.get_available_providers():
            return False, "onnxruntime {} offers {}, not {}".format(
                ort.__version__, ", ".join(ort.get_available_providers()), self.provider)
        return True, ""

    def versions(self):
        import numpy
        import onnxruntime as ort
        return {"onnxruntime": ort.__version__, "numpy": numpy.__version__, "python": platform.python_version()}

    def load(self, model_path, threads=1):
        """An InferenceSession on ``model_path`` with pinned threads (the CPU EP always backs up)."""
        from profiling.runtimes.ort_session import make_session
        return OrtSession(make_session(str(model_path), threads=threads, providers=self._providers()))

    def node_profile(self, model_path, feed, threads=1):
        """Per-node kernel times by onnxruntime's profiler (``ort_session.node_profile``)."""
        from profiling.runtimes.ort_session import node_profile
        return node_profile(str(model_path), feed, threads=threads, providers=self._providers())

    def _providers(self):
        """This runtime's provider, with the CPU EP backing up a GPU one."""
        if self.provider == "CPUExecutionProvider":
            return [self.provider]
        return [self.provider, "CPUExecutionProvider"]


class OrtSession(object):
    """Wraps an InferenceSession: ``run(feed)`` returns the list of outputs."""

    def __init__(self, session):
        self.session = session

    def input_names(self):
        return [i.name for i in self.session.get_inputs()]

    def providers(self):
        return list(self.session.get_providers())

    def run(self, feed):
        return self.session.run(None, feed)
