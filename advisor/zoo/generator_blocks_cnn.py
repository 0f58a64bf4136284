"""torch modules of the generated CNN families, built from the parameter dicts of generator_space_cnn.

Imported only when a network is built (it imports torch). Every builder returns
(module, example input of shape [1, 3, R, R]); the module outputs logits [1, classes].
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from advisor.zoo.generator_space_cnn import (
    dense_transition_width,
    expanded_width,
    inception_widths,
    mid_width,
    se_width,
)

_ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
         "leaky": functools.partial(nn.LeakyReLU, 0.1)}


def conv(cin: int, cout: int, k, stride: int = 1, groups: int = 1, bn: bool = True,
         act: str | None = "relu") -> nn.Sequential:
    """Conv (same padding for odd kernels; ``k`` an int or (kh, kw)) + optional BN + activation."""
    kh, kw = (k, k) if isinstance(k, int) else k
    layers = [nn.Conv2d(cin, cout, (kh, kw), stride, (kh // 2, kw // 2), groups=groups, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    if act:
        layers.append(_ACTS[act]())
    return nn.Sequential(*layers)


def _head(cin: int, n_classes: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, n_classes)]


def _stem(p: dict, cout: int, bn: bool = True) -> list[nn.Module]:
    layers = [conv(3, cout, p["stem_kernel"], p["stem_stride"], bn=bn, act=p["activation"])]
    if p["stem_pool"]:
        layers.append(nn.MaxPool2d(3, 2, 1))
    return layers


class SqueezeExcite(nn.Module):
    """x * gate(W2 act(W1 avgpool(x))): channel attention of SE-Net / EfficientNet."""

    def __init__(self, c: int, squeeze: int, act: str, gate: str) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
        self.act = _ACTS[act]()
        self.gate = nn.Hardsigmoid() if gate == "hardsigmoid" else nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class ResidualBlock(nn.Module):
    """Basic (two k x k) or bottleneck (1x1, k x k, 1x1) block, projection shortcut when shapes change."""

    def __init__(self, p: dict, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        k, act = p["kernel"], p["activation"]
        if p["block"] == "basic":
            body = [conv(cin, cout, k, stride, act=act), conv(cout, cout, k, act=None)]
        else:
            m = mid_width(cout)
            body = [conv(cin, m, 1, act=act), conv(m, m, k, stride, act=act), conv(m, cout, 1, act=None)]
        if p["se_ratio"]:
            body.append(SqueezeExcite(cout, se_width(cout, p["se_ratio"]), act, p["se_gate"]))
        self.body = nn.Sequential(*body)
        self.short = (conv(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else nn.Identity())
        self.act = _ACTS[act]()

    def forward(self, x):
        return self.act(self.body(x) + self.short(x))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, k x k depthwise, optional SE, linear 1x1 projection."""

    def __init__(self, p: dict, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        act, e = p["activation"], expanded_width(cin, p["expansion"])
        body = [conv(cin, e, 1, act=act), conv(e, e, k, stride, groups=e, act=act)]
        if p["se_ratio"]:
            body.append(SqueezeExcite(e, se_width(cin, p["se_ratio"]), act, p["se_gate"]))
        body.append(conv(e, cout, 1, act=None))
        self.body = nn.Sequential(*body)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class Inception(nn.Module):
    """Four (or three) parallel branches concatenated on channels: 1x1, 1x1-kxk, 1x1-kxk-kxk, pool-1x1."""

    def __init__(self, p: dict, cin: int, base: int) -> None:
        super().__init__()
        w, bn, act = inception_widths(base, p["branches"]), p["batchnorm"], p["activation"]

        def spatial(a: int, b: int) -> list[nn.Module]:
            k = p["kernel"]
            if p["factorized"]:
                return [conv(a, b, (1, k), bn=bn, act=act), conv(b, b, (k, 1), bn=bn, act=act)]
            return [conv(a, b, k, bn=bn, act=act)]

        branches = [conv(cin, w["b1"], 1, bn=bn, act=act),
                    nn.Sequential(conv(cin, w["b2_reduce"], 1, bn=bn, act=act), *spatial(w["b2_reduce"], w["b2"])),
                    nn.Sequential(conv(cin, w["b3_reduce"], 1, bn=bn, act=act), *spatial(w["b3_reduce"], w["b3"]),
                                  *spatial(w["b3"], w["b3"]))]
        if w["pool_proj"]:
            branches.append(nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(cin, w["pool_proj"], 1, bn=bn, act=act)))
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)


def build_plain(p: dict) -> nn.Module:
    layers, cin = [], 3
    for w, n in zip(p["widths"], p["convs"], strict=True):
        for _ in range(n):
            layers.append(conv(cin, w, p["kernel"], bn=p["batchnorm"], act=p["activation"]))
            cin = w
        layers.append(nn.MaxPool2d(2))
    if p["head"] == "fc":
        hw = p["resolution"] // 2 ** len(p["widths"])
        layers += [nn.Flatten(), nn.Linear(cin * hw * hw, p["head_hidden"]), _ACTS[p["activation"]](),
                   nn.Linear(p["head_hidden"], p["classes"])]
    else:
        layers += _head(cin, p["classes"])
    return nn.Sequential(*layers)


