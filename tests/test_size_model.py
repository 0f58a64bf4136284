"""The analytic size model against the real thing: estimate vs ``ByteSize()`` of every setting's output.

Bounds, from measurements (onnx 1.23.2, onnxruntime 1.32.0, torch 2.13 exports) with margin:
settings written in this repo (none, sparse*, wq*, chprune*) are replayed exactly (0 bytes);
onnxruntime's float16 converter is replayed exactly (0 bytes measured; 0.1% allowed for converter
drift); int8 settings and pipelines replay onnxruntime's pre-processing and quantizers (measured
worst 0.19% on the tiny zoo, 0.6% on 36 generated 0.03-14 MB networks; on the int8 settings of the
zoo's ConvNeXts, transformers, ViTs, hybrids and mixers, ``benchmarks/int8_replay_check.py``) and must
stay within 2%, the accuracy the recommender relies on, on the tiny zoo as well as on the >= 1 MB
models below.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from advisor.compression import get_setting, setting_names
from advisor.errors import NotApplicableError, SettingError
from advisor.modelio import from_proto
from advisor.predictors.size import estimate_all, estimate_size_bytes, hollow, serialized_bytes
from advisor.zoo.tiny import TINY_MODELS

EXACT = ("none", "sparse50", "sparse75", "sparse90", "wq16", "wq8", "wq4", "chprune10", "chprune25", "chprune50")
MEDIUM = ("resnet_bn", "mobilenet", "transformer", "lstm", "gru", "mlp")


def _tolerance(name: str) -> float:
    """Allowed |estimate - actual| / actual for setting ``name``."""
    return 0.0 if name in EXACT else 0.001 if name == "fp16" else 0.02


def _check_all(lm) -> list:
    """(setting, actual bytes, estimated bytes) for every setting; asserts applicability agrees."""
    estimates = estimate_all(lm)
    rows = []
    for name in setting_names():
        setting = get_setting(name)
        if setting.check(lm):
            assert estimates[name] is None, f"{name}: does not apply but was estimated"
            continue
        rows.append((name, setting.apply(lm).model.ByteSize(), estimates[name]))
    return rows


def _assert_within(rows: list, model: str) -> None:
    bad = [f"{name}: actual {actual}, estimate {est} ({100 * (est - actual) / actual:+.2f}%)"
           for name, actual, est in rows if abs(est - actual) > _tolerance(name) * actual]
    assert not bad, f"{model}: " + "; ".join(bad)


@pytest.mark.parametrize("model_name", TINY_MODELS)
def test_tiny_zoo_estimates_match_applied_settings(tiny_models, model_name):
    rows = _check_all(from_proto(tiny_models[model_name]))
    assert rows
    _assert_within(rows, model_name)


@pytest.fixture(scope="module")
def medium_models() -> dict:
    """Name -> ModelProto of 1-4 MB networks of each family (seeded torch exports)."""
    return {name: _build_medium(name) for name in MEDIUM}


@pytest.mark.parametrize("model_name", MEDIUM)
def test_models_over_1mb_within_2_percent(medium_models, model_name):
    model = medium_models[model_name]
    assert model.ByteSize() >= 1_000_000
    _assert_within(_check_all(from_proto(model)), model_name)


def test_not_applicable_raises_and_is_none_in_estimate_all(tiny_models):
    lm = from_proto(tiny_models["mlp"])
    with pytest.raises(NotApplicableError, match="no prunable Conv channels"):
        estimate_size_bytes(lm, "chprune25")
    assert estimate_all(lm, ["chprune25", "none"]) == {"chprune25": None, "none": lm.model.ByteSize()}


def test_estimate_all_covers_every_setting_and_unknown_names_fail(tiny_models):
    lm = from_proto(tiny_models["plain_cnn"])
    assert list(estimate_all(lm)) == setting_names()
    with pytest.raises(SettingError, match="Known"):
        estimate_size_bytes(lm, "int3-magic")


_DTYPES = [TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT8, TensorProto.INT4, TensorProto.INT32,
           TensorProto.INT64, TensorProto.UINT8, TensorProto.DOUBLE]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_DTYPES), st.lists(st.integers(1, 90), min_size=1, max_size=3),
                          st.text("abc/._:", min_size=1, max_size=150)), min_size=1, max_size=6))
def test_hollow_arithmetic_is_exact(tensors):
    """Payload lengths straddling varint boundaries (127/128, 16383/16384 bytes) and names of any length:
    the bytes added back to a hollow copy are exactly the ones taken out."""
    inits = []
    for i, (dtype, dims, name) in enumerate(tensors):
        n = int(np.prod(dims))
        t = helper.make_tensor(f"{name}{i}", dtype, dims, bytes((n + 1) // 2 if dtype == TensorProto.INT4 else
                                                                n * helper.tensor_dtype_to_np_dtype(dtype).itemsize),
                               raw=True)
        inits.append(t)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], inits)
    model = helper.make_model(graph)
    assert serialized_bytes(hollow(model)) == model.ByteSize()


# --- >= 1 MB networks -----------------------------------------------------------------------------

def _build_medium(name: str) -> onnx.ModelProto:
    import torch

    from advisor.zoo.export import export

    torch.manual_seed(0)
    module, example, in_names = _MEDIUM_BUILDERS[name]()
    return export(module, example, in_names, ["output"], keep_batchnorm=(name == "resnet_bn"))


def _resnet_bn():
    """Residual CNN with BatchNormalization kept (so int8 replays Conv+BN fusion): ~0.48M params."""
    import torch
    from torch import nn

    def cbr(cin, cout, stride=1):
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(*cbr(c, c), nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

        def forward(self, x):
            return torch.relu(x + self.body(x))

    m = nn.Sequential(*cbr(3, 32), *cbr(32, 64, 2), Block(64), *cbr(64, 128, 2), Block(128),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 100))
    return m, (torch.randn(1, 3, 32, 32),), ["input"]


def _mobilenet():
    """Depthwise-separable CNN with ReLU6 (Clip) up to 512 channels: ~0.45M params."""
    import torch
    from torch import nn

    def dws(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin), nn.ReLU6(), nn.Conv2d(cin, cout, 1), nn.ReLU6()]

    m = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU6(), *dws(32, 64, 1), *dws(64, 128, 2),
                      *dws(128, 256, 2), *dws(256, 512, 2), *dws(512, 512, 1),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 100))
    return m, (torch.randn(1, 3, 64, 64),), ["input"]


def _transformer():
    """Two pre-norm encoder blocks with explicit attention and GELU, vocabulary 1000, d 128: ~0.39M params."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d=128, heads=4, ff=256):
            super().__init__()
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
            self.heads, self.d = heads, d

        def forward(self, x):
            b, t, _ = x.shape
            hd = self.d // self.heads
            q, k, v = (z.reshape(b, t, self.heads, hd).transpose(1, 2) for z in self.qkv(self.ln1(x)).chunk(3, -1))
            att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5, dim=-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, self.d))
            return x + self.ff(self.ln2(x))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 128)
            self.blocks = nn.Sequential(Block(), Block())

        def forward(self, ids):
            return self.blocks(self.emb(ids))

    return Encoder(), (torch.randint(0, 1000, (1, 32)),), ["input_ids"]


