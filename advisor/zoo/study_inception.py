"""Inception v1-v4 as TF-Slim defines them, written as tables of ops (torch imported at the top).

An op list describes a chain; channel counts are tracked while building:

* ``c(cout, k, s, p)``: conv + BN + ReLU (``p`` None = TF 'SAME' at stride 1, 0 = 'VALID');
* ``mp(k, s, p)`` / ``ap(k, s, p)``: max / average pool (average pools exclude padding, as TF does);
* ``mix(*branches)``: run each branch (an op list) on the same input, concatenate on channels.

Every network ends in global average pooling and a Linear layer to 1000 logits. The auxiliary
classifiers of v3 and v4 exist only to train; they are left out unless ``aux_head=True``, which adds
them as parameters that ``forward`` never runs (torchvision's convention for inception_v3).
"""
from __future__ import annotations

import torch
from torch import nn

from advisor.zoo.study_cnn import classifier, conv_bn, init_weights


def c(cout: int, k=1, s: int = 1, p=None) -> tuple:
    return ("conv", cout, k, s, p)


def mp(k: int = 3, s: int = 1, p: int = 1) -> tuple:
    return ("max", k, s, p)


def ap(k: int = 3, s: int = 1, p: int = 1) -> tuple:
    return ("avg", k, s, p)


def mix(*branches: list) -> tuple:
    return ("mix", branches)


class Mixed(nn.Module):
    """Parallel branches over one input, concatenated along channels."""

    def __init__(self, cin: int, branches):
        super().__init__()
        built = [chain(cin, ops) for ops in branches]
        self.branches = nn.ModuleList(m for m, _ in built)
        self.cout = sum(cout for _, cout in built)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


def chain(cin: int, ops) -> tuple[nn.Sequential, int]:
    """Build an op list on ``cin`` input channels; returns (module, output channels)."""
    layers = []
    for op in ops:
        if op[0] == "conv":
            layers.append(conv_bn(cin, op[1], op[2], op[3], op[4]))
            cin = op[1]
        elif op[0] == "max":
            layers.append(nn.MaxPool2d(op[1], op[2], op[3]))
        elif op[0] == "avg":
            layers.append(nn.AvgPool2d(op[1], op[2], op[3], count_include_pad=False))
        else:
            layers.append(Mixed(cin, op[1]))
            cin = layers[-1].cout
    return nn.Sequential(*layers), cin


class Inception(nn.Module):
    """[stem ->] features (an op list) -> global average pool -> Linear(…, 1000); optional unused aux head.

    ``stem`` is a module taking the image, with ``stem_cout`` output channels, run before ``ops``.
    """

    def __init__(self, ops, aux_cin: int | None = None, stem: nn.Module | None = None, stem_cout: int = 3):
        super().__init__()
        self.features, cout = chain(stem_cout, ops)
        if stem is not None:
            self.features = nn.Sequential(stem, *self.features)
        self.head = classifier(cout)
        if aux_cin is not None:  # TF-Slim AuxLogits: 5x5/3 avg pool, 1x1 128, 5x5 768 (VALID), logits
            self.aux = nn.Sequential(nn.AvgPool2d(5, 3), conv_bn(aux_cin, 128, 1), conv_bn(128, 768, 5, p=0),
                                     classifier(768))

    def forward(self, x):
        return self.head(self.features(x))


def _v1_mixed(b0, b1, b2, b3) -> tuple:
    """GoogLeNet module: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 (TF-Slim's, not the paper's 5x5) | pool -> 1x1."""
    return mix([c(b0)], [c(b1[0]), c(b1[1], 3)], [c(b2[0]), c(b2[1], 3)], [mp(), c(b3)])


def inception_v1() -> nn.Module:
    """TF-Slim inception_v1 (GoogLeNet with BN, no aux heads): (1, 3, 224, 224) -> (1, 1000). 6.62M params."""
    ops = [c(64, 7, 2, 3), mp(3, 2), c(64), c(192, 3), mp(3, 2),
           _v1_mixed(64, (96, 128), (16, 32), 32), _v1_mixed(128, (128, 192), (32, 96), 64), mp(3, 2),
           _v1_mixed(192, (96, 208), (16, 48), 64), _v1_mixed(160, (112, 224), (24, 64), 64),
           _v1_mixed(128, (128, 256), (24, 64), 64), _v1_mixed(112, (144, 288), (32, 64), 64),
           _v1_mixed(256, (160, 320), (32, 128), 128), mp(2, 2, 0),
           _v1_mixed(256, (160, 320), (32, 128), 128), _v1_mixed(384, (192, 384), (48, 128), 128)]
    return init_weights(Inception(ops))


def _v2_mixed(b0, b1, b2, b3, pool=ap) -> tuple:
    """BN-Inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1."""
    return mix([c(b0)], [c(b1[0]), c(b1[1], 3)], [c(b2[0]), c(b2[1], 3), c(b2[1], 3)], [pool(), c(b3)])


def _v2_reduce(b0, b1) -> tuple:
    """BN-Inception grid reduction (stride 2, 'SAME'): 1x1 -> 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max-pool/2."""
    return mix([c(b0[0]), c(b0[1], 3, 2, 1)], [c(b1[0]), c(b1[1], 3), c(b1[1], 3, 2, 1)], [mp(3, 2)])


