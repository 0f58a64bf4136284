"""The host-cpu profile files the shipped host bundle is trained on, for the benchmark scripts that
re-fit or re-evaluate it (one list, so a new data file is added in one place)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST_FILES = ("generated", "trained", "aligned", "dense", "convnext", "vit", "unet", "autoencoder", "mixer", "shuffle",
              "tcn", "hybrid", "detector", "resmlp", "crnn", "wavenet", "dscnn")
HOST_DATA = [REPO / "datasets" / "host-cpu" / f"{name}.jsonl.gz" for name in HOST_FILES]
