"""Rebuild the shipped example model: `python examples/build_example.py` -> examples/resnet8.onnx.

ResNet-8 (CIFAR-style: 3 stages of one basic block, 16/32/64 channels, 32x32 RGB input, 10 classes),
seeded random weights. Deterministic: rerunning writes the same graph.
"""
from pathlib import Path

import torch
from torch import nn

from advisor.modelio import save_model
from advisor.zoo.export import export


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(y)) + self.short(x))


def resnet8() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


if __name__ == "__main__":
    torch.manual_seed(0)
    model = export(resnet8(), (torch.randn(1, 3, 32, 32),), ["input"], ["logits"])
    out = Path(__file__).with_name("resnet8.onnx")
    save_model(model, out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
