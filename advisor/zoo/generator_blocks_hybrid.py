"""torch module of the generated hybrid family (generator_space_hybrid): an inverted-residual trunk,
a 1x1 convolution to the model width, the feature map flattened to tokens (+ learned positions),
the sequence families' encoder blocks, LayerNorm, mean over tokens, linear head.

Imported only when a network is built (it imports torch). Input [1, 3, R, R]; output [1, classes].
"""
from __future__ import annotations

import torch
from torch import nn

from advisor.zoo.generator_blocks_cnn import InvertedResidual, conv, image_network
from advisor.zoo.generator_blocks_seq import EncoderBlock


class Hybrid(nn.Module):
    def __init__(self, p: dict) -> None:
        super().__init__()
        act, d = p["activation"], p["d_model"]
        layers, cin = [conv(3, p["stem_width"], 3, 2, act=act)], p["stem_width"]
        for w, n, k in zip(p["widths"], p["blocks"], p["kernels"], strict=True):
            for j in range(n):
                layers.append(InvertedResidual(p, cin, w, k, 2 if j == 0 else 1))
                cin = w
        layers.append(conv(cin, d, 1, act=act))
        self.trunk = nn.Sequential(*layers)
        self.pos = nn.Parameter(0.02 * torch.randn(1, p["seq_len"], d))
        self.blocks = nn.Sequential(*(EncoderBlock(p) for _ in range(p["layers"])))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, p["classes"])

    def forward(self, x):
        x = self.trunk(x).flatten(2).transpose(1, 2)
        return self.head(self.norm(self.blocks(x + self.pos)).mean(dim=1))


def make(family: str, p: dict) -> tuple[nn.Module, tuple, list[str]]:
    """(eval-mode module, example inputs, input names); the caller seeds torch."""
    if family != "hybrid":
        raise KeyError(f"no hybrid builder for family '{family}'")
    module = Hybrid(p)
    return image_network(module, p, module.trunk)  # the trunk's BatchNorms (the encoder blocks take batch 1 only)