class _SeparableStem(nn.Module):
    """TF-Slim inception_v2's first layer: 7x7/2 depthwise (multiplier 8, 3 -> 24), 1x1 to 64, BN, ReLU."""

    def __init__(self):
        super().__init__()
        self.depthwise = nn.Conv2d(3, 24, 7, 2, 3, groups=3, bias=False)
        self.pointwise = conv_bn(24, 64, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def inception_v2() -> nn.Module:
    """TF-Slim inception_v2 (BN-Inception): (1, 3, 224, 224) -> (1, 1000). 11.19M params."""
    ops = [mp(3, 2), c(64), c(192, 3), mp(3, 2),
           _v2_mixed(64, (64, 64), (64, 96), 32), _v2_mixed(64, (64, 96), (64, 96), 64),
           _v2_reduce((128, 160), (64, 96)),
           _v2_mixed(224, (64, 96), (96, 128), 128), _v2_mixed(192, (96, 128), (96, 128), 128),
           _v2_mixed(160, (128, 160), (128, 160), 96), _v2_mixed(96, (128, 192), (160, 192), 96),
           _v2_reduce((128, 192), (192, 256)),
           _v2_mixed(352, (192, 320), (160, 224), 128), _v2_mixed(352, (192, 320), (192, 224), 128, mp)]
    return init_weights(Inception(ops, stem=_SeparableStem(), stem_cout=64))


def _split3(width: int) -> tuple:
    """The 1x3 | 3x1 fork that ends the expanded-filter-bank branches of v3/v4."""
    return mix([c(width, (1, 3))], [c(width, (3, 1))])


def inception_v3(aux_head: bool = False) -> nn.Module:
    """TF-Slim inception_v3: (1, 3, 299, 299) -> (1, 1000). 23.83M params; 27.16M with the aux head."""
    def a(pool):  # 35x35 module
        return mix([c(64)], [c(48), c(64, 5)], [c(64), c(96, 3), c(96, 3)], [ap(), c(pool)])

    def b(w):  # 17x17 module with factorised 7x7s
        return mix([c(192)], [c(w), c(w, (1, 7)), c(192, (7, 1))],
                   [c(w), c(w, (7, 1)), c(w, (1, 7)), c(w, (7, 1)), c(192, (1, 7))], [ap(), c(192)])

    def e():  # 8x8 module
        return mix([c(320)], [c(384), _split3(384)], [c(448), c(384, 3), _split3(384)], [ap(), c(192)])

    ops = [c(32, 3, 2, 0), c(32, 3, 1, 0), c(64, 3), mp(3, 2, 0), c(80), c(192, 3, 1, 0), mp(3, 2, 0),
           a(32), a(64), a(64),
           mix([c(384, 3, 2, 0)], [c(64), c(96, 3), c(96, 3, 2, 0)], [mp(3, 2, 0)]),
           b(128), b(160), b(160), b(192),
           mix([c(192), c(320, 3, 2, 0)], [c(192), c(192, (1, 7)), c(192, (7, 1)), c(192, 3, 2, 0)],
               [mp(3, 2, 0)]),
           e(), e()]
    return init_weights(Inception(ops, aux_cin=768 if aux_head else None))


def inception_v4(aux_head: bool = False) -> nn.Module:
    """TF-Slim inception_v4: (1, 3, 299, 299) -> (1, 1000). 42.68M params; 46.0M with the aux head."""
    block_a = mix([c(96)], [c(64), c(96, 3)], [c(64), c(96, 3), c(96, 3)], [ap(), c(96)])
    block_b = mix([c(384)], [c(192), c(224, (1, 7)), c(256, (7, 1))],
                  [c(192), c(192, (7, 1)), c(224, (1, 7)), c(224, (7, 1)), c(256, (1, 7))], [ap(), c(128)])
    block_c = mix([c(256)], [c(384), _split3(256)], [c(384), c(448, (3, 1)), c(512, (1, 3)), _split3(256)],
                  [ap(), c(256)])
    stem = [c(32, 3, 2, 0), c(32, 3, 1, 0), c(64, 3),
            mix([mp(3, 2, 0)], [c(96, 3, 2, 0)]),
            mix([c(64), c(96, 3, 1, 0)], [c(64), c(64, (1, 7)), c(64, (7, 1)), c(96, 3, 1, 0)]),
            mix([c(192, 3, 2, 0)], [mp(3, 2, 0)])]
    reduce_a = mix([c(384, 3, 2, 0)], [c(192), c(224, 3), c(256, 3, 2, 0)], [mp(3, 2, 0)])
    reduce_b = mix([c(192), c(192, 3, 2, 0)], [c(256), c(256, (1, 7)), c(320, (7, 1)), c(320, 3, 2, 0)],
                   [mp(3, 2, 0)])
    ops = [*stem, *[block_a] * 4, reduce_a, *[block_b] * 7, reduce_b, *[block_c] * 3]
    return init_weights(Inception(ops, aux_cin=1024 if aux_head else None))
