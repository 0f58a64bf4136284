"""Bad input gets a one-line error and a non-zero exit, never a traceback (in-process, CliRunner)."""
from __future__ import annotations

import onnx
import pytest
from cli_assert import one_line_error as _assert_one_line_error
from onnx import TensorProto, helper
from typer.testing import CliRunner

from advisor.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def good_model(tmp_path_factory, tiny_models):
    path = tmp_path_factory.mktemp("m") / "plain.onnx"
    onnx.save(tiny_models["plain_cnn"], str(path))
    return path


def test_missing_file(tmp_path):
    _assert_one_line_error(runner.invoke(app, ["inspect", str(tmp_path / "nope.onnx")]), "does not exist")


def test_directory(tmp_path):
    _assert_one_line_error(runner.invoke(app, ["inspect", str(tmp_path)]), "directory")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    _assert_one_line_error(runner.invoke(app, ["inspect", str(p)]), "empty")


def test_not_onnx(tmp_path):
    p = tmp_path / "text.onnx"
    p.write_text("this is not a model\n" * 20)
    _assert_one_line_error(runner.invoke(app, ["inspect", str(p)]), str(p))


def test_truncated_onnx(tmp_path, good_model):
    p = tmp_path / "trunc.onnx"
    p.write_bytes(good_model.read_bytes()[: good_model.stat().st_size // 2])
    _assert_one_line_error(runner.invoke(app, ["inspect", str(p)]), str(p))


def test_unknown_op_domain(tmp_path):
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    p = tmp_path / "custom.onnx"
    onnx.save(model, str(p))
    _assert_one_line_error(runner.invoke(app, ["inspect", str(p)]), "com.example")


def test_unknown_setting(tmp_path, good_model):
    r = runner.invoke(app, ["compress", str(good_model), "--setting", "int3-magic", "-o", str(tmp_path / "o.onnx")])
    _assert_one_line_error(r, "int3-magic", "Known:")
    assert not (tmp_path / "o.onnx").exists()


def test_setting_not_applicable(tmp_path, tiny_models):
    p = tmp_path / "mlp.onnx"
    onnx.save(tiny_models["mlp"], str(p))
    r = runner.invoke(app, ["compress", str(p), "--setting", "chprune50", "-o", str(tmp_path / "o.onnx")])
    _assert_one_line_error(r, "does not apply")
    assert not (tmp_path / "o.onnx").exists()


def test_output_folder_missing(tmp_path, good_model):
    r = runner.invoke(app, ["compress", str(good_model), "--setting", "fp16", "-o", str(tmp_path / "no/dir/o.onnx")])
    _assert_one_line_error(r, "does not exist")


def test_bad_data_file(tmp_path, good_model):
    bad = tmp_path / "d.npz"
    bad.write_bytes(b"junk")
    r = runner.invoke(app, ["compress", str(good_model), "--setting", "int8-static-pc", "-o",
                            str(tmp_path / "o.onnx"), "--data", str(bad)])
    _assert_one_line_error(r, "npz")
    assert not (tmp_path / "o.onnx").exists()


def test_missing_option_is_usage_error(good_model):
    r = runner.invoke(app, ["compress", str(good_model)])
    _assert_one_line_error(r, "missing option '--setting'", "see 'advisor compress --help'", code=2)


@pytest.mark.parametrize(("args", "needles"), [
    (["predict", "MODEL", "--device", "host", "--thread", "2"], ["no such option: --thread", "advisor predict --help"]),
    (["recommend"], ["missing argument 'model'", "advisor recommend --help"]),
    (["evaluate", "--seed", "x"], ["invalid value for '--seed'", "advisor evaluate --help"]),
    (["settings", "extra"], ["unexpected extra argument", "(extra)"]),
    (["zoo", "build", "--bogus"], ["no such option: --bogus", "advisor zoo build --help"]),
    (["frobnicate"], ["no such command 'frobnicate'", "advisor --help"]),
    # click raises this one without its context: the command is found from the arguments
    (["recommend", "MODEL", "--device", "host", "--max-latency"], ["'--max-latency' requires an argument",
                                                                  "advisor recommend --help"]),
    (["zoo", "build", "--out"], ["'--out' requires an argument", "advisor zoo build --help"]),
])
def test_usage_errors_are_one_line(good_model, args, needles):
    """click's usage errors (unknown option, missing argument, bad value) are one line with exit 2, like
    every other error, instead of a framed usage panel."""
    args = [str(good_model) if a == "MODEL" else a for a in args]
    _assert_one_line_error(runner.invoke(app, args), *needles, code=2)


def test_bare_command_prints_its_help():
    for args, word in (([], "recommend"), (["zoo"], "build")):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and word in r.stdout and "error" not in r.stderr, (r.stdout, r.stderr)