def _recurrent(cell: str):
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(64, 192, num_layers=2, batch_first=True)
            self.head = nn.Linear(192, 10)

        def forward(self, x):
            return self.head(self.rnn(x)[0])

    return Tagger(), (torch.randn(1, 24, 64),), ["input"]


def _mlp():
    import torch
    from torch import nn
    m = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    return m, (torch.randn(1, 256),), ["input"]


_MEDIUM_BUILDERS = {"resnet_bn": _resnet_bn, "mobilenet": _mobilenet, "transformer": _transformer,
                    "lstm": lambda: _recurrent("lstm"), "gru": lambda: _recurrent("gru"), "mlp": _mlp}


# Generated networks whose pre-processing exercises onnxruntime's rewrites beyond the fusions: a ConvNeXt
# (its channels-last residual stream: Transposes pushed through the sums and cancelled), an MLP-Mixer (the
# same pattern left alone), a pre-norm transformer (chained Reshapes merged after MatMul+Add fusion) and a
# post-norm one (the attention projections' MatMul+Add kept for the attention fusion).
PRE_PROCESS_CASES = ("gen-convnext-000", "gen-mixer-000", "gen-transformer-000", "gen-transformer-028")


@pytest.mark.parametrize("name", PRE_PROCESS_CASES)
def test_pre_process_replay_builds_the_graph_onnxruntime_writes(tmp_path, name):
    """The replay of quant_pre_process (what the int8 quantizers and the structure features read)
    against onnxruntime's own: the same ops, op type by op type."""
    from collections import Counter

    from onnxruntime.quantization.shape_inference import quant_pre_process

    from advisor.predictors.size import _Context
    from advisor.zoo.catalog import get_entry

    model, _ = get_entry(name, ["generated"]).build_model()
    onnx.save(model, tmp_path / "m.onnx")
    quant_pre_process(str(tmp_path / "m.onnx"), str(tmp_path / "p.onnx"))
    real = Counter(n.op_type for n in onnx.load(tmp_path / "p.onnx").graph.node)
    replayed = Counter(n.op_type for n in _Context.of(from_proto(model)).pre_processed()[0].graph.node)
    assert replayed == real, {k: (replayed[k], real[k]) for k in set(real) | set(replayed) if replayed[k] != real[k]}
    before = Counter(n.op_type for n in model.graph.node)
    weights = {t.name for t in model.graph.initializer}
    fusable = sum(1 for n in model.graph.node if n.op_type == "MatMul" and set(n.input) & weights)
    fused = real["Gemm"] - before["Gemm"]
    exercised = {"gen-convnext-000": real["Transpose"] < before["Transpose"],  # pushed and cancelled
                 "gen-mixer-000": real["Transpose"] == before["Transpose"],  # left alone
                 "gen-transformer-000": real["Reshape"] < before["Reshape"] + 2 * fused,  # merged
                 "gen-transformer-028": 0 < fused < fusable}  # projections kept
    assert exercised[name], (name, dict(before), dict(real))


def test_int8_replay_quantizes_a_shared_bias_once_per_reader():
    """A ConvNeXt whose LayerNorms share one bias initializer (the exporter's de-duplication): the
    quantizer gives each reader its own int32 copy (``<bias>0``, ``<bias>1``...), each behind its own
    DequantizeLinear, and the replayed int8 graph has the same ops as the real one."""
    from collections import Counter

    from advisor.predictors.size import _Context, replay
    from advisor.zoo.catalog import get_entry

    model, _ = get_entry("gen-convnext-024", ["generated"]).build_model()
    readers = Counter(x for n in model.graph.node for x in n.input)
    assert any(t.name.endswith("bias") and readers[t.name] > 1 for t in model.graph.initializer)
    lm = from_proto(model)
    real = Counter(n.op_type for n in get_setting("int8-static-pt").apply(lm).model.graph.node)
    replayed = Counter(n.op_type for n in replay(_Context.of(lm), "int8-static-pt").graph.node)
    assert replayed == real, {k: (replayed[k], real[k]) for k in set(real) | set(replayed) if replayed[k] != real[k]}
