"""Networks trained at build time on data that ships offline, so compression's accuracy cost is measured.

``digits-*``: scikit-learn's ``load_digits`` (1797 grayscale 8x8 images, 10 classes, no download).
Split: ``train_test_split(test_size=360, random_state=0, stratify=y)``; each entry's data is the
held-out 360 with int64 ``labels``. Pixels (0..16) are scaled to [0, 1], then standardised with the
training split's mean and std. The CNNs see the image bilinearly upsampled to 16x16 (input
[1, 1, 16, 16]) so that 3x3 convs, two stride-2 stages and squeeze-excite pooling still have spatial
extent to act on (at 8x8 they would end at 2x2); the MLP sees the 64 raw pixels ([1, 64]); the GRU and
LSTM read the 8x8 image row by row, top to bottom, as 8 steps of 8 pixels ([1, 8, 8]). The number in
a name is the width: a CNN's base channel count (its stages use w, 2w, 4w), the MLP's or RNN's hidden units.
Every digits model outputs ``logits`` [1, 10]; its metadata ``advisor.trained.test_top1`` is the torch top-1.

Training: Adam (one-cycle LR, peak 1e-2), fixed seeds, 1 thread, deterministic algorithms, batch 32;
each model trains in seconds and the same code gives the same weights on a given machine and torch.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from advisor.zoo.catalog import ZooEntry

# Family labels shared with the generated zoo, so a predictor can relate trained and generated nets.
DIGITS_FAMILIES = ("plain", "residual", "depthwise", "multibranch", "squeeze-excite", "mlp", "gru", "lstm")
_TEST_SAMPLES = 360
_IMAGE_SIZE = 16  # CNN input side in pixels, after upsampling the 8x8 digits
# One intra-op thread: these nets are too small to gain from more, and on a loaded machine 2 threads
# trained ~10x slower than 1 (spin-waiting workers); a fixed count also fixes the summation order.
_THREADS = 1


def trained_entries() -> list[ZooEntry]:
    """Every trained entry: digits CNNs/MLP/GRU/LSTM, then the pretrained MiniLM sentence encoder."""
    from advisor.zoo.trained_nlp import minilm_entry

    entries = []
    for family, widths, epochs in (("plain", (8, 16), 8), ("residual", (8, 16), 8), ("depthwise", (16, 32), 8),
                                   ("multibranch", (8, 16), 8), ("squeeze-excite", (8, 16), 10),
                                   ("mlp", (64, 256), 20), ("gru", (32, 64), 20), ("lstm", (32, 64), 20)):
        for width in widths:
            name = f"digits-{'se' if family == 'squeeze-excite' else family}-{width}"
            params = {"dataset": "digits", "width": width, "epochs": epochs, "input_layout": _LAYOUT[family],
                      "test_samples": _TEST_SAMPLES, "seed": 0}
            entries.append(ZooEntry(
                name=name, family=family, kind="trained",
                description=f"{family} network (width {width}) trained on sklearn digits; data: held-out "
                            f"{_TEST_SAMPLES} with labels",
                build=functools.partial(build_digits, family, width, epochs), params=params))
    entries.append(minilm_entry())
    return entries


_LAYOUT = {"mlp": "flat64", "gru": "rows8x8", "lstm": "rows8x8"}
_LAYOUT.update({f: "image16" for f in DIGITS_FAMILIES if f not in _LAYOUT})


def digits_split(layout: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): float32 inputs in ``layout`` ("image16" [n, 1, 16, 16],
    "flat64" [n, 64], "rows8x8" [n, 8, 8]), standardised with train statistics; int64 labels."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(images, digits.target.astype(np.int64), test_size=_TEST_SAMPLES,
                                              random_state=0, stratify=digits.target)
    if layout == "image16":
        def up(x):
            t = torch.from_numpy(x[:, None])
            return torch.nn.functional.interpolate(t, size=(_IMAGE_SIZE, _IMAGE_SIZE), mode="bilinear",
                                                   align_corners=False).numpy()
        x_tr, x_te = up(x_tr), up(x_te)
    elif layout == "flat64":
        x_tr, x_te = x_tr.reshape(len(x_tr), 64), x_te.reshape(len(x_te), 64)
    elif layout != "rows8x8":
        raise ValueError(f"Unknown digits layout '{layout}'. Known: image16, flat64, rows8x8.")
    mean, std = float(x_tr.mean()), float(x_tr.std())
    return ((x_tr - mean) / std).astype(np.float32), y_tr, ((x_te - mean) / std).astype(np.float32), y_te


@contextlib.contextmanager
def seeded_torch(seed: int):
    """Seed torch, use one thread and deterministic kernels inside; restore global torch state after."""
    import torch

    threads = torch.get_num_threads()
    det, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(_THREADS)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(det, warn_only=warn)


def train_classifier(module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 1e-2, seed: int = 0,
                     batch: int = 32):
    """Train ``module`` (logits [n, classes]) with Adam + cosine LR on (x, y); returns it in eval mode.

    Call inside ``seeded_torch``: shuffling uses its own generator seeded with ``seed``.
    """
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * -(-len(x) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = torch.nn.CrossEntropyLoss()
    module.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            opt.zero_grad()
            loss_fn(module(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
    return module.eval()


def top1(module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy (0..1) of an eval-mode torch classifier on (x, y)."""
    import torch

    with torch.no_grad():
        return float((module(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def build_digits(family: str, width: int, epochs: int, seed: int = 0):
    """Train the ``family`` digits net of base ``width`` and export it: (ModelProto, held-out data).

    The model's metadata records the torch test top-1 (``advisor.trained.test_top1``, 0..1).
    """
    import torch

    from advisor.zoo.export import export

    layout = _LAYOUT[family]
    x_tr, y_tr, x_te, y_te = digits_split(layout)
    with seeded_torch(seed):
        module = _NETS[family](width)
        train_classifier(module, x_tr, y_tr, epochs, seed=seed)
        acc = top1(module, x_te, y_te)
        model = export(module, (torch.from_numpy(x_te[:1]),), ["input"], ["logits"])
    model.metadata_props.add(key="advisor.trained.test_top1", value=f"{acc:.4f}")
    model.metadata_props.add(key="advisor.trained.dataset", value=f"sklearn-digits/{layout}")
    return model, {"input": x_te, "labels": y_te}


def _plain(w: int):
    from torch import nn
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
        nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * w * 16, 64), nn.ReLU(), nn.Linear(64, 10))


def _residual(w: int):
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(x + self.body(x))

    return nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), Block(w),
                         nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
                         Block(2 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, 10))


