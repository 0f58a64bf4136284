"""ResNet v1, VGG and MobileNet v1 as TF-Slim defines them (the study ran TF-Slim checkpoints).

This module imports torch at the top: ``advisor.zoo.study`` imports it lazily, inside builders.
Every factory returns a module whose weights are already initialised from torch's global RNG
(seed it first); under ``torch.device("meta")`` the same call only counts parameters.
All classifiers end in a 1000-way Linear layer (TF-Slim's Inception/MobileNet checkpoints have
1001 classes, a background class; the difference is 1 row of the last layer).
"""
from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, k, s: int = 1, p=None, act: type[nn.Module] | None = nn.ReLU,
            groups: int = 1) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (eps 1e-3, TF-Slim's) + optional activation.

    ``k`` is an int or (kh, kw); ``p`` defaults to TF 'SAME' for stride 1 (k // 2), pass 0 for 'VALID'.
    """
    k = (k, k) if isinstance(k, int) else tuple(k)
    p = (k[0] // 2, k[1] // 2) if p is None else p
    layers = [nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=1e-3)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def classifier(cin: int, classes: int = 1000) -> nn.Sequential:
    """Global average pool + flatten + Linear: (1, cin, h, w) -> (1, classes) logits."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


@torch.no_grad()
def init_weights(module: nn.Module) -> nn.Module:
    """Variance-preserving random weights, so deep nets give finite, non-denormal activations.

    Conv/Linear: He-normal (fan_in); biases 0. BatchNorm: random running statistics (so folding
    BN into the conv changes the weights, as with a trained net) and gamma = sqrt(var) * U(0.8, 1.2),
    which keeps each layer's output variance near its input's. A module with a ``residual_bn``
    attribute gets that BN's gamma scaled by 0.2, so 50 residual additions do not blow up.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.uniform_(-0.1, 0.1)
            m.weight.copy_(m.running_var.sqrt() * torch.empty_like(m.weight).uniform_(0.8, 1.2))
            m.bias.uniform_(-0.1, 0.1)
    for m in module.modules():
        if hasattr(m, "residual_bn"):
            m.residual_bn.weight.mul_(0.2)
    return module


class Bottleneck(nn.Module):
    """TF-Slim resnet_v1 bottleneck: 1x1 (depth/4) -> 3x3 (depth/4, carries the stride) -> 1x1 (depth).

    The shortcut is a strided 1x1 projection when the depth changes, else a 1x1 max-pool subsample.
    """

    def __init__(self, cin: int, depth: int, stride: int):
        super().__init__()
        mid = depth // 4
        self.branch = nn.Sequential(conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride, 1),
                                    conv_bn(mid, depth, 1, act=None))
        self.residual_bn = self.branch[-1][1]
        if cin != depth:
            self.shortcut = conv_bn(cin, depth, 1, stride, 0, act=None)
        else:
            self.shortcut = nn.MaxPool2d(1, stride) if stride > 1 else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.shortcut(x) + self.branch(x))


RESNET_UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def resnet(depth: int) -> nn.Module:
    """TF-Slim resnet_v1_{50,101,152}: input (1, 3, 224, 224) -> (1, 1000) logits.

    As in TF-Slim (unlike torchvision) each of blocks 1-3 subsamples in its *last* unit, block 4 not
    at all; the parameter count is the same as torchvision's (25.56M / 44.55M / 60.19M).
    """
    units = RESNET_UNITS[depth]
    layers = [conv_bn(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for block, (n, base) in enumerate(zip(units, (64, 128, 256, 512), strict=True)):
        for unit in range(n):
            stride = 2 if (unit == n - 1 and block < 3) else 1
            layers.append(Bottleneck(cin, 4 * base, stride))
            cin = 4 * base
    return init_weights(nn.Sequential(*layers, classifier(cin)))


VGG_CONVS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def vgg(depth: int) -> nn.Module:
    """VGG-16/19 (TF-Slim vgg_16/vgg_19, no BN): (1, 3, 224, 224) -> (1, 1000) logits.

    Five conv blocks (64, 128, 256, 512, 512 channels, 3x3, bias, ReLU) each ending in a 2x2
    max-pool, then the 25088-4096-4096-1000 classifier (TF-Slim writes it as 7x7/1x1 convs;
    Linear layers have the same weights). 138.36M / 143.67M parameters.
    """
    layers, cin = [], 3
    for n, width in zip(VGG_CONVS[depth], (64, 128, 256, 512, 512), strict=True):
        for _ in range(n):
            layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU()]
            cin = width
        layers.append(nn.MaxPool2d(2, 2))
    head = [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, 1000)]
    return init_weights(nn.Sequential(*layers, *head))


MOBILENET_V1 = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_v1() -> nn.Module:
    """MobileNet v1, width 1.0 (TF-Slim mobilenet_v1): (1, 3, 224, 224) -> (1, 1000) logits.

    A 3x3/2 conv to 32 channels, 13 depthwise-separable blocks (3x3 depthwise + 1x1 pointwise,
    each BN + ReLU6), global average pool, Linear 1024 -> 1000. 4.23M parameters.
    """
    layers, cin = [conv_bn(3, 32, 3, 2, 1, act=nn.ReLU6)], 32
    for cout, stride in MOBILENET_V1:
        layers += [conv_bn(cin, cin, 3, stride, 1, act=nn.ReLU6, groups=cin),
                   conv_bn(cin, cout, 1, act=nn.ReLU6)]
        cin = cout
    return init_weights(nn.Sequential(*layers, classifier(cin)))
