"""torch module of the generated detector family (generator_space_detector): CSP backbone, optional
SPPF, FPN (+ PAN) neck, one 1x1 prediction convolution per level, boxes concatenated.

Imported only when a network is built (it imports torch). Input [1, 3, R, R]; output
[1, boxes, 5 + classes].
"""
from __future__ import annotations

import torch
from torch import nn

from advisor.zoo.generator_blocks_cnn import conv, image_network
from advisor.zoo.generator_space_detector import csp_hidden, level_sides


class Bottleneck(nn.Module):
    def __init__(self, c: int, act: str, shortcut: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(c, c, 1, act=act), conv(c, c, 3, act=act))
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        return x + y if self.shortcut else y


class CSP(nn.Module):
    """Cross-stage partial block: two 1x1 branches, one through ``n`` bottlenecks, fused by a 1x1."""

    def __init__(self, cin: int, cout: int, n: int, act: str, shortcut: bool) -> None:
        super().__init__()
        c = csp_hidden(cout)
        self.a, self.b = conv(cin, c, 1, act=act), conv(cin, c, 1, act=act)
        self.m = nn.Sequential(*(Bottleneck(c, act, shortcut) for _ in range(n)))
        self.out = conv(2 * c, cout, 1, act=act)

    def forward(self, x):
        return self.out(torch.cat([self.m(self.a(x)), self.b(x)], dim=1))


class SPPF(nn.Module):
    def __init__(self, c: int, act: str) -> None:
        super().__init__()
        h = csp_hidden(c)
        self.cv1, self.cv2 = conv(c, h, 1, act=act), conv(4 * h, c, 1, act=act)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], dim=1))


class Detector(nn.Module):
    def __init__(self, p: dict) -> None:
        super().__init__()
        act = p["activation"]
        self.stem = conv(3, p["stem_width"], 3, 2, act=act)
        stages, cin = [], p["stem_width"]
        for w, n in zip(p["widths"], p["blocks"], strict=True):
            stages.append(nn.Sequential(conv(cin, w, 3, 2, act=act), CSP(w, w, n, act, shortcut=True)))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.sppf = SPPF(cin, act) if p["sppf"] else nn.Identity()
        widths = p["widths"][-p["levels"]:]
        self.lateral = nn.ModuleList(conv(widths[i + 1], widths[i], 1, act=act) for i in range(len(widths) - 1))
        self.top_down = nn.ModuleList(CSP(2 * w, w, p["neck_blocks"], act, shortcut=False) for w in widths[:-1])
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        if p["pan"]:
            self.down = nn.ModuleList(conv(widths[i], widths[i], 3, 2, act=act) for i in range(len(widths) - 1))
            self.bottom_up = nn.ModuleList(CSP(widths[i] + widths[i + 1], widths[i + 1], p["neck_blocks"], act,
                                               shortcut=False) for i in range(len(widths) - 1))
        else:
            self.down = self.bottom_up = None
        self.per_box = 5 + p["classes"]
        self.anchors = p["anchors"]
        self.heads = nn.ModuleList(nn.Conv2d(w, self.anchors * self.per_box, 1) for w in widths)
        self.cells = [s * s for s in level_sides(p)]  # constants, so the export holds no Shape ops

    def forward(self, x):
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        maps[-1] = self.sppf(maps[-1])
        levels = maps[-len(self.heads):]
        outs = [levels[-1]]
        for i in reversed(range(len(levels) - 1)):  # top-down, coarse to fine
            y = self.up(self.lateral[i](outs[0]))
            outs.insert(0, self.top_down[i](torch.cat([y, levels[i]], dim=1)))
        if self.down is not None:  # bottom-up, fine to coarse
            for i in range(len(outs) - 1):
                outs[i + 1] = self.bottom_up[i](torch.cat([self.down[i](outs[i]), outs[i + 1]], dim=1))
        preds = []
        for head, y, cells in zip(self.heads, outs, self.cells, strict=True):
            z = head(y).reshape(-1, self.anchors, self.per_box, cells).permute(0, 1, 3, 2)
            preds.append(z.reshape(-1, self.anchors * cells, self.per_box))
        return torch.cat(preds, dim=1)


def make(family: str, p: dict) -> tuple[nn.Module, tuple, list[str]]:
    """(eval-mode module, example inputs, input names); the caller seeds torch."""
    if family != "detector":
        raise KeyError(f"no detector builder for family '{family}'")
    return image_network(Detector(p), p)
