"""Search space of the generated temporal-convolution (TCN) family: 1-D convolutions over time.

Keyword spotting on MFCC frames and activity recognition on sensor streams run networks of this
kind on microcontrollers and embedded boards (MLPerf Tiny's keyword-spotting task, TCN / DS-TCN
variants): a 1-D convolutional stem over [channels, time], stages of residual blocks of dilated
1-D convolutions, plain or depthwise-separable, and a global average over time. Same contract as
``generator_space``: ``sample_tcn(d, wm)`` draws a fixed number of random numbers whatever the
width multiplier ``wm``; ``estimate_tcn(p)`` counts the convolutions and the linear head of one
batch-1 inference. A stride-2 convolution (odd kernel, same padding) gives ceil(t / 2) steps.
"""
from __future__ import annotations

from advisor.zoo.generator_space import Draw, Tally, ch, classes

_ACTS = ("relu", "relu6", "gelu", "silu")


def _half(t: int) -> int:
    return -(-t // 2)


def sample_tcn(d: Draw, wm: float) -> dict:
    source = d.pick(("mfcc", "sensor"), (0.6, 0.4))
    c_in = d.log_int(10, 80) if source == "mfcc" else d.integer(3, 12)
    seq_len = d.integer(49, 200) if source == "mfcc" else 32 * d.integer(2, 16)
    stages = d.integer(1, 3)
    base = d.log_uniform(24, 192) * wm
    return {"source": source, "in_channels": c_in, "seq_len": seq_len,
            "stem_kernel": d.pick((3, 5, 7)), "stem_stride": d.pick((1, 2), (0.6, 0.4)),
            "widths": [ch(base * 1.5 ** i, lo=8, hi=512) for i in range(stages)],
            "blocks": [d.integer(1, 3) for _ in range(stages)],
            "kernel": d.pick((3, 5, 7, 9), (0.35, 0.3, 0.2, 0.15)),
            "dilated": d.chance(0.6), "separable": d.chance(0.5), "batchnorm": d.chance(0.7),
            "activation": d.pick(_ACTS, (0.55, 0.1, 0.15, 0.2)), "classes": classes(d, 2, 40)}


def block_dilations(p: dict, n: int) -> list[int]:
    """Dilation of each of a stage's ``n`` blocks: 1, 2, 4, ... when dilated, else 1 (shared with the builder)."""
    return [2 ** j if p["dilated"] else 1 for j in range(n)]


def estimate_tcn(p: dict) -> tuple[int, int]:
    t, k = Tally(), p["kernel"]
    steps = p["seq_len"] if p["stem_stride"] == 1 else _half(p["seq_len"])
    c = p["widths"][0]
    t.conv1d(steps, p["in_channels"], c, p["stem_kernel"])
    for i, (w, n) in enumerate(zip(p["widths"], p["blocks"], strict=True)):
        if i:  # a stride-2 transition convolution to the stage's width
            steps = _half(steps)
            t.conv1d(steps, c, w, 3)
            c = w
        for _ in block_dilations(p, n):
            if p["separable"]:
                t.conv1d(steps, c, c, k, groups=c)
                t.conv1d(steps, c, c, 1)
            else:
                t.conv1d(steps, c, c, k)
    t.linear(c, p["classes"])
    return t.result()


def describe_tcn(p: dict) -> str:
    kind = "separable" if p["separable"] else "plain"
    dil = "dilated" if p["dilated"] else "undilated"
    return (f"TCN ({p['source']}, {p['in_channels']} x {p['seq_len']}), {len(p['widths'])} stages {p['blocks']} "
            f"{kind} {dil} k{p['kernel']} blocks, widths {p['widths'][0]}-{p['widths'][-1]}")
