"""Unstructured magnitude pruning: the smallest-magnitude weights of each layer set to zero.

Written by hand (a few lines of numpy): the ONNX tools have no pruning pass, and torch's
``torch.nn.utils.prune`` needs the torch module, which an ONNX file no longer has.
"""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from advisor.compression.base import CompressionResult, Setting
from advisor.compression.graph_utils import MIN_WEIGHT_ELEMENTS, copy_model, find_weights, share
from advisor.compression.sizes import compressed_size_bytes, size_bytes


def prune_smallest(w: np.ndarray, sparsity: float) -> np.ndarray:
    """A copy of ``w`` with its round(sparsity * size) smallest-magnitude entries set to 0."""
    flat = w.astype(np.float32, copy=True).ravel()
    k = int(round(sparsity * flat.size))
    if k > 0:
        flat[np.argpartition(np.abs(flat), k - 1)[:k]] = 0.0
    return flat.reshape(w.shape)


class MagnitudePruning(Setting):
    """Per-layer unstructured magnitude pruning, no fine-tuning, zeros written into dense tensors.

    Pruned: float32 weights of >= 1024 elements read by Conv/ConvTranspose/Gemm/MatMul and the W/R
    matrices of LSTM/GRU/RNN. Not pruned: biases, norm parameters, small kernels, and embedding
    tables (a Gather row is one token's whole vector, so magnitude pruning erases tokens).

    Zeros change neither the raw file size nor dense-runtime latency; they shrink storage under
    compression (notes: ``size_bytes``, ``compressed_size_bytes``, ``achieved_sparsity``).

    Fidelity (mean output cosine vs dense, tiny zoo, 4 seeded synthetic samples, random weights, no
    fine-tuning): sparse50 worst 0.873 (mlp; others >= 0.978); sparse75 worst 0.708 (mlp; others
    >= 0.956); sparse90 worst 0.481 (mlp; residual_cnn 0.874, depthwise_cnn 0.911). Floors set to
    0.85 / 0.68 / 0.45: honest, not flattering; fine-tuning recovers much of this on real models.
    """

    family = "pruning"
    touches = ("Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN")
    _FLOORS = {0.5: 0.85, 0.75: 0.68, 0.9: 0.45}

    def __init__(self, name: str, sparsity: float):
        if not 0.0 < sparsity < 1.0:
            raise ValueError(f"sparsity must be between 0 and 1 (exclusive), got {sparsity}")
        self.name = name
        self.sparsity = sparsity
        self.min_cosine = self._FLOORS.get(sparsity, 0.0)
        self.description = f"Unstructured magnitude pruning to {sparsity:.0%} zeros per layer (no fine-tuning)."

    @property
    def params(self) -> dict:
        return {"sparsity": self.sparsity}

    def check(self, lm) -> str | None:
        if not find_weights(lm.model, op_types=self.touches):
            return f"no float32 Conv/Gemm/MatMul/recurrent weight with >= {MIN_WEIGHT_ELEMENTS} elements to prune"
        return None

    def _apply(self, lm, data) -> CompressionResult:
        model = copy_model(lm.model)
        inits = {t.name: t for t in model.graph.initializer}
        weights = find_weights(model, op_types=self.touches)
        zeros = 0
        by_op: dict = {}
        for w in weights:
            pruned = prune_smallest(numpy_helper.to_array(inits[w.name]), self.sparsity)
            zeros += int(np.count_nonzero(pruned == 0))
            inits[w.name].CopyFrom(numpy_helper.from_array(pruned, w.name))
            for op in w.op_types:
                by_op[op] = by_op.get(op, 0) + 1
        pruned_elements = sum(w.n_elements for w in weights)
        total = sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == 1)
        notes = {"target_sparsity": self.sparsity, "achieved_sparsity": share(zeros, pruned_elements),
                 "weights_pruned": len(weights), "weights_by_op": by_op,
                 "pruned_elements_share": share(pruned_elements, total),
                 "size_bytes": size_bytes(model), "compressed_size_bytes": compressed_size_bytes(model)}
        return CompressionResult(setting=self.name, model=model, notes=notes)
