"""torch module of the generated TCN family, built from the parameter dicts of generator_space_tcn.

Imported only when a network is built (it imports torch). Input [1, in_channels, seq_len] (MFCC
frames or sensor channels over time); output logits [1, classes].
"""
from __future__ import annotations

import torch
from torch import nn

from advisor.zoo.generator_blocks_cnn import _ACTS, calibrate_bn, he_init
from advisor.zoo.generator_space_tcn import block_dilations


def conv1d(cin: int, cout: int, k: int, p: dict, stride: int = 1, dilation: int = 1, groups: int = 1,
           act: bool = True) -> list[nn.Module]:
    """Conv1d (same padding, odd ``k``) + optional BN + optional activation."""
    bn = p["batchnorm"]
    layers = [nn.Conv1d(cin, cout, k, stride, dilation * (k - 1) // 2, dilation, groups, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm1d(cout))
    if act:
        layers.append(_ACTS[p["activation"]]())
    return layers


class TemporalBlock(nn.Module):
    """x + f(x): one dilated convolution, or a depthwise one then a pointwise one; activation after the sum."""

    def __init__(self, c: int, p: dict, dilation: int) -> None:
        super().__init__()
        k = p["kernel"]
        if p["separable"]:
            body = conv1d(c, c, k, p, dilation=dilation, groups=c) + conv1d(c, c, 1, p, act=False)
        else:
            body = conv1d(c, c, k, p, dilation=dilation, act=False)
        self.body = nn.Sequential(*body)
        self.act = _ACTS[p["activation"]]()

    def forward(self, x):
        return self.act(x + self.body(x))


class TCN(nn.Module):
    def __init__(self, p: dict) -> None:
        super().__init__()
        c = p["widths"][0]
        layers = conv1d(p["in_channels"], c, p["stem_kernel"], p, stride=p["stem_stride"])
        for i, (w, n) in enumerate(zip(p["widths"], p["blocks"], strict=True)):
            if i:
                layers += conv1d(c, w, 3, p, stride=2)
                c = w
            layers += [TemporalBlock(c, p, dil) for dil in block_dilations(p, n)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c, p["classes"])

    def forward(self, x):
        return self.head(self.body(x).mean(dim=-1))


def make(family: str, p: dict) -> tuple[nn.Module, tuple, list[str]]:
    """(eval-mode module, example inputs, input names); the caller seeds torch."""
    if family != "tcn":
        raise KeyError(f"no temporal-convolution builder for family '{family}'")
    module = TCN(p)
    example = torch.randn(1, p["in_channels"], p["seq_len"])
    he_init(module)
    calibrate_bn(module, example)
    return module.eval(), (example,), ["input"]
