"""Fuzzing (hypothesis, bounded): mutated model bytes through the ONNX loader and feature extractor,
and arbitrary text through the quantity and --input-shape parsers. The only outcomes allowed are a
result or an AdvisorError; no other exception, no hang. The longer run: benchmarks/fuzz_loader.py
(`make fuzz`)."""
from __future__ import annotations

import faulthandler
import warnings
from datetime import timedelta

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from advisor.errors import AdvisorError, UsageError
from advisor.features import extract_features
from advisor.modelio import load_model
from advisor.shapes import parse_input_shape
from advisor.units import parse_energy_mj, parse_percent, parse_size_bytes, parse_time_ms

# A per-example deadline catches slow paths; generous because this machine is shared and noisy.
FUZZ = settings(max_examples=120, deadline=timedelta(seconds=5), derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True, scope="module")
def hang_guard():
    """A true hang (a loop inside C++) never returns to hypothesis: dump the stacks and exit instead."""
    faulthandler.dump_traceback_later(300, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _init(name, shape, seed=0):
    return numpy_helper.from_array(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name)


def _seeds() -> list[bytes]:
    """Small valid models (hundreds of bytes, so mutations land in structure, not in weights)."""
    vi = helper.make_tensor_value_info
    cnn = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("Gemm", ["f", "g"], ["y"], transB=1)],
        "cnn", [vi("x", TensorProto.FLOAT, [1, 2, 4, 4])], [vi("y", TensorProto.FLOAT, [1, 3])],
        [_init("w", (2, 2, 3, 3)), _init("b", (2,)), _init("g", (3, 2))])
    shape = helper.make_graph(
        [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "t"], ["r"]),
         helper.make_node("MatMul", ["r", "m"], ["mm"]), helper.make_node("Softmax", ["mm"], ["y"], axis=-1),
         helper.make_node("Identity", ["s"], ["shape_out"])],
        "reshape", [vi("x", TensorProto.FLOAT, ["N", 2, 3])],
        [vi("y", TensorProto.FLOAT, ["a", 4]), vi("shape_out", TensorProto.INT64, [3])],
        [numpy_helper.from_array(np.array([-1, 6], np.int64), "t"), _init("m", (6, 4))])
    gather = helper.make_graph(
        [helper.make_node("Gather", ["emb", "ids"], ["e"]), helper.make_node("ReduceSum", ["e", "ax"], ["y"])],
        "tokens", [vi("ids", TensorProto.INT64, [1, 5])], [vi("y", TensorProto.FLOAT, [1, 1, 4])],
        [_init("emb", (7, 4)), numpy_helper.from_array(np.array([1], np.int64), "ax")])
    return [helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
            for g in (cnn, shape, gather)]


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    """A seed model after a few bit flips, byte overwrites, a truncation or a splice of another seed."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "truncate", "splice"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[i] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[i:]
        else:
            other = draw(st.sampled_from(SEEDS))
            j = draw(st.integers(0, len(other) - 1))
            data[i:i + draw(st.integers(0, 64))] = other[j:j + draw(st.integers(1, 64))]
    return bytes(data)


def _load_and_extract(path) -> None:
    """The property: success or AdvisorError, nothing else (numpy warnings on odd weights are fine),
    from loading, feature extraction and the replay of three settings every prediction runs (the size
    model's hollow copy, channel pruning's shape rules, int8's quantizer)."""
    from advisor.predictors.structure import structure_and_size

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lm = load_model(path)
            extract_features(lm)
            event("loaded")
            structure_and_size(lm, ["chprune25", "int8-static-pt", "fp16"])
        except AdvisorError as exc:
            event(f"refused: {type(exc).__name__}")


def test_seeds_are_valid(tmp_path):
    for i, raw in enumerate(SEEDS):
        (tmp_path / f"{i}.onnx").write_bytes(raw)
        extract_features(load_model(tmp_path / f"{i}.onnx"))


@FUZZ
@given(raw=mutated())
def test_mutated_bytes_load_or_advisor_error(tmp_path_factory, raw):
    path = tmp_path_factory.getbasetemp() / "fuzz-bytes.onnx"
    path.write_bytes(raw)
    _load_and_extract(path)


@st.composite
def structurally_mutated(draw) -> bytes:
    """A parsed seed with fields changed: dims, data types, op types, inputs, attributes, opsets."""
    model = onnx.ModelProto()
    model.ParseFromString(draw(st.sampled_from(SEEDS)))
    g = model.graph
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 6))
        node = g.node[draw(st.integers(0, len(g.node) - 1))]
        if kind == 0:
            t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
            if t.dims:
                t.dims[draw(st.integers(0, len(t.dims) - 1))] = draw(st.sampled_from([0, 1, -1, 3, 2**40]))
        elif kind == 1:
            g.initializer[draw(st.integers(0, len(g.initializer) - 1))].data_type = draw(st.integers(0, 40))
        elif kind == 2:
            node.op_type = draw(st.sampled_from(["Conv", "MatMul", "Gather", "Reshape", "LSTM", "If", "Loop",
                                                 "ConstantOfShape", "QuantizeLinear", "Split", "Resize"]))
        elif kind == 3 and node.input:
            node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(["", "x", node.output[0]]))
        elif kind == 4 and node.attribute:
            a = node.attribute[0]
            if a.ints:
                a.ints[0] = draw(st.sampled_from([0, -1, 2**31, 7]))
            else:
                a.i = draw(st.sampled_from([0, -1, 2**40]))
        elif kind == 5:
            dims = g.input[0].type.tensor_type.shape.dim
            dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(st.sampled_from([0, 1, 10**9]))
        else:
            model.opset_import[0].version = draw(st.sampled_from([0, 1, 7, 13, 21, 28, 29]))
    return model.SerializeToString()


