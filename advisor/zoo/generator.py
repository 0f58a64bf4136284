"""Generated networks: 851 seeded architectures, 37 in each of twenty-three families, for training
predictors that must generalise to unseen architecture families.

Every entry's hyper-parameters are drawn from a random stream seeded by (family, index, seed)
when the catalogue is listed (pure Python, no torch); building exports the network with seeded
weights through the legacy ONNX exporter. A per-family compute budget keeps each network's fp32
latency roughly in 0.03-15 ms on one CPU core (median ~1 ms; benchmarks/zoo_generator_stats.py
measures it): a target MAC count is drawn log-uniformly, and an architecture whose estimate misses
it by more than 2x is redrawn at a corrected width. Weights are byte-identical across builds for a
given torch version (the exporter's output may change with torch).
"""
from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from advisor.zoo import generator_space as seq
from advisor.zoo import generator_space_audio as audio
from advisor.zoo import generator_space_cnn as cnn
from advisor.zoo import generator_space_detector as det
from advisor.zoo import generator_space_hybrid as hyb
from advisor.zoo import generator_space_tcn as tcn
from advisor.zoo.catalog import ZooEntry
from advisor.zoo.generator_space import Draw

PER_FAMILY = 37
MAX_PARAMS = 10_000_000
MAX_MACS = 300_000_000
_TOLERANCE = 2.0  # an estimate within target/2..2*target is accepted as drawn
_MAX_TRIES = 200
CNN_FAMILIES = ("plain", "residual", "depthwise", "multibranch", "squeeze-excite", "dense", "convnext", "unet", "shuffle")


@dataclass(frozen=True)
class Family:
    """One architecture family: its search space, estimator, description and MAC budget."""

    sample: Callable[[Draw, float], dict]
    estimate: Callable[[dict], tuple[int, int]]
    describe: Callable[[dict], str]
    macs_range: tuple[float, float]  # target MACs drawn log-uniformly in [lo, hi]


FAMILIES: dict[str, Family] = {
    "plain": Family(cnn.sample_plain, cnn.estimate_plain, cnn.describe_plain, (10e6, 130e6)),
    "residual": Family(cnn.sample_residual, cnn.estimate_residual, cnn.describe_residual, (10e6, 130e6)),
    "depthwise": Family(cnn.sample_depthwise, cnn.estimate_depthwise, cnn.describe_depthwise, (8e6, 150e6)),
    "multibranch": Family(cnn.sample_multibranch, cnn.estimate_multibranch, cnn.describe_multibranch,
                          (8e6, 130e6)),
    "squeeze-excite": Family(cnn.sample_se, cnn.estimate_se, cnn.describe_se, (6e6, 110e6)),
    "dense": Family(cnn.sample_dense, cnn.estimate_dense, cnn.describe_dense, (6e6, 120e6)),
    "convnext": Family(cnn.sample_convnext, cnn.estimate_convnext, cnn.describe_convnext, (6e6, 120e6)),
    "unet": Family(cnn.sample_unet, cnn.estimate_unet, cnn.describe_unet, (10e6, 200e6)),
    "shuffle": Family(cnn.sample_shuffle, cnn.estimate_shuffle, cnn.describe_shuffle, (4e6, 100e6)),
    "mlp": Family(seq.sample_mlp, seq.estimate_mlp, seq.describe_mlp, (0.4e6, 5e6)),
    "gru": Family(seq.sample_rnn, seq.estimate_gru, lambda p: seq.describe_rnn(p, "gru"), (3e6, 100e6)),
    "lstm": Family(seq.sample_rnn, seq.estimate_lstm, lambda p: seq.describe_rnn(p, "lstm"), (3e6, 130e6)),
    "transformer": Family(seq.sample_transformer, seq.estimate_transformer, seq.describe_transformer,
                          (5e6, 250e6)),
    "vit": Family(seq.sample_vit, seq.estimate_vit, seq.describe_vit, (5e6, 150e6)),
    "mixer": Family(seq.sample_mixer, seq.estimate_mixer, seq.describe_mixer, (4e6, 150e6)),
    "autoencoder": Family(seq.sample_autoencoder, seq.estimate_autoencoder, seq.describe_autoencoder, (0.1e6, 4e6)),
    "tcn": Family(tcn.sample_tcn, tcn.estimate_tcn, tcn.describe_tcn, (1e6, 60e6)),
    "hybrid": Family(hyb.sample_hybrid, hyb.estimate_hybrid, hyb.describe_hybrid, (5e6, 120e6)),
    "detector": Family(det.sample_detector, det.estimate_detector, det.describe_detector, (8e6, 150e6)),
    "resmlp": Family(seq.sample_resmlp, seq.estimate_resmlp, seq.describe_resmlp, (0.2e6, 6e6)),
    "crnn": Family(audio.sample_crnn, audio.estimate_crnn, audio.describe_crnn, (1e6, 40e6)),
    "wavenet": Family(audio.sample_wavenet, audio.estimate_wavenet, audio.describe_wavenet, (1e6, 60e6)),
    "dscnn": Family(audio.sample_dscnn, audio.estimate_dscnn, audio.describe_dscnn, (2e6, 60e6)),
}


