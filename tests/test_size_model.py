"""The analytic size model against the real thing: estimate vs ``ByteSize()`` of every setting's output.

Bounds, from measurements (onnx 1.23.2, onnxruntime 1.32.0, torch 2.13 exports) with margin:
settings written in this repo (none, sparse*, wq*, chprune*) are replayed exactly (0 bytes);
onnxruntime's float16 converter is replayed exactly (0 bytes measured; 0.1% allowed for converter
drift); int8 settings and pipelines replay onnxruntime's pre-processing and quantizers (measured
worst 0.19% on the tiny zoo, 0.6% on 36 generated 0.03-14 MB networks) and must stay within 2%,
the accuracy the recommender relies on, on the tiny zoo as well as on the >= 1 MB models below.
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
