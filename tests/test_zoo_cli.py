"""`advisor zoo list|build` in-process through CliRunner: JSON listing, building one network, one-line errors."""
from __future__ import annotations

import json

from cli_assert import one_line_error as _assert_one_line_error
from typer.testing import CliRunner

from advisor.cli.main import app

runner = CliRunner()


def test_list_json_filters():
    result = runner.invoke(app, ["zoo", "list", "--kind", "generated", "--family", "lstm", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) >= 30
    assert {(r["kind"], r["family"]) for r in rows} == {("generated", "lstm")}
    assert {"name", "description", "params"} <= set(rows[0])


def test_list_table():
    result = runner.invoke(app, ["zoo", "list", "--kind", "generated", "--family", "mlp"])
    assert result.exit_code == 0, result.stderr
    assert "gen-mlp-000" in result.stdout


def test_build_writes_valid_model_and_skips_existing(tmp_path):
    from advisor.modelio import load_model

    out = tmp_path / "zoo"
    result = runner.invoke(app, ["zoo", "build", "gen-mlp-000", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    path = out / "gen-mlp-000.onnx"
    lm = load_model(path)
    assert {p.key: p.value for p in lm.model.metadata_props}["advisor.name"] == "gen-mlp-000"
    assert [p.name for p in out.iterdir()] == ["gen-mlp-000.onnx"]  # no temp files, no data file
    mtime = path.stat().st_mtime_ns
    again = runner.invoke(app, ["zoo", "build", "gen-mlp-000", "-o", str(out)])
    assert again.exit_code == 0 and "1 already there" in again.stdout, again.stdout
    assert path.stat().st_mtime_ns == mtime


def test_unknown_name(tmp_path):
    result = runner.invoke(app, ["zoo", "build", "gen-mlp-999", "--kind", "generated", "-o", str(tmp_path)])
    _assert_one_line_error(result, "Unknown zoo network 'gen-mlp-999'", "Known: gen-", "advisor zoo list")
    assert list(tmp_path.iterdir()) == []


def test_missing_output_parent(tmp_path):
    result = runner.invoke(app, ["zoo", "build", "gen-mlp-000", "-o", str(tmp_path / "a" / "b")])
    _assert_one_line_error(result, "does not exist")
    assert not (tmp_path / "a").exists()


def test_unknown_kind_and_family():
    _assert_one_line_error(runner.invoke(app, ["zoo", "list", "--kind", "bogus"]), "Unknown zoo kind 'bogus'")
    _assert_one_line_error(runner.invoke(app, ["zoo", "list", "--kind", "generated", "--family", "yolo"]),
                           "Unknown family 'yolo'", "residual")


def test_build_needs_names_or_group(tmp_path):
    _assert_one_line_error(runner.invoke(app, ["zoo", "build", "-o", str(tmp_path)]), "--kind", code=2)


def test_entry_data_is_written_next_to_the_model(tmp_path, tiny_models):
    import numpy as np

    from advisor.cli.zoo_cmd import _build_one
    from advisor.zoo.catalog import ZooEntry

    data = {"input": np.zeros((2, 64), np.float32), "labels": np.array([1, 2])}
    entry = ZooEntry(name="toy", family="mlp", kind="trained", description="toy",
                     build=lambda: (tiny_models["mlp"], data))
    written = _build_one(entry, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.npz", "toy.onnx"]
    assert written == sum(p.stat().st_size for p in tmp_path.iterdir())
    with np.load(tmp_path / "toy.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["input", "labels"] and z["labels"].tolist() == [1, 2]
