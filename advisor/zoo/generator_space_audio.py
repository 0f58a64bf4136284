"""Search spaces of the generated audio families: the keyword-spotting and audio networks that run on
microcontrollers and embedded boards, over MFCC / log-mel frames or raw feature channels.

- ``crnn``: convolutional-recurrent networks (Hello Edge's CRNN, Zhang et al. 2017): one or two 2-D
  convolutions over a [1, 1, time, frequency] spectrogram, the map read frame by frame (channels x
  frequency features a step) by a 1-2 layer GRU or LSTM, the last step through a fully connected
  layer to the classes.
- ``wavenet``: gated dilated 1-D convolutions (WaveNet; Coucke et al. 2018's keyword spotter): a 1x1
  input convolution, layers of tanh x sigmoid gated dilated convolutions (causal for kernel 2) with 1x1
  residual and skip convolutions, the summed skips through two 1x1 convolutions, a mean over time and a linear head.
- ``dscnn``: depthwise-separable CNNs of MLPerf Tiny's keyword-spotting task (DS-CNN): a non-square
  first convolution with stride 2 over the spectrogram, depthwise 3x3 + pointwise 1x1 blocks on a
  non-square map, average pooling and a linear head.

Same contract as ``generator_space``: ``sample_*(d, wm)`` draws a fixed number of random numbers
whatever the width multiplier ``wm``; ``estimate_*(p)`` counts the weighted layers of one batch-1
inference. A convolution of kernel k (padding k // 2) and stride s maps n steps to (n + 2 (k // 2) - k) // s + 1.
"""
from __future__ import annotations

from advisor.zoo.generator_space import Draw, Tally, ch, classes


