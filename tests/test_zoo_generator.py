"""The generated zoo: size, family coverage, determinism, budgets; a seeded sample of two networks per
family builds, validates, runs in onnxruntime with the declared output shape; listing imports no torch."""
from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from advisor.errors import AdvisorError, ModelError
from advisor.zoo.catalog import all_entries, get_entry
from advisor.zoo.generator import MAX_MACS, MAX_PARAMS, generated_entries

FAMILIES = {"plain", "residual", "depthwise", "multibranch", "squeeze-excite", "dense", "convnext", "mlp", "gru", "lstm",
            "transformer", "vit", "mixer", "unet", "autoencoder", "shuffle", "tcn", "hybrid", "detector", "resmlp",
            "crnn", "wavenet", "dscnn"}
ENTRIES = generated_entries()
BY_NAME = {e.name: e for e in ENTRIES}
_rng = random.Random(20240601)
SAMPLE = [name for family in sorted(FAMILIES)
          for name in _rng.sample(sorted(e.name for e in ENTRIES if e.family == family), 2)]


def test_size_and_family_coverage():
    counts = Counter(e.family for e in ENTRIES)
    assert len(ENTRIES) >= 300
    assert set(counts) == FAMILIES
    assert min(counts.values()) >= 30, counts
    assert {e.kind for e in ENTRIES} == {"generated"}


def test_names_unique_and_well_formed():
    names = [e.name for e in ENTRIES]
    assert len(set(names)) == len(names)
    for e in ENTRIES:
        assert e.name.startswith(f"gen-{e.family}-") and e.name[-3:].isdigit(), e.name


def test_parameters_are_deterministic_and_distinct():
    again = generated_entries()
    assert [(e.name, e.params, e.description) for e in again] == [(e.name, e.params, e.description) for e in ENTRIES]
    other = generated_entries(seed=1)
    assert sum(a.params != b.params for a, b in zip(ENTRIES, other, strict=True)) == len(ENTRIES)
    architectures = {json.dumps({k: v for k, v in e.params.items() if k != "seed"}, sort_keys=True)
                     for e in ENTRIES}
    assert len(architectures) == len(ENTRIES)


def test_parameters_within_budget_and_json_ready():
    for e in ENTRIES:
        p = e.params
        assert 0 < p["est_macs"] <= MAX_MACS and 0 < p["est_params"] <= MAX_PARAMS, (e.name, p)
        assert p["output_shape"][0] == 1
        json.dumps(p)


def _feed(session, params: dict) -> dict:
    rng = np.random.default_rng(0)
    feed = {}
    for i in session.get_inputs():
        if i.type == "tensor(int64)":
            feed[i.name] = rng.integers(0, params["vocab"], size=i.shape, dtype=np.int64)
        else:
            feed[i.name] = rng.standard_normal(i.shape).astype(np.float32)
    return feed


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_builds_validates_and_runs(name):
    import onnxruntime as ort

    from advisor.modelio import from_proto

    entry = BY_NAME[name]
    model, data = entry.build_model()
    assert data is None
    from_proto(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert (meta["advisor.name"], meta["advisor.family"], meta["advisor.kind"]) == (name, entry.family, "generated")
    declared = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert declared == entry.params["output_shape"]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, _feed(sess, entry.params))
    assert list(out.shape) == entry.params["output_shape"]
    assert np.isfinite(out).all()
    # the estimator (which steers each draw to its MAC budget) counts what the graph computes
    from advisor.features.extract import extract_features

    macs = extract_features(from_proto(model)).values["macs_total"]
    assert macs == pytest.approx(entry.params["est_macs"], rel=0.005), (macs, entry.params["est_macs"])


def test_building_twice_is_byte_identical():
    # the cheapest network with BatchNorm (statistics are measured) and one transformer
    bn = min((e for e in ENTRIES if e.family == "residual"), key=lambda e: e.params["est_macs"])
    tf = min((e for e in ENTRIES if e.family == "transformer"), key=lambda e: e.params["est_macs"])
    digests = {}
    for entry in (bn, tf, bn, tf):
        data = entry.build_model()[0].SerializeToString()
        digests.setdefault(entry.name, set()).add(hashlib.sha256(data).hexdigest())
    assert all(len(d) == 1 for d in digests.values()), digests
    assert len(set().union(*digests.values())) == 2