def _depthwise(w: int):
    from torch import nn

    def dws(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin), nn.BatchNorm2d(cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU6()]

    return nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU6(),
                         *dws(w, 2 * w, 2), *dws(2 * w, 2 * w, 1), *dws(2 * w, 4 * w, 2), *dws(4 * w, 4 * w, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))


def _multibranch(w: int):
    import torch
    from torch import nn

    def conv(cin, cout, k):
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout))

    class Inception(nn.Module):
        """Four parallel branches (1x1, 1x1-3x3, 1x1-5x5, maxpool-1x1) concatenated to 4*w channels."""

        def __init__(self, cin):
            super().__init__()
            self.b1 = conv(cin, w, 1)
            self.b3 = nn.Sequential(conv(cin, w, 1), nn.ReLU(), conv(w, w, 3))
            self.b5 = nn.Sequential(conv(cin, w // 2, 1), nn.ReLU(), conv(w // 2, w, 5))
            self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(cin, w, 1))

        def forward(self, x):
            return torch.relu(torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1))

    return nn.Sequential(conv(1, 2 * w, 3), nn.ReLU(), nn.MaxPool2d(2), Inception(2 * w), nn.MaxPool2d(2),
                         Inception(4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))


def _squeeze_excite(w: int):
    from torch import nn

    class SE(nn.Module):
        def __init__(self, c, r=4):
            super().__init__()
            self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // r, 1), nn.ReLU(),
                                      nn.Conv2d(c // r, c, 1), nn.Sigmoid())

        def forward(self, x):
            return x * self.gate(x)

    def stage(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), SE(cout)]

    return nn.Sequential(*stage(1, 2 * w, 1), *stage(2 * w, 4 * w, 2), *stage(4 * w, 4 * w, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))


def _mlp(w: int):
    from torch import nn
    return nn.Sequential(nn.Linear(64, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(), nn.Linear(w, 10))


def _recurrent(cell: str, w: int):
    from torch import nn

    class RowReader(nn.Module):
        """Reads [n, 8 rows, 8 pixels] with a 1-layer GRU/LSTM of ``w`` units; classifies the last state."""

        def __init__(self):
            super().__init__()
            self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(8, w, batch_first=True)
            self.head = nn.Linear(w, 10)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    return RowReader()


_NETS = {"plain": _plain, "residual": _residual, "depthwise": _depthwise, "multibranch": _multibranch,
         "squeeze-excite": _squeeze_excite, "mlp": _mlp,
         "gru": functools.partial(_recurrent, "gru"), "lstm": functools.partial(_recurrent, "lstm")}
