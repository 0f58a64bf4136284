"""The 11 networks of Qin et al. 2018 ("To Compress, or Not to Compress", Table I), full size.

Each is written in torch after the TF-Slim / TF NMT model the study measured on a Jetson TX2, given
seeded random weights (enough for latency, energy and size; not for accuracy) and exported to ONNX
(opset 17, batch 1, BN folded into the convs). Importing this module does not import torch: the
architectures live in ``study_cnn``, ``study_inception`` and ``study_rnn``, imported by the builders.

Parameter counts (trainable parameters of the torch module, 1000 classes) against Table I:

=============  ==========  ========  =====================================================
network        ours (M)    Table I   note
=============  ==========  ========  =====================================================
inception_v1   6.62        7         TF-Slim's 3x3 (not 5x5) in the third branch
inception_v2   11.19       11.3
inception_v3   23.83       27.1      Table I counts the training-only aux head (27.16M)
inception_v4   42.68       25.6      Table I erratum, see TABLE1_ERRATA
resnet50       25.56       25.5
resnet101      44.55       51        Table I erratum
resnet152      60.19       76.5      Table I erratum
vgg16          138.36      138
vgg19          143.67      138
mobilenet_v1   4.23        4.2
nmt            210.77      211       vocabulary size chosen to match (see study_rnn)
=============  ==========  ========  =====================================================
"""
from __future__ import annotations

import functools
import importlib

import onnx

from advisor.errors import ModelError
from advisor.zoo.catalog import ZooEntry

STUDY_NAMES = ("inception_v1", "inception_v2", "inception_v3", "inception_v4", "resnet50", "resnet101",
               "resnet152", "vgg16", "vgg19", "mobilenet_v1", "nmt")

# name -> (family, Table I spelling, "module:factory", factory args, input side in pixels, description)
_SPECS = {
    "inception_v1": ("inception", "Inception_v1", "study_inception:inception_v1", (), 224,
                     "GoogLeNet as TF-Slim inception_v1 (BN, no aux heads)"),
    "inception_v2": ("inception", "Inception_v2", "study_inception:inception_v2", (), 224,
                     "BN-Inception as TF-Slim inception_v2 (separable 7x7 stem)"),
    "inception_v3": ("inception", "Inception_v3", "study_inception:inception_v3", (), 299,
                     "TF-Slim inception_v3, no aux head"),
    "inception_v4": ("inception", "Inception_v4", "study_inception:inception_v4", (), 299,
                     "TF-Slim inception_v4, no aux head"),
    "resnet50": ("resnet", "ResNet_50", "study_cnn:resnet", (50,), 224, "TF-Slim resnet_v1_50 (bottleneck, BN)"),
    "resnet101": ("resnet", "ResNet_101", "study_cnn:resnet", (101,), 224, "TF-Slim resnet_v1_101 (bottleneck, BN)"),
    "resnet152": ("resnet", "ResNet_152", "study_cnn:resnet", (152,), 224, "TF-Slim resnet_v1_152 (bottleneck, BN)"),
    "vgg16": ("vgg", "VGG_16", "study_cnn:vgg", (16,), 224, "VGG-16 with the 4096-4096-1000 classifier"),
    "vgg19": ("vgg", "VGG_19", "study_cnn:vgg", (19,), 224, "VGG-19 with the 4096-4096-1000 classifier"),
    "mobilenet_v1": ("mobilenet", "MobileNet_v1", "study_cnn:mobilenet_v1", (), 224,
                     "TF-Slim mobilenet_v1, width 1.0"),
    "nmt": ("rnn-seq2seq", "NMT", "study_rnn:gnmt", (), None,
            "TF NMT tutorial 4-layer LSTM encoder-decoder with GNMT attention, teacher-forced over 30 tokens"),
}

# Table I figures our faithful architectures cannot match, with the evidence. The study's own
# storage sizes (baselines.csv, float32, 4 bytes a parameter) agree with our counts, not Table I's.
TABLE1_ERRATA = {
    "inception_v3": "Table I's 27.1M includes the training-only auxiliary classifier (27.16M with it); the "
                    "inference network has 23.83M, and the study's 92 MB model is 23M float32 parameters.",
    "inception_v4": "Table I's 25.6M is no Inception-v4: TF-Slim's has 42.68M (46.0M with the aux head), and the "
                    "study's own 167 MB model is 41.8M float32 parameters.",
    "resnet101": "Table I's 51M is exactly 2 x ResNet_50's 25.5M; resnet_v1_101 has 44.55M, and the study's "
                 "174 MB model is 43.5M float32 parameters.",
    "resnet152": "Table I's 76.5M is exactly 3 x ResNet_50's 25.5M; resnet_v1_152 has 60.19M, and the study's "
                 "236 MB model is 59M float32 parameters.",
}


def study_entries() -> list[ZooEntry]:
    """The 11 study networks as ZooEntry (kind "study"); building one takes 2-50 s and up to ~5 GB RAM (NMT)."""
    return [_entry(name) for name in STUDY_NAMES]


def _entry(name: str) -> ZooEntry:
    family, paper_name, factory, args, side, description = _SPECS[name]
    if side is None:
        io = {"input": "source_ids 1x30 int64, target_ids 1x30 int64", "output": "logits 1x30x36500"}
    else:
        io = {"input": f"1x3x{side}x{side}", "output": "logits 1x1000"}
    params = {"paper_name": paper_name, **io, "architecture": description, "source": "qin2018 table1",
              "seed": 0}
    return ZooEntry(name=name, family=family, kind="study", description=description,
                    build=functools.partial(build_study, name), params=params)


def study_module(name: str, **options):
    """The torch module for ``name`` (weights from torch's global RNG). ``options`` go to the factory,
    e.g. ``aux_head=True`` for inception_v3/v4 or ``vocab=``/``units=`` for the NMT class."""
    if name not in _SPECS:
        raise ModelError(f"Unknown study network '{name}'. Known: {', '.join(STUDY_NAMES)}.")
    module_name, func = _SPECS[name][2].split(":")
    module = importlib.import_module(f"advisor.zoo.{module_name}")
    return getattr(module, func)(*_SPECS[name][3], **options)


def study_param_count(name: str, aux_head: bool = False) -> int:
    """Trainable parameters of the torch module, counted on the meta device (no memory, no export).

    ``aux_head=True`` adds the training-only auxiliary classifier of inception_v3/v4.
    """
    import torch

    options = {"aux_head": True} if aux_head else {}
    with torch.device("meta"):
        module = study_module(name, **options)
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build_study(name: str, seed: int = 0) -> tuple[onnx.ModelProto, None]:
    """Build network ``name`` with seeded random weights and export it: (ModelProto, None).

    CNN input ``input`` (1, 3, side, side) float32 -> ``logits`` (1, 1000); NMT inputs ``source_ids`` and
    ``target_ids`` (1, 30) int64 -> ``logits`` (1, 30, 36500).
    """
    import torch

    from advisor.zoo.export import export

    torch.manual_seed(seed)
    module = study_module(name)
    side = _SPECS[name][4]
    if side is None:
        from advisor.zoo.study_rnn import gnmt_example_inputs
        example, in_names = gnmt_example_inputs(), ["source_ids", "target_ids"]
    else:
        example, in_names = (torch.randn(1, 3, side, side),), ["input"]
    model = export(module, example, in_names, ["logits"])
    del module
    return model, None