def build_residual(p: dict) -> nn.Module:
    layers, cin = _stem(p, p["stem_width"]), p["stem_width"]
    for i, (w, n) in enumerate(zip(p["widths"], p["blocks"], strict=True)):
        for j in range(n):
            layers.append(ResidualBlock(p, cin, w, 2 if i > 0 and j == 0 else 1))
            cin = w
    return nn.Sequential(*layers, *_head(cin, p["classes"]))


def build_depthwise(p: dict) -> nn.Module:
    act = p["activation"]
    layers, cin = [conv(3, p["stem_width"], 3, p["stem_stride"], act=act)], p["stem_width"]
    for w, n, s, k in zip(p["widths"], p["blocks"], p["strides"], p["kernels"], strict=True):
        for j in range(n):
            stride = s if j == 0 else 1
            if p["version"] == "v1":
                layers += [conv(cin, cin, k, stride, groups=cin, act=act), conv(cin, w, 1, act=act)]
            else:
                layers.append(InvertedResidual(p, cin, w, k, stride))
            cin = w
    if p["last_width"]:
        layers.append(conv(cin, p["last_width"], 1, act=act))
        cin = p["last_width"]
    return nn.Sequential(*layers, *_head(cin, p["classes"]))


def build_multibranch(p: dict) -> nn.Module:
    layers, cin = _stem(p, p["stem_width"], bn=p["batchnorm"]), p["stem_width"]
    for i, base in enumerate(p["modules"]):
        layers.append(Inception(p, cin, base))
        cin = inception_widths(base, p["branches"])["out"]
        if i in p["pool_after"]:
            layers.append(nn.MaxPool2d(3, 2, 1))
    return nn.Sequential(*layers, *_head(cin, p["classes"]))


class DenseLayer(nn.Module):
    """DenseNet layer: its ``growth`` new channels concatenated to everything before it."""

    def __init__(self, p: dict, cin: int) -> None:
        super().__init__()
        k, act = p["growth"], p["activation"]
        body = [conv(cin, 4 * k, 1, act=act), conv(4 * k, k, 3, act=act)] if p["bottleneck"] else \
            [conv(cin, k, 3, act=act)]
        self.body = nn.Sequential(*body)

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def build_dense(p: dict) -> nn.Module:
    layers, c = _stem(p, p["stem_width"]), p["stem_width"]
    for i, n in enumerate(p["layers"]):
        for _ in range(n):
            layers.append(DenseLayer(p, c))
            c += p["growth"]
        if i + 1 < len(p["layers"]):
            w = dense_transition_width(c, p["compression"])
            layers += [conv(c, w, 1, act=p["activation"]), nn.AvgPool2d(2)]
            c = w
    return nn.Sequential(*layers, *_head(c, p["classes"]))