def conv_out(n: int, k: int, s: int = 1) -> int:
    """Output length of a convolution of kernel ``k``, stride ``s`` and padding k // 2 (shared with the builder)."""
    return (n + 2 * (k // 2) - k) // s + 1


def _spectrogram(d: Draw) -> tuple[int, int]:
    """(frames, frequency bins): 1-2 s of 10-20 ms frames, 10-40 MFCC or log-mel bins."""
    return d.integer(49, 101), d.pick((10, 13, 20, 32, 40), (0.35, 0.15, 0.2, 0.1, 0.2))


# --- crnn ---------------------------------------------------------------------------------------

def _crnn_first_map(p: dict) -> tuple[int, int]:
    """(frames, frequency bins) of the first convolution's map."""
    (kt, kf), (st, sf) = p["kernel"], p["stride"]
    return conv_out(p["frames"], kt, st), conv_out(p["bins"], kf, sf)


def crnn_map(p: dict) -> tuple[int, int]:
    """(frames, frequency bins) of the last convolution's map: the recurrent layers' steps and bins."""
    t, f = _crnn_first_map(p)
    return (t, f) if not p["second_conv"] else (conv_out(t, 3), conv_out(f, 3))


def sample_crnn(d: Draw, wm: float) -> dict:
    frames, bins = _spectrogram(d)
    return {"frames": frames, "bins": bins, "channels": ch(d.log_uniform(8, 48) * wm ** 0.5, lo=4, hi=128),
            "kernel": d.pick(((3, 3), (5, 3), (10, 4), (7, 3)), (0.3, 0.2, 0.3, 0.2)),
            "stride": d.pick(((1, 1), (2, 1), (1, 2), (2, 2)), (0.15, 0.3, 0.2, 0.35)),
            "second_conv": d.chance(0.4), "cell": d.pick(("gru", "lstm")),
            "hidden": ch(d.log_uniform(32, 256) * wm ** 0.5, lo=8, hi=512), "layers": d.pick((1, 2), (0.6, 0.4)),
            "bidirectional": d.chance(0.25), "fc": ch(d.log_uniform(32, 256), lo=16, hi=512),
            "classes": classes(d, 2, 35)}


def estimate_crnn(p: dict) -> tuple[int, int]:
    t, c = Tally(), p["channels"]
    kt, kf = p["kernel"]
    first_t, first_f = _crnn_first_map(p)
    t.conv1d(first_t * first_f, 1, c, kt * kf)
    steps, bins = crnn_map(p)
    if p["second_conv"]:
        t.conv1d(steps * bins, c, c, 9)
    n_out = t.recurrent(steps, c * bins, p["hidden"], p["layers"], 3 if p["cell"] == "gru" else 4, p["bidirectional"])
    t.linear(n_out, p["fc"])
    t.linear(p["fc"], p["classes"])
    return t.result()


def describe_crnn(p: dict) -> str:
    steps, bins = crnn_map(p)
    convs = "two convolutions" if p["second_conv"] else "one convolution"
    bi = "bidirectional " if p["bidirectional"] else ""
    return (f"CRNN over {p['frames']} x {p['bins']} frames, {convs} ({p['channels']} ch, {p['kernel'][0]}x"
            f"{p['kernel'][1]}/{p['stride'][0]}x{p['stride'][1]}), {p['layers']}-layer {bi}{p['cell'].upper()} "
            f"{p['channels'] * bins}->{p['hidden']} over {steps} steps, FC {p['fc']}, {p['classes']} classes")


# --- wavenet ------------------------------------------------------------------------------------

def wavenet_dilations(p: dict) -> list[int]:
    """Dilation of every gated layer: 1, 2, 4, ... up to 2^(per_stack - 1), once a stack (shared with the builder)."""
    return [2 ** j for _ in range(p["stacks"]) for j in range(p["per_stack"])]


def sample_wavenet(d: Draw, wm: float) -> dict:
    source = d.pick(("mfcc", "sensor"), (0.7, 0.3))
    c_in = d.pick((13, 20, 32, 40)) if source == "mfcc" else d.integer(3, 12)
    seq_len = d.integer(49, 200) if source == "mfcc" else 32 * d.integer(2, 12)
    res = ch(d.log_uniform(16, 96) * wm, lo=8, hi=256)
    return {"source": source, "in_channels": c_in, "seq_len": seq_len, "residual": res,
            "gate": ch(res * d.pick((1.0, 2.0), (0.6, 0.4)), lo=8, hi=512),
            "skip": ch(res * d.pick((1.0, 2.0), (0.5, 0.5)), lo=8, hi=512),
            "kernel": d.pick((2, 3), (0.4, 0.6)), "stacks": d.integer(1, 3), "per_stack": d.integer(2, 6),
            "classes": classes(d, 2, 35)}


def estimate_wavenet(p: dict) -> tuple[int, int]:
    t, n = Tally(), p["seq_len"]
    r, g, s = p["residual"], p["gate"], p["skip"]
    t.conv1d(n, p["in_channels"], r, 1)
    dils = wavenet_dilations(p)
    for i, dil in enumerate(dils):
        steps = n if p["kernel"] % 2 else n + dil * (p["kernel"] - 1)  # a causal convolution computes its padding too
        t.conv1d(steps, r, 2 * g, p["kernel"])  # filter and gate
        if i + 1 < len(dils):
            t.conv1d(n, g, r, 1)  # the residual 1x1; the last layer has none
        t.conv1d(n, g, s, 1)
    t.conv1d(n, s, s, 1)
    t.conv1d(n, s, s, 1)
    t.linear(s, p["classes"])
    return t.result()


def describe_wavenet(p: dict) -> str:
    return (f"WaveNet-like gated TCN ({p['source']}, {p['in_channels']} x {p['seq_len']}), {p['stacks']} x "
            f"{p['per_stack']} gated k{p['kernel']} layers, residual {p['residual']}, gate {p['gate']}, "
            f"skip {p['skip']}, {p['classes']} classes")


# --- dscnn --------------------------------------------------------------------------------------

def dscnn_map(p: dict) -> tuple[int, int]:
    """(frames, bins) after the first convolution (its stride); the blocks keep or halve it."""
    kt, kf = p["kernel"]
    return conv_out(p["frames"], kt, 2), conv_out(p["bins"], kf, p["bin_stride"])


def sample_dscnn(d: Draw, wm: float) -> dict:
    frames, bins = _spectrogram(d)
    n = d.integer(2, 6)
    base = d.log_uniform(24, 176) * wm
    return {"frames": frames, "bins": bins, "kernel": d.pick(((10, 4), (3, 3), (5, 5), (10, 3)), (0.5, 0.2, 0.15, 0.15)),
            "bin_stride": d.pick((1, 2), (0.5, 0.5)), "width": ch(base, lo=8, hi=512),
            "widths": [ch(base * (1.0 if not d.chance(0.3) else 1.5), lo=8, hi=512) for _ in range(n)],
            "downsample": d.chance(0.3), "activation": d.pick(("relu", "relu6"), (0.8, 0.2)),
            "classes": classes(d, 2, 35)}


def estimate_dscnn(p: dict) -> tuple[int, int]:
    t = Tally()
    kt, kf = p["kernel"]
    h, w = dscnn_map(p)
    c = p["width"]
    t.conv1d(h * w, 1, c, kt * kf)
    for i, cout in enumerate(p["widths"]):
        if p["downsample"] and i == 1:
            h, w = conv_out(h, 3, 2), conv_out(w, 3, 2)
        t.conv1d(h * w, c, c, 9, groups=c)
        t.conv1d(h * w, c, cout, 1)
        c = cout
    t.linear(c, p["classes"])
    return t.result()


def describe_dscnn(p: dict) -> str:
    w = p["widths"]
    return (f"DS-CNN over {p['frames']} x {p['bins']} frames, {p['kernel'][0]}x{p['kernel'][1]} stem of {p['width']}, "
            f"{len(w)} depthwise-separable blocks {min(w)}-{max(w)} wide{', one stride 2' if p['downsample'] else ''}, "
            f"{p['classes']} classes")
