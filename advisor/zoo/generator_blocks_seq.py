"""torch modules of the generated MLP, residual MLP, autoencoder, GRU, LSTM, transformer, ViT and
Mixer families (parameter dicts from generator_space). Imported only when a network is built. Batch
size is 1 and every shape fixed.
"""
from __future__ import annotations

import torch
from torch import nn

from advisor.zoo.generator_blocks_cnn import calibrate_bn, he_init

_ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def build_mlp(p: dict) -> nn.Module:
    """[1, in_features] -> logits [1, classes]."""
    layers, n = [], p["in_features"]
    for h in p["hidden"]:
        layers.append(nn.Linear(n, h))
        if p["norm"] == "layernorm":
            layers.append(nn.LayerNorm(h))
        layers.append(_ACTS[p["activation"]]())
        n = h
    layers.append(nn.Linear(n, p["classes"]))
    return nn.Sequential(*layers)


def build_autoencoder(p: dict) -> nn.Module:
    """[1, in_features] -> reconstruction [1, in_features] through a narrow bottleneck (every layer but
    the last with optional BatchNorm and the activation)."""
    from advisor.zoo.generator_space import autoencoder_widths

    widths = autoencoder_widths(p)
    layers, n = [], p["in_features"]
    for i, w in enumerate(widths):
        layers.append(nn.Linear(n, w))
        if i + 1 < len(widths):
            if p["batchnorm"]:
                layers.append(nn.BatchNorm1d(w))
            layers.append(_ACTS[p["activation"]]())
        n = w
    return nn.Sequential(*layers)


class ResMLP(nn.Module):
    """[1, in_features] -> Linear to d_main -> blocks x + Linear(act(Linear(norm(x)))) -> norm, act -> logits
    (the tabular ResNet of Gorishniy et al. 2021, without dropout)."""

    def __init__(self, p: dict) -> None:
        super().__init__()
        d, f, act = p["d_main"], p["d_main"] * p["ff_mult"], _ACTS[p["activation"]]

        def norm() -> nn.Module:
            return {"batchnorm": nn.BatchNorm1d, "layernorm": nn.LayerNorm}.get(p["norm"], lambda _: nn.Identity())(d)

        self.inp = nn.Linear(p["in_features"], d)
        self.blocks = nn.ModuleList(nn.Sequential(norm(), nn.Linear(d, f), act(), nn.Linear(f, d))
                                    for _ in range(p["blocks"]))
        self.out = nn.Sequential(norm(), act(), nn.Linear(d, p["classes"]))

    def forward(self, x):
        x = self.inp(x)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)


class Recurrent(nn.Module):
    """Stacked GRU/LSTM over [1, T, input_size]; logits of the last step [1, classes] or of every
    step [1, T, classes]."""

    def __init__(self, p: dict, cell: str) -> None:
        super().__init__()
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(p["input_size"], p["hidden"], num_layers=p["layers"], batch_first=True,
                       bidirectional=p["bidirectional"])
        self.head = nn.Linear(p["hidden"] * (2 if p["bidirectional"] else 1), p["classes"])
        self.last = p["head"] == "last"

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1] if self.last else out)


class EncoderBlock(nn.Module):
    """Multi-head self-attention written out (MatMul, Softmax) and a two-layer FFN, pre- or post-norm."""

    def __init__(self, p: dict) -> None:
        super().__init__()
        d = p["d_model"]
        self.fused = p["qkv"] == "fused"
        if self.fused:
            self.qkv = nn.Linear(d, 3 * d)
        else:
            self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d * p["ff_mult"]), _ACTS[p["activation"]](),
                                nn.Linear(d * p["ff_mult"], d))
        self.pre = p["norm"] == "pre"
        self.t, self.h, self.hd = p["seq_len"], p["heads"], d // p["heads"]

    def attention(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1) if self.fused else (self.q(x), self.k(x), self.v(x))
        shape = (1, self.t, self.h, self.hd)
        q = q.reshape(shape).transpose(1, 2) * self.hd ** -0.5
        k = k.reshape(shape).permute(0, 2, 3, 1)
        v = v.reshape(shape).transpose(1, 2)
        att = torch.softmax(q @ k, dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(1, self.t, self.h * self.hd))

    def forward(self, x):
        if self.pre:
            x = x + self.attention(self.ln1(x))
            return x + self.ff(self.ln2(x))
        x = self.ln1(x + self.attention(x))
        return self.ln2(x + self.ff(x))


