"""Search space of the generated detector family: one-stage object detectors of the YOLOv5 / YOLOv8
kind, the networks most often deployed on embedded boards for vision. A CSP backbone (a stride-2 3x3
convolution opening each of four stages, then a cross-stage-partial block: two 1x1 branches, one
through bottlenecks, concatenated and fused by a 1x1 convolution), an optional SPPF (three chained 5x5
max pools, concatenated) on the last map, a feature-pyramid neck (1x1 lateral convolution, nearest
upsampling, concatenation with the backbone's map, CSP block), optionally a bottom-up path
(PAN: stride-2 3x3 convolution, concatenation, CSP block), and a 1x1 prediction convolution per level,
whose outputs are reshaped to boxes and concatenated into one [1, boxes, 5 + classes] tensor.

Same contract as ``generator_space``: ``sample_detector(d, wm)`` draws a fixed number of random
numbers whatever the width multiplier ``wm``; ``estimate_detector(p)`` counts the convolutions of one
batch-1 inference. The input side is a multiple of 32, so every level's map is exact.
"""
from __future__ import annotations

from advisor.zoo.generator_space import Draw, Tally, ch

STAGES = 4
ACTS = ("silu", "leaky", "relu")


def csp_hidden(cout: int) -> int:
    """Width of each of a CSP block's two branches (shared with the builder)."""
    return ch(cout / 2, lo=4)


def sample_detector(d: Draw, wm: float) -> dict:
    base = d.log_uniform(16, 48) * wm
    return {"resolution": 32 * d.integer(2, 8), "stem_width": ch(base / 2, lo=8),
            "widths": [ch(base * 2 ** i, lo=8, hi=512) for i in range(STAGES)],
            "blocks": [1] + [d.integer(1, 3) for _ in range(STAGES - 1)],
            "neck_blocks": d.integer(1, 2), "levels": d.pick((2, 3), (0.4, 0.6)), "sppf": d.chance(0.7),
            "pan": d.chance(0.6), "activation": d.pick(ACTS, (0.6, 0.2, 0.2)), "anchors": d.pick((1, 3)),
            "classes": d.log_int(1, 80)}


def level_sides(p: dict) -> list[int]:
    """Side of each predicted level's map, finest first (shared with the builder and the output shape)."""
    r = p["resolution"]
    return [r // 2 ** (STAGES + 1 - i) for i in reversed(range(p["levels"]))]


def boxes(p: dict) -> int:
    return p["anchors"] * sum(s * s for s in level_sides(p))


def _csp(t: Tally, hw: int, cin: int, cout: int, n: int) -> None:
    c = csp_hidden(cout)
    t.conv(hw, cin, c, 1)
    t.conv(hw, cin, c, 1)
    for _ in range(n):
        t.conv(hw, c, c, 1)
        t.conv(hw, c, c, 3)
    t.conv(hw, 2 * c, cout, 1)


def estimate_detector(p: dict) -> tuple[int, int]:
    t = Tally()
    hw = p["resolution"] // 2
    t.conv(hw, 3, p["stem_width"], 3)
    cin, maps = p["stem_width"], []
    for w, n in zip(p["widths"], p["blocks"], strict=True):
        hw //= 2
        t.conv(hw, cin, w, 3)
        _csp(t, hw, w, w, n)
        cin = w
        maps.append((hw, w))
    if p["sppf"]:
        c = csp_hidden(cin)
        t.conv(hw, cin, c, 1)
        t.conv(hw, 4 * c, cin, 1)
    levels = maps[-p["levels"]:]
    outs = [levels[-1]]  # top-down: coarsest first
    for hw_l, c_l in reversed(levels[:-1]):
        hw_x, c_x = outs[-1]
        t.conv(hw_x, c_x, c_l, 1)
        _csp(t, hw_l, 2 * c_l, c_l, p["neck_blocks"])
        outs.append((hw_l, c_l))
    outs = outs[::-1]  # finest first
    if p["pan"]:
        for i in range(1, len(outs)):
            c_f, (hw_c, c_c) = outs[i - 1][1], outs[i]
            t.conv(hw_c, c_f, c_f, 3)  # stride 2 down to the coarser level
            _csp(t, hw_c, c_f + c_c, c_c, p["neck_blocks"])
    for hw_l, c_l in outs:
        t.conv(hw_l, c_l, p["anchors"] * (5 + p["classes"]), 1)
    return t.result()


def describe_detector(p: dict) -> str:
    w = p["widths"]
    neck = "FPN+PAN" if p["pan"] else "FPN"
    return (f"YOLO-like detector: CSP backbone widths {w[0]}-{w[-1]}, blocks {p['blocks']}"
            f"{', SPPF' if p['sppf'] else ''}, {neck} neck over {p['levels']} levels, {p['anchors']} anchor(s), "
            f"{p['classes']} classes, {p['activation']}, {p['resolution']} px")