def generated_entries(seed: int = 0) -> list[ZooEntry]:
    """``PER_FAMILY`` entries per family, named ``gen-<family>-<index:03d>`` (kind "generated").

    Deterministic: the same (family, index, seed) always gives the same parameters and weights.
    """
    entries = []
    for family in FAMILIES:
        for index in range(PER_FAMILY):
            params = sample_params(family, index, seed)
            desc = f"{FAMILIES[family].describe(params)}, ~{params['est_macs'] / 1e6:.1f} M MACs"
            entries.append(ZooEntry(name=f"gen-{family}-{index:03d}", family=family, kind="generated",
                                    description=desc, build=functools.partial(build_network, family, params),
                                    params=params))
    return entries


def entry_seed(family: str, index: int, seed: int = 0) -> int:
    """A 31-bit seed from (family, index, seed), stable across Python versions and machines."""
    digest = hashlib.sha256(f"{family}/{index}/{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def sample_params(family: str, index: int, seed: int = 0) -> dict:
    """The hyper-parameters of one entry, plus ``seed``, ``est_macs``, ``est_params``, ``output_shape``."""
    spec = FAMILIES[family]
    s = entry_seed(family, index, seed)
    d = Draw(s)
    target = d.log_uniform(*spec.macs_range)
    for _ in range(_MAX_TRIES):
        p, macs, n_params = _fit(spec, d, target)
        if target / _TOLERANCE <= macs <= target * _TOLERANCE and macs <= MAX_MACS and n_params <= MAX_PARAMS:
            return {**p, "seed": s, "target_macs": int(target), "est_macs": macs, "est_params": n_params,
                    "output_shape": output_shape(family, p)}
    raise RuntimeError(f"no {family} architecture near {target:.3g} MACs after {_MAX_TRIES} draws (seed {s})")


def _fit(spec: Family, d: Draw, target: float) -> tuple[dict, int, int]:
    """Draw one architecture; if its MACs miss ``target`` by more than _TOLERANCE, redraw the same
    architecture (same random numbers) at a corrected width, twice at most."""
    state = d.state()
    p = spec.sample(d, 1.0)
    macs, n_params = spec.estimate(p)
    wm = 1.0
    for _ in range(2):
        if target / _TOLERANCE <= macs <= target * _TOLERANCE:
            break
        wm *= math.sqrt(target / max(macs, 1))
        d.restore(state)
        p = spec.sample(d, wm)
        macs, n_params = spec.estimate(p)
    return p, macs, n_params


def output_shape(family: str, p: dict) -> list[int]:
    """Shape of the network's one output, ``output``."""
    per_step = (family in ("gru", "lstm") and p["head"] == "tagger"
                or family == "transformer" and p["head"] == "tokens")
    if family == "unet":
        return [1, p["classes"], p["resolution"], p["resolution"]]
    if family == "autoencoder":
        return [1, p["in_features"]]
    if family == "detector":
        return [1, det.boxes(p), 5 + p["classes"]]
    return [1, p["seq_len"], p["classes"]] if per_step else [1, p["classes"]]


def build_network(family: str, params: dict) -> tuple:
    """(ModelProto, None): the network of ``params`` exported with seeded weights (imports torch)."""
    import torch

    from advisor.zoo.export import export

    if family in CNN_FAMILIES:
        from advisor.zoo.generator_blocks_cnn import make
    elif family == "tcn":
        from advisor.zoo.generator_blocks_tcn import make
    elif family == "hybrid":
        from advisor.zoo.generator_blocks_hybrid import make
    elif family == "detector":
        from advisor.zoo.generator_blocks_detector import make
    elif family in ("crnn", "wavenet", "dscnn"):
        from advisor.zoo.generator_blocks_audio import make
    else:
        from advisor.zoo.generator_blocks_seq import make
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # results independent of the core count; faster for nets this small
    try:
        torch.manual_seed(params["seed"])
        module, example, input_names = make(family, params)
        return export(module, example, input_names, ["output"]), None
    finally:
        torch.set_num_threads(threads)