class Encoder(nn.Module):
    """Token ids [1, T] -> embedding + learned positions -> blocks -> logits [1, classes]
    (mean over tokens) or [1, T, classes] (per token)."""

    def __init__(self, p: dict) -> None:
        super().__init__()
        d = p["d_model"]
        self.emb = nn.Embedding(p["vocab"], d)
        self.pos = nn.Parameter(0.02 * torch.randn(1, p["seq_len"], d))
        self.blocks = nn.Sequential(*(EncoderBlock(p) for _ in range(p["layers"])))
        self.norm = nn.LayerNorm(d) if p["norm"] == "pre" else nn.Identity()
        self.head = nn.Linear(d, p["classes"])
        self.pool = p["head"] == "pool"

    def forward(self, ids):
        x = self.norm(self.blocks(self.emb(ids) + self.pos))
        return self.head(x.mean(dim=1) if self.pool else x)


class VisionTransformer(nn.Module):
    """Image [1, 3, R, R] -> non-overlapping patch embedding (a strided Conv) -> tokens (+ a class
    token) + learned positions -> the encoder blocks above -> LayerNorm -> logits [1, classes] from the
    class token or the mean over tokens (ViT / DeiT)."""

    def __init__(self, p: dict) -> None:
        super().__init__()
        d = p["d_model"]
        self.embed = nn.Conv2d(3, d, p["patch"], p["patch"])
        self.cls = nn.Parameter(0.02 * torch.randn(1, 1, d)) if p["pool"] == "cls" else None
        self.pos = nn.Parameter(0.02 * torch.randn(1, p["seq_len"], d))
        self.blocks = nn.Sequential(*(EncoderBlock(p) for _ in range(p["layers"])))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, p["classes"])

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        if self.cls is not None:
            x = torch.cat([self.cls, x], 1)
        x = self.norm(self.blocks(x + self.pos))
        return self.head(x[:, 0] if self.cls is not None else x.mean(dim=1))


class MixerBlock(nn.Module):
    """x + token-mixing MLP (across patches, on the transposed tokens), then x + channel-mixing MLP;
    each behind a LayerNorm (Tolstikhin et al. 2021)."""

    def __init__(self, p: dict, tokens: int) -> None:
        super().__init__()
        d, act = p["d_model"], _ACTS[p["activation"]]
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.tokens = nn.Sequential(nn.Linear(tokens, p["tokens_hidden"]), act(), nn.Linear(p["tokens_hidden"], tokens))
        self.channels = nn.Sequential(nn.Linear(d, d * p["channels_mult"]), act(), nn.Linear(d * p["channels_mult"], d))

    def forward(self, x):
        x = x + self.tokens(self.ln1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channels(self.ln2(x))


class Mixer(nn.Module):
    """Image [1, 3, R, R] -> patch embedding -> mixer blocks -> LayerNorm -> mean over tokens -> logits."""

    def __init__(self, p: dict) -> None:
        super().__init__()
        d, tokens = p["d_model"], (p["resolution"] // p["patch"]) ** 2
        self.embed = nn.Conv2d(3, d, p["patch"], p["patch"])
        self.blocks = nn.Sequential(*(MixerBlock(p, tokens) for _ in range(p["layers"])))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, p["classes"])

    def forward(self, x):
        x = self.norm(self.blocks(self.embed(x).flatten(2).transpose(1, 2)))
        return self.head(x.mean(dim=1))


def make(family: str, p: dict) -> tuple[nn.Module, tuple, list[str]]:
    """(eval-mode module, example inputs, input names); the caller seeds torch."""
    if family == "mlp":
        module = build_mlp(p)
        he_init(module)
        return module.eval(), (torch.randn(1, p["in_features"]),), ["input"]
    if family in ("autoencoder", "resmlp"):
        module = build_autoencoder(p) if family == "autoencoder" else ResMLP(p)
        he_init(module)
        x = torch.randn(1, p["in_features"])
        calibrate_bn(module, x)
        return module.eval(), (x,), ["input"]
    if family in ("gru", "lstm"):
        return Recurrent(p, family).eval(), (torch.randn(1, p["seq_len"], p["input_size"]),), ["input"]
    if family == "transformer":
        ids = torch.randint(0, p["vocab"], (1, p["seq_len"]))
        return Encoder(p).eval(), (ids,), ["input_ids"]
    if family == "mixer":
        return Mixer(p).eval(), (torch.randn(1, 3, p["resolution"], p["resolution"]),), ["input"]
    if family == "vit":
        return VisionTransformer(p).eval(), (torch.randn(1, 3, p["resolution"], p["resolution"]),), ["input"]
    raise KeyError(f"no sequence builder for family '{family}'")
