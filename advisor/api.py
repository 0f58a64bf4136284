"""The public Python surface: returns frozen dataclasses, raises AdvisorError subclasses,
never prints and never exits. The CLI is a thin renderer over these functions."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import AdvisorError


@dataclass(frozen=True)
class ModelReport:
    """What ``advisor inspect`` reports about one ONNX model."""

    path: str
    sha256: str
    size_bytes: int
    opset: int
    inputs: list
    outputs: list
    features: object  # advisor.features.ModelFeatures

    def to_dict(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "size_bytes": self.size_bytes, "opset": self.opset,
                "inputs": self.inputs, "outputs": self.outputs, "features": self.features.to_dict()}


@dataclass(frozen=True)
class CompressReport:
    """What ``advisor compress`` did: sizes before/after, the setting's notes, and output fidelity."""

    setting: str
    source: str
    output: str
    size_bytes_before: int
    size_bytes_after: int
    compressed_size_bytes_before: int
    compressed_size_bytes_after: int
    seconds: float
    notes: dict = field(default_factory=dict)
    fidelity: dict | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def inspect(path: str | Path, input_shapes: dict | None = None) -> ModelReport:
    """Load and validate the model at ``path`` and extract its features. ``input_shapes``
    ({input name: dims}) fixes dynamic input dims; a model left with any is refused (UsageError)."""
    from advisor.features import extract_features
    from advisor.modelio import load_model

    lm = load_model(path, input_shapes=input_shapes, require_static=True)
    return ModelReport(path=str(path), sha256=file_sha256(path), size_bytes=Path(path).stat().st_size,
                       opset=_default_opset(lm.model), inputs=_io(lm.inferred.graph.input, lm.model),
                       outputs=_io(lm.inferred.graph.output, lm.model), features=extract_features(lm))


def settings() -> list[dict]:
    """Every registered compression setting as a dict (name, family, description, touches, ...)."""
    from advisor.compression import get_setting, setting_names

    return [get_setting(n).to_dict() for n in setting_names()]


def compress(path: str | Path, setting: str, out: str | Path, data: str | Path | None = None,
             check_fidelity: bool = True, input_shapes: dict | None = None) -> CompressReport:
    """Apply ``setting`` to the model at ``path``, write it atomically to ``out``, and (by default)
    compare its outputs with the original's on the calibration/--data inputs (4 samples).
    ``input_shapes`` as for ``inspect``; the written model keeps those dims."""
    from advisor.compression import data as cdata
    from advisor.compression import get_setting
    from advisor.compression.sizes import size_bytes
    from advisor.modelio import from_proto, load_model, save_model

    chosen = get_setting(setting)  # unknown names fail before any heavy work
    lm = load_model(path, input_shapes=input_shapes, require_static=True)
    calib = cdata.load_npz(data, lm) if data is not None else None
    # Inputs for the fidelity check, made before anything is written (a model may declare huge inputs).
    probe = calib or (cdata.synthetic(lm, n_samples=4) if check_fidelity else None)
    start = time.perf_counter()
    result = chosen.apply(lm, calib)
    seconds = time.perf_counter() - start
    from_proto(result.model)  # never write a model that does not validate
    save_model(result.model, out)
    fid = _fidelity(lm, out, probe) if check_fidelity else None
    return CompressReport(setting=setting, source=str(path), output=str(out),
                          size_bytes_before=size_bytes(lm.model), size_bytes_after=size_bytes(result.model),
                          compressed_size_bytes_before=_compressed_size(lm.model),
                          compressed_size_bytes_after=_compressed_size(result.model),
                          seconds=round(seconds, 3), notes=result.notes, fidelity=fid)


def predict(model, device: str, runtime: str | None = None, data=None, bundle=None, input_shapes=None,
            measured_ratios=None, measured_from=None):
    """Every setting's predicted latency/energy/size/accuracy drop for ``model`` on ``device``
    (an ``advisor.advise.Prediction``). ``input_shapes`` as for ``inspect``. ``measured_ratios``
    ({setting: its latency over the uncompressed model's, measured on the device}): those settings
    report the measurement and the related ones are updated from it. ``measured_from``: profile-record
    files (``advisor profile``, the on-device agent) whose records of this model on this device and
    runtime give measured ratios too."""
    from advisor import advise

    return advise.predict(model, device, runtime, data, bundle, input_shapes=input_shapes,
                          measured_ratios=measured_ratios, measured_from=measured_from)


def recommend(model, device: str, constraints=None, objective: str = "latency", runtime: str | None = None,
              data=None, risk: str = "pessimistic", bundle=None, apply=None, verify: bool = False, plot=None,
              input_shapes=None, measured_ratios=None, measured_from=None):
    """The setting that meets ``constraints`` (an ``advisor.decision.Constraints``) and is best on
    ``objective`` (latency | energy | size | accuracy). Returns an ``advisor.advise.Recommendation``
    whose ``setting`` is None when nothing fits; optionally writes (``apply``), measures (``verify``,
    host only) and charts (``plot``) it. ``input_shapes`` as for ``inspect``; ``measured_ratios`` and
    ``measured_from`` as for ``predict``."""
    from advisor import advise
    from advisor import verify as verify_mod
    from advisor.decision import Constraints

    rec = advise.recommend(model, device, constraints or Constraints(), objective, runtime, data, risk, bundle,
                           input_shapes=input_shapes, measured_ratios=measured_ratios, measured_from=measured_from)
    rec = verify_mod.apply_and_verify(rec, apply, verify, data, input_shapes=input_shapes)
    if plot:
        verify_mod.plot(rec, plot)
    return rec


def __getattr__(name):
    if name == "Constraints":
        from advisor.decision import Constraints

        return Constraints
    raise AttributeError(name)


def _fidelity(lm, out, inputs) -> dict:
    """Fidelity of the first output on up to 4 samples of ``inputs`` (CalibrationData); the dict says
    which inputs were used. Both sessions load from files (the original and the written ``out``), so
    models over 2 GB with external data work too."""
    from profiling.accuracy import fidelity
    from profiling.runtimes.ort_session import make_session, run_samples

    feeds = list(inputs.feeds())[:4]
    try:
        ref = run_samples(make_session(str(lm.path)), feeds)[0]
        got = run_samples(make_session(str(out)), feeds)[0]
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise AdvisorError(f"The compressed model does not run in onnxruntime: {str(exc).splitlines()[0]}") from exc
    return {"inputs": inputs.source, "n_samples": len(feeds), **fidelity(ref, got)}


def _compressed_size(model) -> int:
    """Deflated bytes of the serialized model; one over protobuf's limit is deflated in parts."""
    import zlib

    from advisor import external_data, modelio
    from advisor.compression.sizes import compressed_size_bytes

    if model.ByteSize() <= modelio.MAX_INLINE_BYTES:
        return compressed_size_bytes(model)
    proto, payloads = external_data.externalize(model, "weights")
    z = zlib.compressobj(6)
    n = len(z.compress(proto.SerializeToString()))
    for chunk in payloads:
        n += len(z.compress(chunk))
    return n + len(z.flush())


def _default_opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _io(values, model) -> list:
    inits = {t.name for t in model.graph.initializer}
    out = []
    for vi in values:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
        out.append({"name": vi.name, "shape": shape, "elem_type": int(tt.elem_type)})
    return out