class ConvNeXtBlock(nn.Module):
    """x + MLP(norm(depthwise(x))): the ConvNeXt block, its pointwise layers either Linear on a
    channels-last view with LayerNorm (as published) or 1x1 convolutions with BatchNorm."""

    def __init__(self, p: dict, c: int) -> None:
        super().__init__()
        k, e = p["kernel"], expanded_width(c, p["expansion"])
        self.dw = nn.Conv2d(c, c, k, 1, k // 2, groups=c)
        self.linear = p["pointwise"] == "linear"
        if self.linear:
            self.norm, self.pw1, self.pw2 = nn.LayerNorm(c), nn.Linear(c, e), nn.Linear(e, c)
        else:
            self.norm, self.pw1, self.pw2 = nn.BatchNorm2d(c), nn.Conv2d(c, e, 1), nn.Conv2d(e, c, 1)
        self.act = _ACTS[p["activation"]]()

    def forward(self, x):
        y = self.dw(x)
        if self.linear:
            y = y.permute(0, 2, 3, 1)
            return x + self.pw2(self.act(self.pw1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.pw2(self.act(self.pw1(self.norm(y))))


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of an NCHW map (through a channels-last view)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(c)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def build_convnext(p: dict) -> nn.Module:
    def norm(c: int) -> nn.Module:
        return ChannelNorm(c) if p["pointwise"] == "linear" else nn.BatchNorm2d(c)

    c = p["widths"][0]
    layers = [nn.Conv2d(3, c, p["patch"], p["patch"]), norm(c)]
    for i, (w, n) in enumerate(zip(p["widths"], p["blocks"], strict=True)):
        if i > 0:
            layers += [norm(c), nn.Conv2d(c, w, 2, 2)]
            c = w
        layers += [ConvNeXtBlock(p, c) for _ in range(n)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(c), nn.Linear(c, p["classes"]))


class UNet(nn.Module):
    """Image [1, 3, R, R] -> per-pixel logits [1, classes, R, R]: double 3x3 convs, max-pool down,
    transposed-conv or resize up, skip connections concatenated (Ronneberger et al., smaller)."""

    def __init__(self, p: dict) -> None:
        super().__init__()
        w, bn, act = p["widths"], p["batchnorm"], p["activation"]

        def double(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(conv(a, b, 3, bn=bn, act=act), conv(b, b, 3, bn=bn, act=act))

        self.down = nn.ModuleList(double(3 if i == 0 else w[i - 1], w[i]) for i in range(p["levels"]))
        self.mid = double(w[p["levels"] - 1], w[-1])
        ups, decs = [], []
        for i in reversed(range(p["levels"])):
            cin = w[i + 1]
            ups.append(nn.ConvTranspose2d(cin, w[i], 2, 2) if p["up"] == "transpose" else
                       nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, w[i], 1)))
            decs.append(double(2 * w[i], w[i]))
        self.ups, self.decs = nn.ModuleList(ups), nn.ModuleList(decs)
        self.out = nn.Conv2d(w[0], p["classes"], 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.mid(x)
        for up, dec, skip in zip(self.ups, self.decs, reversed(skips), strict=True):
            x = dec(torch.cat([up(x), skip], 1))
        return self.out(x)


class ShuffleUnit(nn.Module):
    """ShuffleNet v1 unit: grouped 1x1 conv, channel shuffle, 3x3 depthwise, grouped 1x1 conv; added
    to the input (stride 1) or concatenated to its 3x3 average pool (stride 2)."""

    def __init__(self, cin: int, cout: int, groups: int, stride: int) -> None:
        super().__init__()
        from advisor.zoo.generator_space_cnn import shuffle_mid

        out = cout - cin if stride == 2 else cout
        m = shuffle_mid(out, groups)
        self.g, self.stride = groups, stride
        self.reduce = conv(cin, m, 1, groups=groups, act="relu")
        self.dw = conv(m, m, 3, stride, groups=m, act=None)
        self.expand = conv(m, out, 1, groups=groups, act=None)
        self.pool = nn.AvgPool2d(3, 2, 1) if stride == 2 else None
        self.act = nn.ReLU()

    def forward(self, x):
        y = self.reduce(x)
        n, c, h, w = y.shape
        y = y.reshape(n, self.g, c // self.g, h, w).transpose(1, 2).reshape(n, c, h, w)
        y = self.expand(self.dw(y))
        return self.act(torch.cat([self.pool(x), y], 1) if self.pool is not None else x + y)


def build_shuffle(p: dict) -> nn.Module:
    layers = [conv(3, p["stem_width"], 3, 2, act="relu")]
    if p["stem_pool"]:
        layers.append(nn.MaxPool2d(3, 2, 1))
    c = p["stem_width"]
    for w, n in zip(p["widths"], p["units"], strict=True):
        for j in range(n):
            layers.append(ShuffleUnit(c, w, p["groups"], 2 if j == 0 else 1))
            c = w
    return nn.Sequential(*layers, *_head(c, p["classes"]))


def build_se(p: dict) -> nn.Module:
    return build_residual(p) if p["base"] == "residual" else build_depthwise(p)


def he_init(module: nn.Module) -> None:
    """He-normal Conv/Linear weights and small biases, so activations keep their scale with depth."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.05, 0.05)


def calibrate_bn(module: nn.Module, example: torch.Tensor) -> None:
    """BN statistics measured on a random batch of 2 like ``example``, then jittered, so that
    folding BN into Conv gives realistic weights (not the identity of fresh statistics)."""
    bns = [m for m in module.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    if not bns:
        return
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batch
    try:
        with torch.no_grad():
            module.train()(torch.randn(2, *example.shape[1:]))
    finally:
        module.eval()
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.8, 1.25))
            bn.running_mean.add_(0.1 * bn.running_var.sqrt() * torch.randn_like(bn.running_mean))


BUILDERS = {"plain": build_plain, "residual": build_residual, "depthwise": build_depthwise,
            "multibranch": build_multibranch, "squeeze-excite": build_se, "dense": build_dense,
            "convnext": build_convnext, "unet": UNet, "shuffle": build_shuffle}


def image_network(module: nn.Module, p: dict, bn_scope: nn.Module | None = None) -> tuple[nn.Module, tuple, list[str]]:
    """(eval-mode module, example input [1, 3, R, R], input names) of a freshly built image network:
    He-initialised, its BatchNorm statistics calibrated on ``bn_scope`` (default: the whole module).
    The caller seeds torch; the draws (example, then weights, then BN batch) keep their order."""
    example = torch.randn(1, 3, p["resolution"], p["resolution"])
    he_init(module)
    calibrate_bn(module if bn_scope is None else bn_scope, example)
    return module.eval(), (example,), ["input"]


def make(family: str, p: dict) -> tuple[nn.Module, tuple, list[str]]:
    """(eval-mode module, example inputs, input names) of a CNN family; the caller seeds torch."""
    return image_network(BUILDERS[family](p), p)
