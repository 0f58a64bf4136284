"""Fidelity and accuracy metrics on model outputs (numpy only; Python 3.6 syntax).

All functions take arrays whose first axis is the sample axis: ``[n_samples, ...]``.
"""
import numpy as np


def _flat(a):
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)


def cosine_per_sample(ref, out):
    """Cosine similarity of each sample's flattened output with the reference: shape [n_samples].

    Two all-zero vectors count as identical (1.0); one zero vector against a non-zero one as 0.0.
    """
    r, o = _flat(ref), _flat(out)
    num = (r * o).sum(axis=1)
    den = np.linalg.norm(r, axis=1) * np.linalg.norm(o, axis=1)
    both_zero = (np.linalg.norm(r, axis=1) == 0) & (np.linalg.norm(o, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.where(both_zero, 1.0, cos)


def relative_error(ref, out):
    """Per-sample relative L2 error ||out - ref|| / ||ref||: shape [n_samples] (inf if ref is zero)."""
    r, o = _flat(ref), _flat(out)
    norm = np.linalg.norm(r, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, np.linalg.norm(o - r, axis=1) / np.where(norm > 0, norm, 1.0), np.inf)


def top1_agreement(ref, out):
    """Share of samples (0..1) whose arg-max over the last axis agrees, over all leading positions."""
    r, o = np.asarray(ref), np.asarray(out)
    return float(np.mean(np.argmax(r, axis=-1) == np.argmax(o, axis=-1)))


def topk_accuracy(logits, labels, k=1):
    """Share of samples (0..1) whose label is among the k largest logits; logits [n, classes]."""
    logits = np.asarray(logits).reshape(len(labels), -1)
    top = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean([labels[i] in top[i] for i in range(len(labels))]))


def fidelity(ref, out):
    """Summary dict of how closely ``out`` follows ``ref``: cosine mean/min, relative error, top-1."""
    cos = cosine_per_sample(ref, out)
    rel = relative_error(ref, out)
    result = {"cosine_mean": float(np.mean(cos)), "cosine_min": float(np.min(cos)),
              "rel_error_median": float(np.median(rel))}
    if np.asarray(ref).ndim >= 2 and np.asarray(ref).shape[-1] > 1:
        result["top1_agreement"] = top1_agreement(ref, out)
    return result