@FUZZ
@given(raw=structurally_mutated())
def test_structurally_mutated_load_or_advisor_error(tmp_path_factory, raw):
    path = tmp_path_factory.getbasetemp() / "fuzz-struct.onnx"
    path.write_bytes(raw)
    _load_and_extract(path)


PARSERS = [parse_time_ms, parse_energy_mj, parse_size_bytes, parse_percent]


@settings(max_examples=300, deadline=timedelta(seconds=2), derandomize=True)
@given(parser=st.sampled_from(PARSERS),
       text=st.one_of(st.text(max_size=30), st.from_regex(r"\s*[-+]?[0-9.eE]{0,12}\s*[a-zA-Zµ%]{0,4}\s*")))
def test_quantity_parsers_value_or_usage_error(parser, text):
    try:
        value = parser(text)
    except UsageError:  # the CLI prints it on one line (it collapses whitespace the user typed)
        return
    assert isinstance(value, float) and np.isfinite(value) and value >= 0


@settings(max_examples=300, deadline=timedelta(seconds=2), derandomize=True)
@given(text=st.one_of(st.text(max_size=40), st.from_regex(r"[a-z:=]{0,6}=[0-9xX,]{0,24}")))
def test_input_shape_parser_value_or_usage_error(text):
    try:
        name, dims = parse_input_shape(text)
    except UsageError:
        return
    assert name and dims and all(1 <= d < 2**31 for d in dims)


def test_unknown_element_types_and_non_utf8_text_are_refused_in_one_line(tmp_path):
    """Two corruptions the byte fuzzer found past loading: an initializer of a data type onnx does
    not define (refused at load), and a text field that is not UTF-8 (refused by the size model's
    replay, which copies the model's fields). Both are ModelErrors, never a KeyError or a decode error."""
    from advisor.errors import ModelError
    from advisor.predictors.structure import structure_and_size
    from advisor.zoo.tiny import TINY_MODELS, build_tiny

    model = build_tiny(TINY_MODELS[0])
    model.graph.initializer[0].data_type = 35
    (tmp_path / "type.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(ModelError, match="data type 35"):
        load_model(tmp_path / "type.onnx")
    model = build_tiny(TINY_MODELS[0])
    model.producer_name = "ab"
    raw = model.SerializeToString()
    at = raw.index(b"\x12\x02ab")  # ModelProto field 2 (producer_name), 2 bytes
    (tmp_path / "text.onnx").write_bytes(raw[:at] + b"\x12\x02\xdd\x01" + raw[at + 4:])
    with pytest.raises(ModelError, match="not valid UTF-8"):
        structure_and_size(load_model(tmp_path / "text.onnx"), ["fp16"])