@pytest.mark.parametrize("kinds", [["generated"], None], ids=["generated", "all-kinds"])
def test_listing_does_not_import_torch(kinds):
    code = ("import sys\n"
            "from advisor.zoo.catalog import all_entries\n"
            f"entries = all_entries({kinds!r})\n"
            "assert any(e.kind == 'generated' for e in entries)\n"
            "assert 'torch' not in sys.modules, 'listing imported torch'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_catalogue_lookup():
    assert get_entry("gen-mlp-000", ["generated"]).family == "mlp"
    assert {e.kind for e in all_entries(["generated"])} == {"generated"}
    with pytest.raises(ModelError, match=r"Unknown zoo network 'gen-mlp-999'\. .*Known: gen-.*advisor zoo list"):
        get_entry("gen-mlp-999", ["generated"])
    with pytest.raises(AdvisorError, match="Unknown zoo kind 'bogus'"):
        all_entries(["bogus"])


def test_detector_has_the_parts_it_describes():
    # the cheapest detector with an SPPF and a PAN path: upsampling, concatenations, chained 5x5 pools,
    # boxes of all levels concatenated into [1, boxes, 5 + classes]
    from advisor.zoo.generator_space_detector import boxes, level_sides

    entry = min((e for e in ENTRIES if e.family == "detector" and e.params["sppf"] and e.params["pan"]),
                key=lambda e: e.params["est_macs"])
    p = entry.params
    ops = Counter(n.op_type for n in entry.build_model()[0].graph.node)
    assert ops["Resize"] == p["levels"] - 1 and ops["MaxPool"] == 3, ops
    assert ops["Concat"] >= 1 + 2 * (p["levels"] - 1) + 1 + p["levels"] - 1, ops  # SPPF, FPN+PAN CSPs, heads
    assert level_sides(p) == [p["resolution"] // 2 ** k for k in range(6 - p["levels"], 6)]
    assert p["output_shape"] == [1, boxes(p), 5 + p["classes"]]


@pytest.mark.parametrize("kernel", [2, 3])
def test_wavenet_is_static_and_gated_as_described(kernel):
    # the cheapest WaveNet of each kernel: no shape arithmetic in the graph (the crop to the input's steps,
    # causal for the even kernel and a no-op for the odd one, is a constant slice of the filter and of the
    # gate), tanh x sigmoid per gated layer, one residual 1x1 fewer than gated layers
    from advisor.zoo.generator_space_audio import wavenet_dilations

    entry = min((e for e in ENTRIES if e.family == "wavenet" and e.params["kernel"] == kernel),
                key=lambda e: e.params["est_macs"])
    ops = Counter(n.op_type for n in entry.build_model()[0].graph.node)
    layers = len(wavenet_dilations(entry.params))
    assert ops["Shape"] == 0 and ops["Tanh"] == ops["Sigmoid"] == layers, ops
    assert ops["Conv"] == 1 + 2 * layers + (layers - 1) + layers + 2, ops  # input, filter+gate, residual, skip, post
    assert ops["Slice"] == 2 * layers, ops


def test_crnn_reads_each_frame_as_a_recurrent_step():
    from advisor.zoo.generator_space_audio import crnn_map

    entry = min((e for e in ENTRIES if e.family == "crnn" and e.params["cell"] == "lstm"),
                key=lambda e: e.params["est_macs"])
    graph = entry.build_model()[0].graph
    lstm = next(n for n in graph.node if n.op_type == "LSTM")  # the first layer reads the frames
    hidden = next(a.i for a in lstm.attribute if a.name == "hidden_size")
    assert hidden == entry.params["hidden"]
    _, bins = crnn_map(entry.params)
    weights = {i.name: list(i.dims) for i in graph.initializer}
    assert weights[lstm.input[1]][1:] == [4 * hidden, entry.params["channels"] * bins]  # [dirs, 4 h, channels x bins]
