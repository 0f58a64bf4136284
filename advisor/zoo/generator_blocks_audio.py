"""torch modules of the generated audio families (generator_space_audio): CRNN, WaveNet-like gated
TCN and DS-CNN keyword spotters.

Imported only when a network is built (it imports torch). Inputs: a spectrogram [1, 1, frames, bins]
(CRNN, DS-CNN) or feature channels over time [1, in_channels, seq_len] (WaveNet); output logits
[1, classes].
"""
from __future__ import annotations

import torch
from torch import nn

from advisor.zoo.generator_blocks_cnn import calibrate_bn, conv, he_init
from advisor.zoo.generator_space_audio import crnn_map, wavenet_dilations


class CRNN(nn.Module):
    """Conv (+ conv) over the spectrogram, each frame's channels x bins as one step of a GRU/LSTM, the
    last step through FC + ReLU to the logits."""

    def __init__(self, p: dict) -> None:
        super().__init__()
        c = p["channels"]
        layers = [conv(1, c, tuple(p["kernel"]), tuple(p["stride"]))]
        if p["second_conv"]:
            layers.append(conv(c, c, 3))
        self.convs = nn.Sequential(*layers)
        _, bins = crnn_map(p)
        rnn = nn.GRU if p["cell"] == "gru" else nn.LSTM
        self.rnn = rnn(c * bins, p["hidden"], num_layers=p["layers"], batch_first=True,
                       bidirectional=p["bidirectional"])
        self.head = nn.Sequential(nn.Linear(p["hidden"] * (2 if p["bidirectional"] else 1), p["fc"]), nn.ReLU(),
                                  nn.Linear(p["fc"], p["classes"]))

    def forward(self, x):
        x = self.convs(x).permute(0, 2, 1, 3).flatten(2)  # [N, C, T, F] -> [N, T, C * F]
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class GatedLayer(nn.Module):
    """tanh(filter) * sigmoid(gate) of two dilated convolutions (same padding; causal for an even kernel),
    a 1x1 back to the residual width (added; not in the last layer, whose residual nothing reads) and a
    1x1 to the skip width."""

    def __init__(self, p: dict, dilation: int, last: bool) -> None:
        super().__init__()
        r, g, k = p["residual"], p["gate"], p["kernel"]
        self.steps = p["seq_len"]
        pad = dilation * (k - 1) // 2 if k % 2 else dilation * (k - 1)  # same, or causal once cropped
        self.filter = nn.Conv1d(r, g, k, dilation=dilation, padding=pad)
        self.gate = nn.Conv1d(r, g, k, dilation=dilation, padding=pad)
        self.res = None if last else nn.Conv1d(g, r, 1)
        self.skip = nn.Conv1d(g, p["skip"], 1)

    def forward(self, x):
        z = torch.tanh(self.filter(x)[..., :self.steps]) * torch.sigmoid(self.gate(x)[..., :self.steps])
        return (x if self.res is None else x + self.res(z)), self.skip(z)


class WaveNet(nn.Module):
    def __init__(self, p: dict) -> None:
        super().__init__()
        self.inp = nn.Conv1d(p["in_channels"], p["residual"], 1)
        dils = wavenet_dilations(p)
        self.layers = nn.ModuleList(GatedLayer(p, dil, i + 1 == len(dils)) for i, dil in enumerate(dils))
        s = p["skip"]
        self.post = nn.Sequential(nn.ReLU(), nn.Conv1d(s, s, 1), nn.ReLU(), nn.Conv1d(s, s, 1))
        self.head = nn.Linear(s, p["classes"])

    def forward(self, x):
        x = self.inp(x)
        total = None
        for layer in self.layers:
            x, skip = layer(x)
            total = skip if total is None else total + skip
        return self.head(self.post(total).mean(dim=-1))


def build_dscnn(p: dict) -> nn.Module:
    act = p["activation"]
    kt, kf = p["kernel"]
    c = p["width"]
    layers = [conv(1, c, (kt, kf), (2, p["bin_stride"]), act=act)]
    for i, cout in enumerate(p["widths"]):
        stride = 2 if p["downsample"] and i == 1 else 1
        layers += [conv(c, c, 3, stride, groups=c, act=act), conv(c, cout, 1, act=act)]
        c = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, p["classes"])]
    return nn.Sequential(*layers)


def make(family: str, p: dict) -> tuple[nn.Module, tuple, list[str]]:
    """(eval-mode module, example inputs, input names); the caller seeds torch."""
    if family == "crnn":
        module, example = CRNN(p), torch.randn(1, 1, p["frames"], p["bins"])
    elif family == "dscnn":
        module, example = build_dscnn(p), torch.randn(1, 1, p["frames"], p["bins"])
    elif family == "wavenet":
        module, example = WaveNet(p), torch.randn(1, p["in_channels"], p["seq_len"])
    else:
        raise KeyError(f"no audio builder for family '{family}'")
    he_init(module)
    calibrate_bn(module, example)
    return module.eval(), (example,), ["input"]
