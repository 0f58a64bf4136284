"""Search spaces of the generated CNN families: samplers, MAC/parameter estimators, descriptions.

Pure Python, same contract as generator_space: ``sample_*(d, wm)`` draws a fixed number of random
numbers whatever the width multiplier ``wm``; ``estimate_*(p)`` counts convolutions and linear
layers of one batch-1 inference. Spatial sizes follow the builders: a stride-2 convolution or a
3x3/stride-2 max-pool gives ceil(hw / 2), a 2x2 max-pool gives floor(hw / 2). The width helpers
(``mid_width`` ...) are shared with the torch builders so both sides agree on every channel count.
"""
from __future__ import annotations

from advisor.zoo.generator_space import Draw, Tally, ch, classes, resolution

_CNN_ACTS = ("relu", "relu6", "gelu", "silu")


def _up(hw: int, stride: int) -> int:
    return -(-hw // stride)


def _n_downs(hw: int, floor_px: int = 4) -> int:
    """How many halvings keep a ``hw`` px map at least ``floor_px`` px wide."""
    n = 0
    while _up(hw, 2) >= floor_px:
        hw, n = _up(hw, 2), n + 1
    return n


def mid_width(w: int) -> int:
    """Inner width of a bottleneck block whose output has ``w`` channels."""
    return ch(w / 4)


def expanded_width(cin: int, expansion: float) -> int:
    return ch(cin * expansion, hi=4096)


def se_width(c: int, ratio: int) -> int:
    """Squeeze width of an SE gate on a block with ``c`` input channels."""
    return ch(c / ratio)


def inception_widths(b: int, branches: int) -> dict:
    """Channel counts of one Inception-like module of base width ``b`` (``out``: the concat)."""
    w = {"b1": ch(b), "b2_reduce": ch(b / 2), "b2": ch(b), "b3_reduce": ch(b / 4), "b3": ch(b / 2),
         "pool_proj": ch(b / 2) if branches == 4 else 0}
    w["out"] = w["b1"] + w["b2"] + w["b3"] + w["pool_proj"]
    return w


def _sample_stem(d: Draw, r: int) -> dict:
    kernel = d.pick((3, 5, 7), (0.5, 0.2, 0.3))
    stride = 2 if r >= 64 and d.chance(0.75) else 1
    pool = r >= 96 and stride == 2 and d.chance(0.5)
    return {"stem_kernel": kernel, "stem_stride": stride, "stem_pool": pool}


def _stem(t: Tally, p: dict, cout: int) -> int:
    """Tally the stem convolution; return the map size after the stem (and its optional pool)."""
    hw = _up(p["resolution"], p["stem_stride"])
    t.conv(hw, 3, cout, p["stem_kernel"])
    return _up(hw, 2) if p["stem_pool"] else hw


# --- plain (VGG-like) ---------------------------------------------------------------------------

def sample_plain(d: Draw, wm: float) -> dict:
    r = resolution(d)
    stages = d.integer(2, max(2, min(5, _n_downs(r))))
    base, growth = d.log_uniform(8, 64), d.pick((1.5, 2.0))
    return {"resolution": r, "kernel": d.pick((3, 5, 7), (0.6, 0.3, 0.1)),
            "widths": [ch(base * wm * growth ** i, lo=8, hi=512) for i in range(stages)],
            "convs": [d.integer(1, 3) for _ in range(stages)],
            "activation": d.pick(_CNN_ACTS, (0.5, 0.15, 0.15, 0.2)), "batchnorm": d.chance(0.6),
            "head": d.pick(("gap", "fc"), (0.6, 0.4)), "head_hidden": d.log_int(64, 1024),
            "classes": classes(d)}


def estimate_plain(p: dict) -> tuple[int, int]:
    t, hw, cin = Tally(), p["resolution"], 3
    for w, n in zip(p["widths"], p["convs"], strict=True):
        for _ in range(n):
            t.conv(hw, cin, w, p["kernel"])
            cin = w
        hw //= 2
    if p["head"] == "fc":
        t.linear(cin * hw * hw, p["head_hidden"])
        cin = p["head_hidden"]
    t.linear(cin, p["classes"])
    return t.result()


def describe_plain(p: dict) -> str:
    w, k = p["widths"], p["kernel"]
    return (f"VGG-like, {sum(p['convs'])} {k}x{k} convs in {len(w)} stages, widths {w[0]}-{w[-1]}, "
            f"{p['activation']}{', BN' if p['batchnorm'] else ''}, {p['head']} head, {p['resolution']} px")


# --- residual (ResNet-like) ---------------------------------------------------------------------

def sample_residual(d: Draw, wm: float, se: bool = False) -> dict:
    r = resolution(d)
    stem = _sample_stem(d, r)
    hw = _up(_up(r, stem["stem_stride"]), 2 if stem["stem_pool"] else 1)
    stages = d.integer(2, max(2, min(4, _n_downs(hw) + 1)))
    block = d.pick(("basic", "bottleneck"), (0.6, 0.4))
    base, out_mult = d.log_uniform(8, 64), 4 if block == "bottleneck" else 1
    p = {"resolution": r, **stem, "block": block, "kernel": d.pick((3, 5), (0.8, 0.2)),
         "stem_width": ch(base * wm, lo=8, hi=128),
         "widths": [ch(base * wm * 2 ** i * out_mult, lo=8 * out_mult, hi=1024) for i in range(stages)],
         "blocks": [d.integer(1, 3) for _ in range(stages)],
         "activation": d.pick(_CNN_ACTS, (0.5, 0.1, 0.15, 0.25)), "classes": classes(d),
         "se_ratio": 0, "se_gate": "none"}
    if se:
        p["se_ratio"], p["se_gate"] = d.pick((4, 8, 16)), d.pick(("sigmoid", "hardsigmoid"), (0.7, 0.3))
    return p


def estimate_residual(p: dict) -> tuple[int, int]:
    t, k = Tally(), p["kernel"]
    hw, cin = _stem(t, p, p["stem_width"]), p["stem_width"]
    for i, (w, n) in enumerate(zip(p["widths"], p["blocks"], strict=True)):
        for j in range(n):
            ho = _up(hw, 2 if i > 0 and j == 0 else 1)
            if p["block"] == "basic":
                t.conv(ho, cin, w, k)
                t.conv(ho, w, w, k)
            else:
                m = mid_width(w)
                t.conv(hw, cin, m, 1)
                t.conv(ho, m, m, k)
                t.conv(ho, m, w, 1)
            if ho != hw or cin != w:
                t.conv(ho, cin, w, 1)
            if p["se_ratio"]:
                _se(t, w, se_width(w, p["se_ratio"]))
            cin, hw = w, ho
    t.linear(cin, p["classes"])
    return t.result()


def inverted_residual(t: Tally, hw: int, cin: int, cout: int, k: int, stride: int, p: dict) -> int:
    """Tally one ``generator_blocks_cnn.InvertedResidual`` (``p``: its expansion and SE ratio) on an
    ``hw`` x ``hw`` map; returns the side of its output."""
    e, ho = expanded_width(cin, p["expansion"]), _up(hw, stride)
    t.conv(hw, cin, e, 1)
    t.conv(ho, e, e, k, groups=e)
    if p["se_ratio"]:
        _se(t, e, se_width(cin, p["se_ratio"]))
    t.conv(ho, e, cout, 1)
    return ho


def _se(t: Tally, c: int, squeeze: int) -> None:
    t.conv(1, c, squeeze, 1)
    t.conv(1, squeeze, c, 1)


def describe_residual(p: dict) -> str:
    w, k = p["widths"], p["stem_kernel"]
    se = f", SE 1/{p['se_ratio']} {p['se_gate']}" if p["se_ratio"] else ""
    return (f"ResNet-like {p['block']}, blocks {p['blocks']}, widths {w[0]}-{w[-1]}, {k}x{k} stem, "
            f"{p['kernel']}x{p['kernel']} convs, {p['activation']}{se}, {p['resolution']} px")


# --- depthwise (MobileNet v1 / v2-like) ---------------------------------------------------------

def sample_depthwise(d: Draw, wm: float, se: bool = False) -> dict:
    r = resolution(d)
    version = "v2" if se else d.pick(("v1", "v2"), (0.4, 0.6))
    stem_stride = 2 if r >= 48 and d.chance(0.8) else 1
    n_stages = d.integer(3, 6)
    downs = d.subset(range(1, n_stages), min(n_stages - 1, _n_downs(_up(r, stem_stride))))
    base, growth = d.log_uniform(8, 48), d.uniform(1.3, 2.0)
    widths = [ch(base * wm * growth ** i, lo=8, hi=640) for i in range(n_stages)]
    last_mult = d.pick((0, 2, 4), (0.4, 0.3, 0.3))
    p = {"resolution": r, "version": version, "stem_stride": stem_stride,
         "stem_width": ch(d.log_uniform(8, 32) * wm, lo=8, hi=64), "widths": widths,
         "strides": [2 if i in downs else 1 for i in range(n_stages)],
         "blocks": [d.integer(1, 4) for _ in range(n_stages)],
         "kernels": [d.pick((3, 5, 7), (0.6, 0.3, 0.1)) for _ in range(n_stages)],
         "expansion": d.pick((2, 3, 4, 6), (0.2, 0.2, 0.2, 0.4)) if version == "v2" else 1,
         "last_width": ch(widths[-1] * last_mult, hi=1280) if last_mult else 0,
         "activation": d.pick(_CNN_ACTS, (0.2, 0.5, 0.05, 0.25)), "classes": classes(d),
         "se_ratio": 0, "se_gate": "none"}
    if se:
        p["se_ratio"], p["se_gate"] = d.pick((4, 8, 16)), d.pick(("sigmoid", "hardsigmoid"), (0.6, 0.4))
    return p


def estimate_depthwise(p: dict) -> tuple[int, int]:
    t = Tally()
    hw = _up(p["resolution"], p["stem_stride"])
    t.conv(hw, 3, p["stem_width"], 3)
    cin = p["stem_width"]
    for w, n, s, k in zip(p["widths"], p["blocks"], p["strides"], p["kernels"], strict=True):
        for j in range(n):
            stride = s if j == 0 else 1
            if p["version"] == "v1":
                ho = _up(hw, stride)
                t.conv(ho, cin, cin, k, groups=cin)
                t.conv(ho, cin, w, 1)
            else:
                ho = inverted_residual(t, hw, cin, w, k, stride, p)
            cin, hw = w, ho
    if p["last_width"]:
        t.conv(hw, cin, p["last_width"], 1)
        cin = p["last_width"]
    t.linear(cin, p["classes"])
    return t.result()


def describe_depthwise(p: dict) -> str:
    w = p["widths"]
    kind = ("MobileNetV1-like depthwise-separable" if p["version"] == "v1"
            else f"MobileNetV2-like inverted residual x{p['expansion']}")
    se = f", SE 1/{p['se_ratio']} {p['se_gate']}" if p["se_ratio"] else ""
    return (f"{kind}, blocks {p['blocks']}, widths {w[0]}-{w[-1]}, kernels {p['kernels']}, "
            f"{p['activation']}{se}, {p['resolution']} px")


# --- multibranch (Inception-like) ---------------------------------------------------------------

def sample_multibranch(d: Draw, wm: float) -> dict:
    r = resolution(d)
    stem = _sample_stem(d, r)
    hw = _up(_up(r, stem["stem_stride"]), 2 if stem["stem_pool"] else 1)
    n_modules = d.integer(2, 6)
    pool_after = d.subset(range(n_modules - 1), min(n_modules - 1, _n_downs(hw), d.integer(1, 3)))
    base, growth = d.log_uniform(8, 48), d.uniform(1.2, 1.8)
    widths = [ch(base * wm * growth ** sum(j < i for j in pool_after), lo=8, hi=384)
              for i in range(n_modules)]
    return {"resolution": r, **stem, "stem_width": ch(d.log_uniform(16, 64) * wm, lo=8, hi=128),
            "modules": widths, "pool_after": pool_after, "branches": d.pick((3, 4)),
            "kernel": d.pick((3, 5), (0.6, 0.4)), "factorized": d.chance(0.3), "batchnorm": d.chance(0.7),
            "activation": d.pick(_CNN_ACTS, (0.6, 0.05, 0.15, 0.2)), "classes": classes(d)}


def estimate_multibranch(p: dict) -> tuple[int, int]:
    t, k = Tally(), p["kernel"]
    hw, cin = _stem(t, p, p["stem_width"]), p["stem_width"]

    def spatial(a: int, b: int) -> None:
        if p["factorized"]:
            t.conv(hw, a, b, 1, k2=k)
            t.conv(hw, b, b, k, k2=1)
        else:
            t.conv(hw, a, b, k)

    for i, b in enumerate(p["modules"]):
        w = inception_widths(b, p["branches"])
        for reduce in ("b1", "b2_reduce", "b3_reduce"):
            t.conv(hw, cin, w[reduce], 1)
        spatial(w["b2_reduce"], w["b2"])
        spatial(w["b3_reduce"], w["b3"])
        spatial(w["b3"], w["b3"])
        if w["pool_proj"]:
            t.conv(hw, cin, w["pool_proj"], 1)
        cin = w["out"]
        hw = _up(hw, 2) if i in p["pool_after"] else hw
    t.linear(cin, p["classes"])
    return t.result()


def describe_multibranch(p: dict) -> str:
    m, k = p["modules"], p["kernel"]
    kern = f"1x{k}+{k}x1" if p["factorized"] else f"{k}x{k}"
    return (f"Inception-like, {len(m)} modules of {p['branches']} branches ({kern}), base widths "
            f"{m[0]}-{m[-1]}, {p['activation']}{', BN' if p['batchnorm'] else ''}, {p['resolution']} px")


# --- squeeze-excite -----------------------------------------------------------------------------

def sample_se(d: Draw, wm: float) -> dict:
    base = d.pick(("residual", "mbconv"))
    p = sample_residual(d, wm, se=True) if base == "residual" else sample_depthwise(d, wm, se=True)
    return {"base": base, **p}


def estimate_se(p: dict) -> tuple[int, int]:
    return estimate_residual(p) if p["base"] == "residual" else estimate_depthwise(p)


def describe_se(p: dict) -> str:
    text = describe_residual(p) if p["base"] == "residual" else describe_depthwise(p)
    return "SE " + text


# --- dense (DenseNet-like) ----------------------------------------------------------------------

def dense_transition_width(c: int, compression: float) -> int:
    """Channels a transition layer keeps of a dense block's ``c`` concatenated channels."""
    return ch(c * compression, lo=8, hi=1024)


def sample_dense(d: Draw, wm: float) -> dict:
    r = resolution(d)
    stem = _sample_stem(d, r)
    hw = _up(_up(r, stem["stem_stride"]), 2 if stem["stem_pool"] else 1)
    blocks = d.integer(2, max(2, min(4, _n_downs(hw) + 1)))
    growth = ch(d.log_uniform(6, 32) * wm, lo=4, hi=64)
    return {"resolution": r, **stem, "growth": growth, "stem_width": ch(2 * growth, lo=8, hi=128),
            "layers": [d.integer(2, 6) for _ in range(blocks)], "bottleneck": d.chance(0.5),
            "compression": d.pick((0.5, 1.0), (0.7, 0.3)),
            "activation": d.pick(_CNN_ACTS, (0.6, 0.1, 0.1, 0.2)), "classes": classes(d)}


def estimate_dense(p: dict) -> tuple[int, int]:
    t, k = Tally(), p["growth"]
    hw, c = _stem(t, p, p["stem_width"]), p["stem_width"]
    for i, n in enumerate(p["layers"]):
        for _ in range(n):
            if p["bottleneck"]:
                t.conv(hw, c, 4 * k, 1)
                t.conv(hw, 4 * k, k, 3)
            else:
                t.conv(hw, c, k, 3)
            c += k
        if i + 1 < len(p["layers"]):
            w = dense_transition_width(c, p["compression"])
            t.conv(hw, c, w, 1)
            c, hw = w, hw // 2
    t.linear(c, p["classes"])
    return t.result()


def describe_dense(p: dict) -> str:
    kind = "bottleneck (1x1, 3x3)" if p["bottleneck"] else "3x3"
    return (f"DenseNet-like, {kind} layers {p['layers']}, growth {p['growth']}, transition x{p['compression']}, "
            f"{p['stem_kernel']}x{p['stem_kernel']} stem, {p['activation']}, {p['resolution']} px")


# --- convnext (ConvNeXt-like) -------------------------------------------------------------------

def sample_convnext(d: Draw, wm: float) -> dict:
    r = resolution(d)
    patch = d.pick((2, 4), (0.4, 0.6))
    hw, stages = r // patch, 1
    while stages < 4 and hw // 2 >= 2:
        hw, stages = hw // 2, stages + 1
    stages = d.integer(2, max(2, stages))
    base = d.log_uniform(8, 64)
    return {"resolution": r, "patch": patch, "kernel": d.pick((3, 5, 7), (0.2, 0.2, 0.6)),
            "widths": [ch(base * wm * 2 ** i, lo=8, hi=768) for i in range(stages)],
            "blocks": [d.integer(1, 3) for _ in range(stages)], "expansion": d.pick((2, 3, 4), (0.2, 0.2, 0.6)),
            "pointwise": d.pick(("linear", "conv"), (0.6, 0.4)),
            "activation": d.pick(_CNN_ACTS, (0.1, 0.05, 0.7, 0.15)), "classes": classes(d)}


def estimate_convnext(p: dict) -> tuple[int, int]:
    t, k = Tally(), p["kernel"]
    hw, c = p["resolution"] // p["patch"], p["widths"][0]
    t.conv(hw, 3, c, p["patch"])
    for i, (w, n) in enumerate(zip(p["widths"], p["blocks"], strict=True)):
        if i > 0:
            hw = hw // 2
            t.conv(hw, c, w, 2)
            c = w
        for _ in range(n):
            e = expanded_width(c, p["expansion"])
            t.conv(hw, c, c, k, groups=c)
            t.conv(hw, c, e, 1)
            t.conv(hw, e, c, 1)
    t.linear(c, p["classes"])
    return t.result()


def describe_convnext(p: dict) -> str:
    w, k = p["widths"], p["kernel"]
    norm = "LayerNorm + Linear" if p["pointwise"] == "linear" else "BN + 1x1 conv"
    return (f"ConvNeXt-like, {p['patch']}x{p['patch']} patchify stem, {len(w)} stages {p['blocks']} of "
            f"{k}x{k} depthwise + {norm} MLP x{p['expansion']}, widths {w[0]}-{w[-1]}, {p['activation']}, "
            f"{p['resolution']} px")


# --- unet (encoder-decoder for dense prediction) ------------------------------------------------

def sample_unet(d: Draw, wm: float) -> dict:
    r = resolution(d)
    levels = d.integer(2, 4 if r % 16 == 0 else 3)
    base = d.log_uniform(6, 32)
    return {"resolution": r, "levels": levels, "widths": [ch(base * wm * 2 ** i, lo=4, hi=512) for i in range(levels + 1)],
            "up": d.pick(("transpose", "resize"), (0.5, 0.5)), "batchnorm": d.chance(0.7),
            "activation": d.pick(_CNN_ACTS, (0.6, 0.1, 0.1, 0.2)), "classes": d.integer(2, 21)}


def estimate_unet(p: dict) -> tuple[int, int]:
    t, hw, c, w = Tally(), p["resolution"], 3, p["widths"]
    for i in range(p["levels"]):
        t.conv(hw, c, w[i], 3)
        t.conv(hw, w[i], w[i], 3)
        c, hw = w[i], hw // 2
    t.conv(hw, c, w[-1], 3)
    t.conv(hw, w[-1], w[-1], 3)
    c = w[-1]
    for i in reversed(range(p["levels"])):
        hw *= 2
        if p["up"] == "transpose":
            t.macs += (hw // 2) ** 2 * c * w[i] * 4
            t.params += c * w[i] * 4 + w[i]
        else:
            t.conv(hw, c, w[i], 1)
        t.conv(hw, 2 * w[i], w[i], 3)
        t.conv(hw, w[i], w[i], 3)
        c = w[i]
    t.conv(hw, c, p["classes"], 1)
    return t.result()


def describe_unet(p: dict) -> str:
    up = "2x2 transposed convs" if p["up"] == "transpose" else "nearest resize + 1x1 convs"
    return (f"U-Net-like, {p['levels']} levels, widths {p['widths'][0]}-{p['widths'][-1]}, {up}, skip concatenation, "
            f"{p['activation']}{', BN' if p['batchnorm'] else ''}, {p['classes']}-class map of {p['resolution']} px")


# --- shuffle (ShuffleNet-v1-like: grouped 1x1 convolutions + channel shuffle) -------------------

def shuffle_mid(c_out: int, groups: int) -> int:
    """Bottleneck width of a ShuffleNet unit whose branch outputs ``c_out`` channels."""
    return max(groups, int(round(c_out / 4 / groups)) * groups)


def _mult(x: float, step: int, lo: int) -> int:
    return max(lo, int(round(x / step)) * step)


def sample_shuffle(d: Draw, wm: float) -> dict:
    r = resolution(d)
    g = d.pick((2, 3, 4, 8), (0.2, 0.4, 0.25, 0.15))
    hw = _up(r, 2)
    pool = r >= 64 and d.chance(0.7)
    hw = _up(hw, 2) if pool else hw
    stages = d.integer(2, max(2, min(3, _n_downs(hw, 2))))
    base = d.log_uniform(48, 240) * wm
    stem = _mult(24 * min(wm, 2.0), 4 * g, 4 * g)
    widths = [_mult(base * 2 ** i, 4 * g, stem + 4 * g) for i in range(stages)]
    for i in range(1, stages):  # every stage wider than the one before (its first unit concatenates)
        widths[i] = max(widths[i], widths[i - 1] + 4 * g)
    return {"resolution": r, "groups": g, "stem_width": stem, "stem_pool": pool, "widths": widths,
            "units": [d.integer(1, 4) for _ in range(stages)], "classes": classes(d)}


def estimate_shuffle(p: dict) -> tuple[int, int]:
    t, g = Tally(), p["groups"]
    hw = _up(p["resolution"], 2)
    t.conv(hw, 3, p["stem_width"], 3)
    hw = _up(hw, 2) if p["stem_pool"] else hw
    c = p["stem_width"]
    for w, n in zip(p["widths"], p["units"], strict=True):
        for j in range(n):
            out = w - c if j == 0 else w
            m = shuffle_mid(out, g)
            t.conv(hw, c, m, 1, groups=g)
            ho = _up(hw, 2) if j == 0 else hw
            t.conv(ho, m, m, 3, groups=m)
            t.conv(ho, m, out, 1, groups=g)
            c, hw = w, ho
    t.linear(c, p["classes"])
    return t.result()


def describe_shuffle(p: dict) -> str:
    w = p["widths"]
    return (f"ShuffleNet-v1-like, {p['groups']} groups, {len(w)} stages {p['units']} units, widths {w[0]}-{w[-1]}, "
            f"{p['resolution']} px")
