"""Search space of the generated hybrid family: a MobileNetV2-like convolutional trunk whose last,
low-resolution feature map is read as tokens by a transformer encoder (MobileViT / EfficientFormer /
BoTNet style: convolutions where the map is large, global self-attention where it is small), the
mean over tokens feeding a linear head.

Same contract as ``generator_space``: ``sample_hybrid(d, wm)`` draws a fixed number of random numbers
whatever the width multiplier ``wm``; ``estimate_hybrid(p)`` counts convolutions, attention and linear
layers of one batch-1 inference. The stem and the first block of every stage have stride 2.
"""
from __future__ import annotations

from advisor.zoo.generator_space import Draw, Tally, _encoder_layers, ch, classes
from advisor.zoo.generator_space_cnn import _up, inverted_residual


def hybrid_grid(p: dict) -> int:
    """Side of the trunk's last feature map: the token grid (shared with the builder)."""
    hw = _up(p["resolution"], 2)
    for _ in p["widths"]:
        hw = _up(hw, 2)
    return hw


def sample_hybrid(d: Draw, wm: float) -> dict:
    stages = d.integer(2, 3)
    resolution = 16 * d.integer(4, 8) if stages == 3 else 8 * d.integer(8, 14)  # 4-8 or 8-14 tokens a side
    heads = d.pick((1, 2, 4), (0.3, 0.4, 0.3))
    head_dim = max(8, min(64, int(round(d.log_uniform(16, 48) * wm / 8)) * 8))
    base = d.log_uniform(16, 48) * wm
    p = {"resolution": resolution, "stem_width": ch(16 * min(wm, 2.0), lo=8),
         "widths": [ch(base * 2 ** i, lo=8, hi=512) for i in range(stages)],
         "blocks": [d.integer(1, 3) for _ in range(stages)],
         "kernels": [d.pick((3, 5), (0.7, 0.3)) for _ in range(stages)],
         "expansion": d.pick((2, 4, 6), (0.3, 0.4, 0.3)), "se_ratio": 0, "se_gate": "sigmoid",
         "activation": d.pick(("silu", "relu", "gelu"), (0.5, 0.3, 0.2)),
         "heads": heads, "d_model": heads * head_dim, "layers": d.integer(1, 4), "ff_mult": d.pick((2, 4)),
         "norm": d.pick(("pre", "post"), (0.8, 0.2)), "qkv": d.pick(("fused", "separate"), (0.7, 0.3)),
         "classes": classes(d)}
    p["seq_len"] = hybrid_grid(p) ** 2  # what the shared encoder block reshapes by
    return p


def estimate_hybrid(p: dict) -> tuple[int, int]:
    t = Tally()
    hw = _up(p["resolution"], 2)
    t.conv(hw, 3, p["stem_width"], 3)
    cin = p["stem_width"]
    for w, n, k in zip(p["widths"], p["blocks"], p["kernels"], strict=True):
        for j in range(n):
            hw, cin = inverted_residual(t, hw, cin, w, k, 2 if j == 0 else 1, p), w
    dm, seq = p["d_model"], p["seq_len"]
    t.conv(hw, cin, dm, 1)
    t.params += seq * dm + 2 * dm  # positions, final LayerNorm
    _encoder_layers(t, p, seq)
    t.linear(dm, p["classes"])
    return t.result()


def describe_hybrid(p: dict) -> str:
    w = p["widths"]
    return (f"conv-attention hybrid: inverted residual x{p['expansion']} trunk, blocks {p['blocks']}, widths "
            f"{w[0]}-{w[-1]}, then {p['layers']} encoder layers (d {p['d_model']}, {p['heads']} heads) over "
            f"{p['seq_len']} tokens, {p['resolution']} px")
