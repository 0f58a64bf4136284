"""Sampling helpers shared by the generated families, and the sequence families' search spaces.

Pure Python (no torch, no numpy): the catalogue samples every architecture when it is listed.
Each ``sample_*(d, wm)`` draws the same sequence of random numbers whatever the width multiplier
``wm``, so the generator can redraw one architecture at another width to meet a compute budget.
Each ``estimate_*(p)`` returns (MACs, parameters) of one batch-1 inference counting only the
weighted layers (a budget; advisor.features measures the built graph).
"""
from __future__ import annotations

import math
import random

ACTIVATIONS = ("relu", "relu6", "gelu", "silu", "tanh")


class Draw:
    """A seeded random stream with the few distributions the search spaces use."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def log_uniform(self, lo: float, hi: float) -> float:
        return math.exp(self._rng.uniform(math.log(lo), math.log(hi)))

    def log_int(self, lo: int, hi: int) -> int:
        return int(round(self.log_uniform(lo, hi)))

    def integer(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi], both included."""
        return self._rng.randint(lo, hi)

    def uniform(self, lo: float, hi: float) -> float:
        return self._rng.uniform(lo, hi)

    def pick(self, options, weights=None):
        return self._rng.choices(list(options), weights=weights)[0]

    def chance(self, p: float) -> bool:
        return self._rng.random() < p

    def subset(self, options, k: int) -> list:
        """``k`` distinct members of ``options``, sorted."""
        return sorted(self._rng.sample(list(options), k))

    def state(self):
        return self._rng.getstate()

    def restore(self, state) -> None:
        self._rng.setstate(state)


class Tally:
    """Running totals of MACs and parameters (weights + biases) of weighted layers."""

    def __init__(self) -> None:
        self.macs = 0
        self.params = 0

    def conv(self, hw: int, cin: int, cout: int, k: int, groups: int = 1, k2: int | None = None) -> None:
        """A k x k (or k x k2) convolution producing an ``hw`` x ``hw`` map, with bias."""
        taps = k * (k2 if k2 is not None else k)
        weights = cin // groups * cout * taps
        self.macs += hw * hw * weights
        self.params += weights + cout

    def conv1d(self, steps: int, cin: int, cout: int, k: int, groups: int = 1) -> None:
        """A 1-D convolution of kernel ``k`` producing ``steps`` time steps, with bias."""
        weights = cin // groups * cout * k
        self.macs += steps * weights
        self.params += weights + cout

    def linear(self, n_in: int, n_out: int, rows: int = 1) -> None:
        """A fully connected layer applied to ``rows`` vectors."""
        self.macs += rows * n_in * n_out
        self.params += n_in * n_out + n_out

    def recurrent(self, steps: int, n_in: int, hidden: int, layers: int, gates: int, bidirectional: bool) -> int:
        """A stack of ``layers`` GRU (3 gates) or LSTM (4) layers over ``steps`` steps, with both biases;
        returns the width of its output (``hidden``, twice that when bidirectional)."""
        dirs = 2 if bidirectional else 1
        for _ in range(layers):
            weights = dirs * gates * hidden * (n_in + hidden)
            self.macs += steps * weights
            self.params += weights + dirs * gates * 2 * hidden
            n_in = dirs * hidden
        return n_in

    def result(self) -> tuple[int, int]:
        return self.macs, self.params


def ch(x: float, lo: int = 4, hi: int = 1024) -> int:
    """A channel count: multiple of 4 below 24, of 8 above, clamped to [lo, hi]."""
    step = 8 if x >= 24 else 4
    return max(lo, min(hi, int(round(x / step)) * step))


def resolution(d: Draw) -> int:
    """Input side in pixels: 32..128 in steps of 8."""
    return 8 * d.integer(4, 16)


def classes(d: Draw, lo: int = 10, hi: int = 1000) -> int:
    return d.log_int(lo, hi)


# --- mlp --------------------------------------------------------------------------------------

