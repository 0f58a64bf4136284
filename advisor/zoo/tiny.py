"""Small test networks of every kind the advisor must handle (seeded, built in seconds).

Used by tests and by ``make run``'s example. Each builder returns an ONNX ModelProto with
batch size 1 and fixed shapes.
"""
from __future__ import annotations

import onnx

from advisor.zoo.export import export

TINY_MODELS = ("plain_cnn", "residual_cnn", "depthwise_cnn", "multibranch_cnn", "se_cnn",
               "bn_cnn", "mlp", "gru", "lstm", "transformer")


def build_tiny(name: str, seed: int = 0) -> onnx.ModelProto:
    """Build the tiny network ``name`` (one of TINY_MODELS) with seeded random weights."""
    import torch

    if name not in TINY_MODELS:
        raise KeyError(f"Unknown tiny model '{name}'. Known: {', '.join(TINY_MODELS)}.")
    torch.manual_seed(seed)
    module, example, in_names = _MODULES[name]()
    return export(module, example, in_names, ["output"], keep_batchnorm=(name == "bn_cnn"))


def _cnn_input():
    import torch
    return (torch.randn(1, 3, 32, 32),)


def _plain_cnn():
    from torch import nn
    m = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10))
    return m, _cnn_input(), ["input"]


def _bn_cnn():
    from torch import nn
    m = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    _randomise_bn(m)
    return m, _cnn_input(), ["input"]


def _randomise_bn(module) -> None:
    import torch
    from torch import nn
    for mod in module.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)


def _residual_cnn():
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1 = nn.Conv2d(c, c, 3, padding=1)
            self.c2 = nn.Conv2d(c, c, 3, padding=1)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(x + self.c2(self.act(self.c1(x))))

    m = nn.Sequential(nn.Conv2d(3, 24, 3, padding=1), nn.ReLU(), Block(24), Block(24),
                      nn.Conv2d(24, 48, 3, stride=2, padding=1), nn.ReLU(), Block(48),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, 10))
    return m, _cnn_input(), ["input"]


def _depthwise_cnn():
    from torch import nn

    def dws(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1), nn.ReLU6()]

    m = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU6(),
                      *dws(16, 32, 1), *dws(32, 64, 2), *dws(64, 64, 1),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    return m, _cnn_input(), ["input"]


def _multibranch_cnn():
    import torch
    from torch import nn

    class Inception(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.b1 = nn.Conv2d(cin, 8, 1)
            self.b3 = nn.Sequential(nn.Conv2d(cin, 8, 1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1))
            self.b5 = nn.Sequential(nn.Conv2d(cin, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 5, padding=2))
            self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(cin, 6, 1))

        def forward(self, x):
            return torch.relu(torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1))

    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), Inception(16), nn.MaxPool2d(2),
                      Inception(32), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    return m, _cnn_input(), ["input"]


def _se_cnn():
    from torch import nn

    class SE(nn.Module):
        def __init__(self, c, r=4):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, c // r, 1)
            self.fc2 = nn.Conv2d(c // r, c, 1)
            self.act = nn.ReLU()
            self.gate = nn.Sigmoid()

        def forward(self, x):
            return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))

    m = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), SE(32),
                      nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(), SE(32),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    return m, _cnn_input(), ["input"]


def _mlp():
    import torch
    from torch import nn
    m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    return m, (torch.randn(1, 64),), ["input"]


def _recurrent(cell: str):
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            rnn = nn.GRU if cell == "gru" else nn.LSTM
            self.rnn = rnn(16, 64, num_layers=2, batch_first=True)
            self.head = nn.Linear(64, 8)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out)

    return Tagger(), (torch.randn(1, 20, 16),), ["input"]


def _transformer():
    import torch
    from torch import nn

    class Encoder(nn.Module):
        """Token embedding + one pre-norm self-attention block written out (QKV MatMul, Softmax)."""

        def __init__(self, vocab=100, d=64, heads=4, ff=128):
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln1 = nn.LayerNorm(d)
            self.ln2 = nn.LayerNorm(d)
            self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
            self.heads, self.d = heads, d

        def forward(self, ids):
            x = self.emb(ids)
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
            hd = self.d // self.heads
            q, k, v = (z.reshape(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
            att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5, dim=-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, self.d))
            return x + self.ff(self.ln2(x))

    return Encoder(), (torch.randint(0, 100, (1, 16)),), ["input_ids"]


_MODULES = {
    "plain_cnn": _plain_cnn, "residual_cnn": _residual_cnn, "depthwise_cnn": _depthwise_cnn,
    "multibranch_cnn": _multibranch_cnn, "se_cnn": _se_cnn, "bn_cnn": _bn_cnn, "mlp": _mlp,
    "gru": lambda: _recurrent("gru"), "lstm": lambda: _recurrent("lstm"), "transformer": _transformer,
}
