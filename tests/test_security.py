"""Untrusted inputs: model files (external data, declared sizes, broken graphs, opsets, dynamic dims),
predictor bundles and --data files. Each gets a one-line error or correct handling, never a crash,
a hang or a read outside the model's folder."""
from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile

import numpy as np
import onnx
import pytest
from cli_assert import one_line_error as _one_line
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from advisor import modelio
from advisor.cli.main import app
from advisor.errors import AdvisorError, DataError, ModelError, OutputError, UsageError
from advisor.features import FEATURE_SCHEMA_VERSION, extract_features
from advisor.modelio import load_model, save_model
from advisor.shapes import parse_input_shape, parse_input_shapes

runner = CliRunner()


def _vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def _matmul(w: TensorProto, n_in: int = 4, n_out: int = 4, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph([helper.make_node("MatMul", ["x", w.name], ["y"])], "g", [_vi("x", [1, n_in])],
                              [_vi("y", [1, n_out])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _external(name: str, dims: list[int], location: str, length: int | None = None) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
    entries = [("location", location), ("offset", "0")]
    if length is not None:
        entries.append(("length", str(length)))
    for key, value in entries:
        t.external_data.add(key=key, value=value)
    return t


@pytest.fixture
def folders(tmp_path):
    """(model folder, a secret file outside it holding 16 float32)."""
    model_dir = tmp_path / "models"
    (model_dir / "sub").mkdir(parents=True)
    secret = tmp_path / "secret.bin"
    np.arange(16, dtype=np.float32).tofile(secret)
    np.ones(16, np.float32).tofile(model_dir / "w.bin")
    return model_dir, secret


def _save(model, path):
    onnx.save(model, str(path))
    return path


# --- external data -------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink", "symlinked_dir"])
def test_external_data_outside_folder_refused(folders, where):
    model_dir, secret = folders
    if where == "symlink":
        os.symlink(secret, model_dir / "link.bin")
    if where == "symlinked_dir":
        os.symlink(secret.parent, model_dir / "up")
    location = {"dotdot": "../secret.bin", "absolute": str(secret), "symlink": "link.bin",
                "symlinked_dir": "up/secret.bin"}[where]
    path = _save(_matmul(_external("w", [4, 4], location, 64)), model_dir / "m.onnx")
    r = runner.invoke(app, ["inspect", str(path)])
    _one_line(r, "outside the model's folder", location)


def test_external_data_in_node_attribute_outside_folder_refused(folders):
    """A Constant's value tensor can carry external data too; onnx's own loader reads those."""
    model_dir, _ = folders
    nodes = [helper.make_node("Constant", [], ["c"], value=_external("c", [1, 4], "../secret.bin", 16)),
             helper.make_node("Add", ["x", "c"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [_vi("x", [1, 4])], [_vi("y", [1, 4])]),
                              opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ModelError, match="outside the model's folder"):
        load_model(_save(model, model_dir / "attr.onnx"))


def test_external_data_dotdot_resolving_inside_loads(folders):
    model_dir, _ = folders
    lm = load_model(_save(_matmul(_external("w", [4, 4], "sub/../w.bin", 64)), model_dir / "m.onnx"))
    assert numpy_helper.to_array(lm.model.graph.initializer[0]).sum() == 16.0


@pytest.mark.parametrize("location, needle", [("nul\0byte.bin", "external data"), ("fifo", "not a regular file"),
                                              ("sub", "not a regular file"), ("gone.bin", "missing"),
                                              ("", "outside")])
def test_external_data_odd_locations_one_line(folders, location, needle):
    """A FIFO would block a reader forever: it is refused without being opened."""
    model_dir, _ = folders
    os.mkfifo(model_dir / "fifo")
    with pytest.raises(ModelError, match=needle):
        load_model(_save(_matmul(_external("w", [4, 4], location, 64)), model_dir / "m.onnx"))


def test_model_with_external_data_in_its_folder_matches_inline(tmp_path, tiny_models):
    inline = _save(tiny_models["plain_cnn"], tmp_path / "inline.onnx")
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    model = onnx.ModelProto()
    model.CopyFrom(tiny_models["plain_cnn"])  # onnx.save moves the weights out of the proto it is given
    onnx.save(model, str(ext_dir / "m.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="m.onnx.data", size_threshold=0)
    assert (ext_dir / "m.onnx.data").stat().st_size > 100_000
    a, b = extract_features(load_model(inline)), extract_features(load_model(ext_dir / "m.onnx"))
    assert a.values == b.values


# --- declared sizes: never allocate what the file does not hold ----------------------------------

def _huge_raw() -> TensorProto:
    return TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[100_000, 100_000, 1000], raw_data=b"\0" * 4096)


def _huge_float_data() -> TensorProto:
    return TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[100_000, 100_000], float_data=[1.0])


@pytest.mark.parametrize("kind", ["raw", "float_data", "external", "external_length"])
def test_huge_declared_tensor_refused_without_allocating(folders, kind):
    model_dir, _ = folders
    tensor = {"raw": _huge_raw, "float_data": _huge_float_data,
              "external": lambda: _external("w", [100_000, 100_000], "w.bin"),
              "external_length": lambda: _external("w", [4, 4], "w.bin", 10**15)}[kind]()
    path = _save(_matmul(tensor, 100_000, 100_000), model_dir / "huge.onnx")
    tracemalloc.start()
    try:
        with pytest.raises(ModelError) as exc:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, peak
    assert "\n" not in str(exc.value)


def test_huge_declared_input_inspects_but_is_never_synthesised(tmp_path):
    """Features count a 10^15-element input by arithmetic; compression refuses to allocate it."""
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [_vi("x", [1, 100_000, 100_000, 100_000])],
                              [_vi("y", [1, 100_000, 100_000, 100_000])])
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "big.onnx")
    r = runner.invoke(app, ["inspect", str(path), "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["features"]["values"]["activation_bytes_total"] > 1e15
    r = runner.invoke(app, ["compress", str(path), "--setting", "fp16", "-o", str(tmp_path / "o.onnx")])
    _one_line(r, "synthetic", "--input-shape")
    assert not (tmp_path / "o.onnx").exists()


# --- broken graphs and opsets --------------------------------------------------------------------

def _model(nodes, inputs, outputs, inits=(), opset=17):
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(inits)),
                             opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("case, needle", [
    ("cycle", "cycle"), ("missing_input", "no node, initializer or graph input produces"),
    ("dangling_output", "produced by nothing"), ("opset99", "opset 99"), ("opset0", "opset 0"),
    ("unknown_dtype", "data type")])
def test_broken_graphs_one_line(tmp_path, case, needle):
    x, y = _vi("x", [1, 4]), _vi("y", [1, 4])
    model = {
        "cycle": lambda: _model([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                                 helper.make_node("Identity", ["b"], ["y"])], [x], [y]),
        "missing_input": lambda: _model([helper.make_node("Add", ["x", "nothing"], ["y"])], [x], [y]),
        "dangling_output": lambda: _model([helper.make_node("Relu", ["x"], ["r"])], [x], [y]),
        "opset99": lambda: _model([helper.make_node("Relu", ["x"], ["y"])], [x], [y], opset=99),
        "opset0": lambda: _model([helper.make_node("Relu", ["x"], ["y"])], [x], [y], opset=0),
        "unknown_dtype": lambda: _matmul(TensorProto(name="w", data_type=33, dims=[4, 4], raw_data=b"\0" * 2048)),
    }[case]()
    r = runner.invoke(app, ["inspect", str(_save(model, tmp_path / f"{case}.onnx"))])
    _one_line(r, needle)


# --- dynamic input dims and --input-shape --------------------------------------------------------

@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory, tiny_models):
    """plain_cnn with input [batch, 3, h, w] and output [batch, 10]."""
    model = onnx.ModelProto()
    model.CopyFrom(tiny_models["plain_cnn"])
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "batch", "h", "w"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return _save(model, tmp_path_factory.mktemp("dyn") / "dyn.onnx")


@pytest.mark.parametrize("command", ["inspect", "compress", "predict", "recommend", "profile"])
def test_dynamic_dims_need_input_shape(dynamic_model, tmp_path, command, monkeypatch):
    monkeypatch.setenv("ADVISOR_LOCK_DIR", str(tmp_path))
    extra = {"inspect": [], "compress": ["-s", "fp16", "-o", str(tmp_path / "o.onnx")],
             "predict": ["-d", "host", "--bundle", str(tmp_path)], "recommend": ["-d", "host", "--bundle", str(tmp_path)],
             "profile": ["--settings", "fp16", "--out", str(tmp_path / "r.jsonl")]}[command]
    (tmp_path / "manifest.json").write_text("{}")  # a bundle folder to find; never reached
    r = runner.invoke(app, [command, str(dynamic_model), *extra])
    _one_line(r, "dynamic input dimensions", "input [batch, 3, h, w]", "--input-shape input=1x3x1x1", code=2,
              after_progress=command == "profile")
    assert not (tmp_path / "o.onnx").exists() and not (tmp_path / "r.jsonl").exists()


def test_input_shape_makes_inspect_and_compress_work(dynamic_model, tmp_path):
    r = runner.invoke(app, ["inspect", str(dynamic_model), "--input-shape", "input=1x3x32x32", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["inputs"][0]["shape"] == [1, 3, 32, 32] and doc["features"]["values"]["has_dynamic_dims"] == 0.0
    out = tmp_path / "o.onnx"
    r = runner.invoke(app, ["compress", str(dynamic_model), "-s", "fp16", "-o", str(out), "--input-shape",
                            "input=1x3x32x32", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["fidelity"]["cosine_mean"] > 0.99
    written = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in written] == [1, 3, 32, 32]


@pytest.mark.parametrize("flag, needle", [("input=1x3x32", "rank 3"), ("inp=1x3x32x32", "Its inputs: input [batch"),
                                          ("input=1x4x32x32", "contradicts dim 1"), ("input=1x3x0x32", "between 1"),
                                          ("input", "NAME=DIMS"), ("input=1x3xhx32", "NAME=DIMS")])
def test_bad_input_shape_is_usage_error(dynamic_model, flag, needle):
    _one_line(runner.invoke(app, ["inspect", str(dynamic_model), "--input-shape", flag]), needle, code=2)


def test_input_shape_parser():
    assert parse_input_shape("input:0=1x3X224,224") == ("input:0", (1, 3, 224, 224))
    assert parse_input_shape("a=b=2x2") == ("a=b", (2, 2))
    assert parse_input_shapes(None) is None
    with pytest.raises(UsageError, match="twice"):
        parse_input_shapes(["x=1", "x=2"])
    with pytest.raises(UsageError):
        parse_input_shape(f"x={2**31}")


def test_profile_with_input_shape_measures_the_fixed_model(dynamic_model, tmp_path):
    """The plan's baseline is the model with its dims fixed, and its hash is the record's identity."""
    from advisor.profile import SweepOptions, build_plan

    plan = build_plan([dynamic_model], ["none", "fp16"], SweepOptions(), tmp_path / "r.jsonl",
                      input_shapes={"input": (1, 3, 32, 32)})
    none, fp16 = plan["items"]
    fixed = onnx.load(none["model_path"]).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in fixed] == [1, 3, 32, 32] and fp16["baseline_path"] == none["model_path"]
    assert none["model"]["input_shapes"] == {"input": [1, 3, 32, 32]}
    assert none["model"]["sha256"] != none["model"]["source_sha256"]


# --- models over 2 GB: external data on write (decided by a size threshold, no real 2 GB file) ------

def test_save_over_limit_writes_external_data(tmp_path, tiny_models):
    out = tmp_path / "big.onnx"
    save_model(tiny_models["plain_cnn"], out, max_inline_bytes=100_000)
    data = tmp_path / "big.onnx.data"
    assert data.stat().st_size > 500_000 and out.stat().st_size < 100_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    a = extract_features(load_model(out)).values
    b = extract_features(modelio.from_proto(tiny_models["plain_cnn"])).values
    assert a == b


def test_save_refused_when_graph_alone_is_over_limit(tmp_path, tiny_models):
    with pytest.raises(OutputError, match="protobuf"):
        save_model(tiny_models["plain_cnn"], tmp_path / "big.onnx", max_inline_bytes=100)
    assert list(tmp_path.iterdir()) == []


def test_compress_over_limit_end_to_end(tmp_path, tiny_models, monkeypatch):
    src = _save(tiny_models["plain_cnn"], tmp_path / "m.onnx")
    monkeypatch.setattr(modelio, "MAX_INLINE_BYTES", 100_000)
    r = runner.invoke(app, ["compress", str(src), "-s", "chprune50", "-o", str(tmp_path / "o.onnx"), "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (tmp_path / "o.onnx.data").is_file() and doc["fidelity"]["n_samples"] == 4
    assert 0 < doc["compressed_size_bytes_after"] < doc["compressed_size_bytes_before"]


# --- bundles through the CLI ---------------------------------------------------------------------

@pytest.fixture
def fake_bundle(tmp_path):
    """A bundle folder that passes the format checks up to its model files' hashes."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    raw = b'{"learner": {}}'
    (folder / "ratio.json").write_bytes(raw)
    import hashlib
    manifest = {"bundle_format_version": 1, "feature_schema_version": FEATURE_SCHEMA_VERSION, "device": "host",
                "runtime": "onnxruntime-cpu", "files": {"ratio.json": hashlib.sha256(raw).hexdigest()}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder, manifest


@pytest.mark.parametrize("tamper, needle", [("pickle", "not JSON"), ("hash", "sha256"), ("format", "bundle format"),
                                            ("schema", "feature schema"), ("garbage", "unreadable")])
def test_recommend_refuses_bad_bundle(fake_bundle, tiny_models, tmp_path, tamper, needle):
    folder, manifest = fake_bundle
    if tamper == "pickle":
        (folder / "model.pkl").write_bytes(b"\x80\x04N.")
    elif tamper == "hash":
        (folder / "ratio.json").write_bytes(b'{"learner": {"evil": 1}}')
    elif tamper in ("format", "schema"):
        manifest["bundle_format_version" if tamper == "format" else "feature_schema_version"] = 999
        (folder / "manifest.json").write_text(json.dumps(manifest))
    else:
        (folder / "manifest.json").write_bytes(b"\x80\x04N.")
    model = _save(tiny_models["mlp"], tmp_path / "mlp.onnx")
    err = _one_line(runner.invoke(app, ["recommend", str(model), "-d", "host", "--bundle", str(folder)]), needle)
    assert "advisor train" in err


# --- --data files --------------------------------------------------------------------------------

class _Trap:
    """Unpickling this creates a marker file: proof that a pickle was (not) loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _npy_member(header_shape, dtype="<f4", payload=b"\0" * 16) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": header_shape})
    return buf.getvalue() + payload


@pytest.fixture(scope="module")
def mlp_path(tmp_path_factory, tiny_models):
    return _save(tiny_models["mlp"], tmp_path_factory.mktemp("mlp") / "mlp.onnx")


def _data_case(tmp_path, case):
    p = tmp_path / "d.npz"
    good = np.zeros((2, 64), np.float32)
    if case == "object_array":
        _npz(p, inputs=np.array([_Trap(str(tmp_path / "PWNED")), None], dtype=object))
    elif case == "npy":
        p = tmp_path / "d.npy"
        np.save(p, good)
    elif case == "pickle":
        import pickle
        p.write_bytes(pickle.dumps(_Trap(str(tmp_path / "PWNED"))))
    elif case in ("huge_header", "not_an_array"):
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("inputs.npy", _npy_member((10**12, 64)) if case == "huge_header" else b"hello")
    elif case == "strings":
        _npz(p, inputs=np.array([["a"] * 64] * 2))
    elif case == "labels_0d":
        _npz(p, inputs=good, labels=np.array(3))
    return p


@pytest.mark.parametrize("case, needle", [("object_array", "Python objects"), ("npy", "not an .npz"),
                                          ("pickle", "not an .npz"), ("huge_header", "declares shape"),
                                          ("not_an_array", "not a numpy array"), ("strings", "dtype"),
                                          ("labels_0d", "labels")])
def test_bad_data_files_one_line(mlp_path, tmp_path, case, needle):
    data = _data_case(tmp_path, case)
    r = runner.invoke(app, ["compress", str(mlp_path), "-s", "int8-static-pc", "-o", str(tmp_path / "o.onnx"),
                            "--data", str(data)])
    _one_line(r, needle)
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o.onnx").exists()


def test_data_loader_raises_only_data_errors(mlp_path, tmp_path):
    from advisor.compression.data import load_npz

    lm = load_model(mlp_path)
    for case in ("object_array", "npy", "huge_header", "not_an_array", "strings", "labels_0d"):
        with pytest.raises(DataError):
            load_npz(_data_case(tmp_path, case), lm)
    assert isinstance(DataError("x"), AdvisorError)


# --- plans given to the on-device agent ----------------------------------------------------------

@pytest.mark.parametrize("plan", ["[]", "{}", '{"items": [{"model": {}}]}', '{"items": [1]}', "not json",
                                  '{"items": [], "device": "x"}'])
def test_agent_refuses_malformed_plan(tmp_path, plan):
    import subprocess
    import sys

    (tmp_path / "plan.json").write_text(plan)
    proc = subprocess.run([sys.executable, "-m", "profiling", "run", str(tmp_path / "plan.json"), "--out",
                           str(tmp_path / "o.jsonl")], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, ADVISOR_LOCK_DIR=str(tmp_path)))
    err = proc.stderr.strip()
    assert proc.returncode == 1 and err.startswith("error: ") and "\n" not in err, err


def test_lock_file_never_follows_a_planted_symlink(tmp_path):
    from profiling.sweep import DeviceLock

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "advisor-profile-host.lock")
    with pytest.raises(OSError):
        with DeviceLock("host", str(tmp_path)):
            pass
    assert victim.read_text() == "precious"
    with DeviceLock("../../etc/x", str(tmp_path)) as lock:
        assert os.path.dirname(lock.path) == str(tmp_path)
