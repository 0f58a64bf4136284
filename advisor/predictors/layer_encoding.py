"""Layer rows as the layer-time model reads them: the fields of a row (``LAYER_FIELDS``), their
encoding into input columns, and ``LayerIndex``, the distinct rows of a training frame's layer tables
encoded once for every fold (``advisor.predictors.kernels``).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from advisor.predictors.structure import conv_kind

if TYPE_CHECKING:
    from advisor.predictors.kernels import KernelModel

LAYER_FIELDS = ("kind", "op", "verdict", "category", "ok8", "ok16", "macs", "c_out", "c_in", "positions", "window")
CATEGORICAL = LAYER_FIELDS[:4]  # one-hot encoded; the rest are numbers
NUMERIC = ("ok8", "ok16")
LOGS = ("macs", "c_out", "c_in", "positions", "window")
POW2_CAP = 6  # channel counts divisible by 2, 4, ..., 64
_C_OUT = LAYER_FIELDS.index("c_out")


def pow2(values) -> np.ndarray:
    """How many times 2 divides each (rounded, >= 1) value, at most ``POW2_CAP``: vector kernels take
    channels in blocks of 4/8/16, and a count off those blocks falls to a slower path. Measured on the
    host (``benchmarks/layer_times.py``): depthwise convolutions whose channels are not a multiple of 8
    take a median 0.073 ns per MAC when they are a multiple of 4 (646 layers; 0.067 for multiples of 8),
    0.55 when odd or twice odd (605 layers)."""
    c = np.maximum(np.round(np.asarray(values, float)).astype(np.int64), 1)
    out = np.zeros(len(c))
    for k in range(1, POW2_CAP + 1):
        out += c % (1 << k) == 0
    return out


def normalise_row(r) -> tuple:
    """A layer row with its categorical fields as str and the rest as float (ValueError if not one)."""
    if not isinstance(r, (list, tuple)) or len(r) != len(LAYER_FIELDS):
        raise ValueError("not a layer row")
    c = len(CATEGORICAL)
    return tuple(str(v) for v in r[:c]) + tuple(float(v) for v in r[c:])


# How a layer-time model reads layer rows (``plain_kernel_row``; bundles record the level they were
# fitted at): 0 as stored; 1 a convolution de-quantizing its weights as the unaligned convolution it
# runs as; 2 also every depthwise convolution that runs the plain per-group kernel as one kind.
PLAIN_ROWS = 2
PLAIN_DEPTHWISE = "mac_dw_plain"


def plain_kernel_row(row: tuple, level: int = PLAIN_ROWS) -> tuple:
    """A normalised layer row as the layer-time model reads it (``level``: see ``PLAIN_ROWS``).

    Level 1: a float convolution whose weights are de-quantized on every run (kind ``mac_conv_dqw``,
    category ``conv``) runs onnxruntime's plain convolution kernel, as an unaligned one does (its
    blocked NCHWc kernels take constant weights only), so it is read as that unaligned convolution
    (``structure.conv_kind``, no alignment). Measured on the host: 0.062 / 0.033 / 0.029 ns per MAC for
    such convolutions of 1e5-1e6 / 1e6-1e7 / over 1e7 MACs, 0.062 / 0.036 / 0.030 for unaligned ones.
    Apart, the model priced the de-quantized 1-D convolutions of the TCNs, held out, 10% above their
    float ones (they run the same kernel); read alike, the ratio went from 76.0% to 76.8% within +-10%
    (18 families held out).

    Level 2: a depthwise convolution runs onnxruntime's fast depthwise kernel only when it is 2-D, its
    channels a multiple of 4 and its weights constant; otherwise the plain per-group kernel, at the
    same cost whatever made it fall there. Measured on the host (one Conv + Relu, 3x3 at 28x28,
    stride 1 and 2, 12-136 channels; 1-D with windows 3 and 9; float vs de-quantized weights): a 2-D
    float one with channels a multiple of 4 takes 0.21-0.53 of the de-quantized one's time; with 82 or
    130 channels, 0.99-1.00; a 1-D one, 0.91-0.99 at every width. So every depthwise row that runs the
    plain kernel is read as one kind, ``PLAIN_DEPTHWISE``, without alignment flags: a de-quantized one
    (``mac_conv_dqw``), and a float one stored as unaligned (``mac_dw_u``: since structure version 8
    the replay stores exactly the 2-D ones with channels a multiple of 4 as aligned, ``structure.
    _blocked_grouped``, so every unaligned one is plain, 1-D ones included; before it, channels 4 mod 8
    were stored unaligned too, and read as the fast kernel). Before, the model priced the TCNs' 1-D
    depthwise layers at 0.09 ns per MAC in float (learned from 2-D ones with the same channels) and 0.7
    in int8 (learned from 2-D de-quantized ones) where both measure 0.3-0.35. Families held
    out, seeds 0-4: ratio within +-10% 75.5-76.8% -> 77.5-77.9%, Spearman 0.899-0.907 -> 0.908-0.917.
    Grouped convolutions stay as stored (since structure version 8 stored by onnxruntime's rule for
    them, ``structure._blocked_grouped``, and in the ordinary convolution kinds): a 2-D float one takes
    the blocked kernel only with 16, 32 or 48 input channels a group (float / de-quantized time 0.56-0.74; 0.99-1.00 with 2-24, and 1-D ones
    0.94-0.97), but read alike by that rule, the one family that has them (ShuffleNets) held out left
    nothing to price them from, and the ratio fell to 76.9% (seeds 0-2, against 77.6%)."""
    if level >= 1 and row[0] == "mac_conv_dqw" and row[3] == "conv":
        return (conv_kind(0.0, 0.0, row[_C_OUT]), *row[1:4], 0.0, 0.0, *row[6:])
    if level >= 2 and row[3] == "conv_depthwise" and (
            row[0] in ("mac_conv_dqw", "mac_dw_u")):
        return (PLAIN_DEPTHWISE, *row[1:4], 0.0, 0.0, *row[6:])
    return row


def fields(rows: list) -> dict:
    """Normalised layer rows as one tuple of values per ``LAYER_FIELDS`` name."""
    return dict(zip(LAYER_FIELDS, list(zip(*rows, strict=True)) if rows else [()] * len(LAYER_FIELDS), strict=True))


def encode(name: str, by: dict) -> np.ndarray:
    """One input column of ``KernelModel`` (named as in ``column_names``) from the rows' fields ``by``:
    numbers as logs, channel counts also as their power-of-two divisibility, categories one-hot."""
    if name.startswith("l_log_"):
        f = name[len("l_log_"):]
        if f == "macs_per_position":
            return encode("l_log_macs", by) - encode("l_log_positions", by)
        return np.log(np.maximum(np.asarray(by[f], float), 1.0))
    if name.startswith("l_pow2_"):
        return pow2(by[name[len("l_pow2_"):]])
    field, eq, value = name[2:].partition("=")
    if eq:
        return (np.asarray(by[field], object) == value).astype(float)
    return np.asarray(by[field], float)


def column_names(vocab: dict) -> list[str]:
    """The input columns of the layer-time model for categorical vocabularies ``vocab`` (field -> values)."""
    return ([f"l_log_{f}" for f in LOGS] + ["l_log_macs_per_position"] + [f"l_pow2_{f}" for f in ("c_out", "c_in")]
            + [f"l_{f}" for f in NUMERIC] + [f"l_{f}={v}" for f in CATEGORICAL for v in vocab[f]])


class LayerIndex:
    """The distinct layer rows of many layer tables (a training frame's ``k_layers0`` / ``k_layers1``),
    each table as indices into them, and their encoded columns: built once per training run, so that
    the layer-time model of each fold prices every distinct row once and sums the tables by index,
    instead of hashing every nested row and encoding the rows again in every fold and call.

    Tables are recognised by identity (the frame's own objects, kept referenced here); ``slots`` is
    None for a list holding any other table, and ``KernelModel.totals`` then prices it the plain way.
    ``plain_rows``: the level rows are read through ``plain_kernel_row`` at (``PLAIN_ROWS``; 0 as stored,
    for models fitted before it)."""

    def __init__(self, tables, plain_rows: int = PLAIN_ROWS):
        self.plain_rows = int(plain_rows)
        content: dict = {}
        rows: dict = {}
        owner, where = [], []
        self._slot_of = {}
        self._tables = []  # keeps every indexed table alive, so its id stays its own
        for t in tables:
            if t is None or id(t) in self._slot_of:
                continue
            key = t if isinstance(t, tuple) else tuple(normalise_row(r) for r in t)
            slot = content.get(key)
            if slot is None:
                slot = content[key] = len(content)
                owner += [slot] * len(key)
                where += [rows.setdefault(plain_kernel_row(r, self.plain_rows), len(rows)) for r in key]
            self._slot_of[id(t)] = slot
            self._tables.append(t)
        self.rows = list(rows)
        self.n_tables = len(content)
        self._owner, self._where = np.array(owner, int), np.array(where, int)
        # a slot's rows are contiguous in ``_where``: from _start[slot] to _start[slot + 1]
        self._start = np.searchsorted(self._owner, np.arange(self.n_tables + 1))
        self._columns: dict = {}
        self._sums: dict = {}
        self._lock = threading.Lock()

    def slots(self, tables) -> np.ndarray | None:
        """Each table's slot (-1 for None), or None if any table is not one of the indexed objects."""
        out = np.empty(len(tables), int)
        for i, t in enumerate(tables):
            if t is None:
                out[i] = -1
                continue
            slot = self._slot_of.get(id(t))
            if slot is None:
                return None
            out[i] = slot
        return out

    def row_ids(self, slots) -> np.ndarray:
        """The row ids of the tables in ``slots`` (each >= 0), concatenated in order."""
        parts = [self._where[self._start[s]:self._start[s + 1]] for s in slots]
        return np.concatenate(parts) if parts else np.zeros(0, int)

    def _fields(self) -> dict:
        with self._lock:
            if "fields" not in self._columns:
                self._columns["fields"] = fields(self.rows)
            return self._columns["fields"]

    def column_values(self, field: str) -> tuple:
        """One ``LAYER_FIELDS`` field of all rows, as stored."""
        return self._fields()[field]

    def column(self, name: str) -> np.ndarray:
        """One encoded input column (``KernelModel``) of all rows, computed once."""
        by = self._fields()
        with self._lock:
            if name not in self._columns:
                self._columns[name] = encode(name, by)
            return self._columns[name]

    def sums(self, model: KernelModel, native: bool) -> np.ndarray:
        """Predicted time (us) of every indexed table by ``model``, computed once per model."""
        with self._lock:
            hit = self._sums.get(id(model))
        if hit is not None and hit[0] is model:
            return hit[1]
        per_row = model.row_times(self, native) if self.rows else np.zeros(0)
        out = np.bincount(self._owner, weights=per_row[self._where], minlength=self.n_tables)
        with self._lock:
            self._sums[id(model)] = (model, out)
        return out