def sample_mlp(d: Draw, wm: float) -> dict:
    n_in = d.log_int(16, 1024)
    depth = d.integer(1, 6)
    shape = d.pick(("constant", "taper", "diamond"))
    base = d.log_uniform(64, 2048)
    factors = {"constant": [1.0] * depth,
               "taper": [0.5 ** i for i in range(depth)],
               "diamond": [2.0 ** -abs(i - (depth - 1) / 2) for i in range(depth)]}[shape]
    return {"in_features": n_in, "hidden": [ch(base * wm * f, lo=8, hi=4096) for f in factors],
            "shape": shape, "activation": d.pick(("relu", "gelu", "silu", "tanh"), (0.5, 0.2, 0.2, 0.1)),
            "norm": d.pick(("none", "layernorm"), (0.7, 0.3)), "classes": classes(d, 2, 1000)}


def estimate_mlp(p: dict) -> tuple[int, int]:
    t = Tally()
    n = p["in_features"]
    for h in p["hidden"]:
        t.linear(n, h)
        n = h
    t.linear(n, p["classes"])
    return t.result()


def describe_mlp(p: dict) -> str:
    h = p["hidden"]
    return (f"MLP {p['in_features']}->{'-'.join(map(str, h))}->{p['classes']} ({p['shape']}), "
            f"{p['activation']}{', LayerNorm' if p['norm'] == 'layernorm' else ''}")


# --- gru / lstm --------------------------------------------------------------------------------

def sample_rnn(d: Draw, wm: float) -> dict:
    return {"input_size": d.log_int(8, 256), "hidden": ch(d.log_uniform(32, 512) * wm, lo=8, hi=1024),
            "layers": d.pick((1, 2, 3), (0.4, 0.4, 0.2)), "bidirectional": d.chance(0.3),
            "seq_len": d.log_int(16, 128), "head": d.pick(("last", "tagger")), "classes": classes(d, 2, 100)}


def _estimate_rnn(p: dict, gates: int) -> tuple[int, int]:
    t, seq = Tally(), p["seq_len"]
    n_out = t.recurrent(seq, p["input_size"], p["hidden"], p["layers"], gates, p["bidirectional"])
    t.linear(n_out, p["classes"], rows=seq if p["head"] == "tagger" else 1)
    return t.result()


def estimate_gru(p: dict) -> tuple[int, int]:
    return _estimate_rnn(p, 3)


def estimate_lstm(p: dict) -> tuple[int, int]:
    return _estimate_rnn(p, 4)


def describe_rnn(p: dict, cell: str) -> str:
    bi = "bidirectional " if p["bidirectional"] else ""
    task = "per-step tagger" if p["head"] == "tagger" else "sequence classifier"
    return (f"{p['layers']}-layer {bi}{cell.upper()} {p['input_size']}->{p['hidden']}, "
            f"{p['seq_len']} steps, {task} ({p['classes']} classes)")


# --- transformer -------------------------------------------------------------------------------

def sample_transformer(d: Draw, wm: float) -> dict:
    heads = d.pick((1, 2, 4, 8), (0.15, 0.3, 0.35, 0.2))
    head_dim = d.log_uniform(8, 64) * wm
    head_dim = max(8, 32 // heads, min(96, int(round(head_dim / 8)) * 8))
    return {"vocab": d.log_int(100, 8000), "seq_len": d.log_int(16, 128), "heads": heads,
            "d_model": heads * head_dim, "layers": d.integer(1, 6), "ff_mult": d.pick((2, 3, 4)),
            "activation": d.pick(("gelu", "relu", "silu"), (0.6, 0.3, 0.1)),
            "norm": d.pick(("pre", "post")), "qkv": d.pick(("fused", "separate")),
            "head": d.pick(("pool", "tokens"), (0.6, 0.4)), "classes": classes(d, 2, 1000)}


def _encoder_layers(t: Tally, p: dict, seq: int) -> None:
    """Tally ``p["layers"]`` encoder blocks (``generator_blocks_seq.EncoderBlock``) over ``seq`` tokens."""
    dm, ff = p["d_model"], p["d_model"] * p["ff_mult"]
    for _ in range(p["layers"]):
        t.linear(dm, 3 * dm, rows=seq)
        t.linear(dm, dm, rows=seq)
        t.macs += 2 * seq * seq * dm  # scores and weighted sum
        t.linear(dm, ff, rows=seq)
        t.linear(ff, dm, rows=seq)
        t.params += 4 * dm  # two LayerNorms


def estimate_transformer(p: dict) -> tuple[int, int]:
    t = Tally()
    dm, seq = p["d_model"], p["seq_len"]
    t.params += (p["vocab"] + seq) * dm
    _encoder_layers(t, p, seq)
    t.linear(dm, p["classes"], rows=seq if p["head"] == "tokens" else 1)
    return t.result()


def describe_transformer(p: dict) -> str:
    task = "token tagger" if p["head"] == "tokens" else "classifier"
    return (f"{p['layers']}-layer {p['norm']}-norm transformer encoder, d={p['d_model']}, "
            f"{p['heads']} heads, FFN x{p['ff_mult']} {p['activation']}, vocab {p['vocab']}, "
            f"{p['seq_len']} tokens, {task}")


# --- vit (vision transformer) ------------------------------------------------------------------

def vit_tokens(p: dict) -> int:
    """Sequence length of a ViT: one token per patch, plus the class token when it pools by it."""
    return (p["resolution"] // p["patch"]) ** 2 + (1 if p["pool"] == "cls" else 0)


def sample_vit(d: Draw, wm: float) -> dict:
    patch = d.pick((4, 8, 16), (0.35, 0.4, 0.25))
    grid = d.integer(4, 14)
    heads = d.pick((1, 2, 3, 4, 6), (0.1, 0.25, 0.25, 0.25, 0.15))
    head_dim = d.log_uniform(16, 64) * wm
    head_dim = max(8, min(96, int(round(head_dim / 8)) * 8))
    p = {"resolution": patch * grid, "patch": patch, "heads": heads, "d_model": heads * head_dim,
         "layers": d.integer(1, 8), "ff_mult": d.pick((2, 3, 4), (0.2, 0.2, 0.6)),
         "activation": d.pick(("gelu", "relu", "silu"), (0.8, 0.1, 0.1)),
         "norm": d.pick(("pre", "post"), (0.85, 0.15)), "qkv": d.pick(("fused", "separate"), (0.7, 0.3)),
         "pool": d.pick(("cls", "mean"), (0.5, 0.5)), "classes": classes(d)}
    p["seq_len"] = vit_tokens(p)  # what the shared encoder block reshapes by
    return p


def estimate_vit(p: dict) -> tuple[int, int]:
    t = Tally()
    dm, seq = p["d_model"], p["seq_len"]
    grid = p["resolution"] // p["patch"]
    t.conv(grid, 3, dm, p["patch"])
    t.params += seq * dm + (dm if p["pool"] == "cls" else 0)
    _encoder_layers(t, p, seq)
    t.linear(dm, p["classes"])
    return t.result()


def describe_vit(p: dict) -> str:
    grid = p["resolution"] // p["patch"]
    return (f"ViT-like, {p['patch']}x{p['patch']} patches of {p['resolution']} px ({grid}x{grid} tokens), "
            f"{p['layers']}-layer {p['norm']}-norm encoder, d={p['d_model']}, {p['heads']} heads, "
            f"FFN x{p['ff_mult']} {p['activation']}, {p['pool']} pooling, {p['classes']} classes")


# --- autoencoder (MLPerf Tiny anomaly-detection style) -----------------------------------------

def sample_autoencoder(d: Draw, wm: float) -> dict:
    hidden = ch(d.log_uniform(64, 512) * wm, lo=16, hi=2048)
    return {"in_features": 8 * d.log_int(16, 160), "hidden": hidden, "depth": d.integer(1, 4),
            "bottleneck": ch(d.log_uniform(8, 64), lo=4, hi=max(8, hidden // 2)),
            "batchnorm": d.chance(0.6), "activation": d.pick(("relu", "gelu", "silu", "tanh"), (0.6, 0.1, 0.2, 0.1))}


def autoencoder_widths(p: dict) -> list[int]:
    """Output widths of every Linear, input to reconstruction: encoder, bottleneck, decoder."""
    enc = [p["hidden"]] * p["depth"]
    return enc + [p["bottleneck"]] + enc + [p["in_features"]]


def estimate_autoencoder(p: dict) -> tuple[int, int]:
    t, n = Tally(), p["in_features"]
    for w in autoencoder_widths(p):
        t.linear(n, w)
        n = w
    return t.result()


def describe_autoencoder(p: dict) -> str:
    return (f"dense autoencoder {p['in_features']}->{p['hidden']}x{p['depth']}->{p['bottleneck']}->"
            f"{p['hidden']}x{p['depth']}->{p['in_features']}, {p['activation']}"
            f"{', BatchNorm' if p['batchnorm'] else ''}")


# --- mixer (MLP-Mixer) -------------------------------------------------------------------------

def sample_mixer(d: Draw, wm: float) -> dict:
    patch = d.pick((4, 8, 16), (0.4, 0.4, 0.2))
    grid = d.integer(4, 12)
    return {"resolution": patch * grid, "patch": patch, "d_model": ch(d.log_uniform(32, 256) * wm, lo=16, hi=1024),
            "tokens_hidden": ch(grid * grid * d.pick((0.5, 1.0, 2.0)), lo=8, hi=1024),
            "channels_mult": d.pick((2, 4), (0.3, 0.7)), "layers": d.integer(1, 8),
            "activation": d.pick(("gelu", "relu", "silu"), (0.8, 0.1, 0.1)), "classes": classes(d)}


def estimate_mixer(p: dict) -> tuple[int, int]:
    t, dm = Tally(), p["d_model"]
    grid = p["resolution"] // p["patch"]
    s = grid * grid
    t.conv(grid, 3, dm, p["patch"])
    for _ in range(p["layers"]):
        t.linear(s, p["tokens_hidden"], rows=dm)
        t.linear(p["tokens_hidden"], s, rows=dm)
        t.linear(dm, dm * p["channels_mult"], rows=s)
        t.linear(dm * p["channels_mult"], dm, rows=s)
        t.params += 4 * dm
    t.linear(dm, p["classes"])
    return t.result()


def describe_mixer(p: dict) -> str:
    grid = p["resolution"] // p["patch"]
    return (f"MLP-Mixer-like, {p['patch']}x{p['patch']} patches of {p['resolution']} px ({grid * grid} tokens), "
            f"{p['layers']} layers, d={p['d_model']}, token MLP {p['tokens_hidden']}, channel MLP "
            f"x{p['channels_mult']} {p['activation']}, {p['classes']} classes")


# --- resmlp (residual MLP for tabular data) -----------------------------------------------------

def sample_resmlp(d: Draw, wm: float) -> dict:
    return {"in_features": d.log_int(8, 512), "d_main": ch(d.log_uniform(48, 512) * wm, lo=16, hi=2048),
            "blocks": d.integer(1, 6), "ff_mult": d.pick((1, 2, 4), (0.3, 0.5, 0.2)),
            "norm": d.pick(("batchnorm", "layernorm", "none"), (0.5, 0.3, 0.2)),
            "activation": d.pick(("relu", "gelu", "silu"), (0.6, 0.2, 0.2)), "classes": classes(d, 2, 100)}


def estimate_resmlp(p: dict) -> tuple[int, int]:
    t, dm = Tally(), p["d_main"]
    t.linear(p["in_features"], dm)
    for _ in range(p["blocks"]):
        t.linear(dm, dm * p["ff_mult"])
        t.linear(dm * p["ff_mult"], dm)
    t.linear(dm, p["classes"])
    return t.result()


def describe_resmlp(p: dict) -> str:
    norm = {"batchnorm": ", BatchNorm", "layernorm": ", LayerNorm", "none": ""}[p["norm"]]
    return (f"residual MLP {p['in_features']}->{p['d_main']}, {p['blocks']} blocks x{p['ff_mult']} "
            f"{p['activation']}{norm}, {p['classes']} classes")
