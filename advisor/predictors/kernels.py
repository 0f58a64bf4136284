"""Layer-level latency: what each multiply-accumulate layer of a graph costs on the device, learned from
per-node profiles (nn-Meter's idea: a network's latency is the sum of its kernels' latencies, and a
kernel of a given kind and shape costs about the same whatever network it sits in).

Aggregate graph quantities (``structure``) say *how many* MACs a setting moves between kernel kinds;
they cannot say that a 3-channel first convolution at 128x128 costs far more per MAC than a 64-channel
one at 16x16, or that halving the channels of one layer saves more than of another. A per-layer
regressor, trained on layers of the training families measured by the runtime's own node profiler,
can. Its predicted MAC time of a variant over the original's (``x_log_kern``) is a tree input; the two
times plus the work outside the MAC layers, priced by ``cost_priors.KernelCostPrior``, make most of the
ratio model's prior (``models.KERN_WEIGHT``; the op-level cost model has the rest).
Its predicted MAC time of the original (``x_log_kern_ms`` / ``q0_kern_us``, ``suite.baseline_inputs``),
put on the measured scale beside the work outside the MAC layers (``cost_priors.KernelLatencyPrior``),
is likewise half of the uncompressed-latency model's prior. Rows are read through
``layer_encoding.plain_kernel_row`` (a convolution de-quantizing its weights runs the plain kernel, and
so does a depthwise one that the fast depthwise kernel does not take).

The pieces:

- ``layer_row(node, view, ...)`` (called from ``structure.graph_stats``): one row per MAC node,
  ``LAYER_FIELDS``: the structure kind (``structure._mac_bucket``), op, kernel verdict (fused integer
  group / MatMulNBits / float), MAC category, channel alignment, MACs, output/input channels, output
  positions, kernel window; and the names the runtime's profiler may call that layer (``aliases``).
- ``layer_times(aliases, events)``: a record's measured per-node times (``record["node_profile"]``,
  onnxruntime's profiler, written by the profiling agent) summed onto those layers.
- ``KernelModel``: layer time (us) from the layer row (XGBoost on log time per MAC, one thread; at
  most ``max_layers`` sampled layers, so training stays fast; the mean of ``members`` forests, each on
  its own seeded sample: bagged, the held-out ratio's five-seed mean rose from 79.3% within +-10% with
  one forest to 80.1% with three and 80.3% with five; on the re-measured labels, under the ratio
  model's five depth-6 members, ten forests instead of five took the ratio from 84.2% to 84.4%, and
  one ratio forest's five-seed mean from 83.9% to 84.1%), and ``log_ratio(layers0, layers1)`` = log(sum of
  predicted times of the variant's layers / the original's); ``log_ratios`` / ``totals`` batch many tables.
  Profiled node times are slower than unprofiled ones and drift between sessions: they price layers
  against each other, which is what a ratio needs.

``LAYERS_VERSION`` is written beside the rows; rows of another version are ignored.
"""
from __future__ import annotations

import functools
import math
import re

import numpy as np

from advisor.predictors.base import (
    ParamsMixin,
    booster_predict,
    booster_to_json,
    check_fitted,
    fit_booster,
    forests_from_json,
    member_seeds,
    members_to_json,
)
from advisor.predictors.layer_encoding import (
    CATEGORICAL,
    LAYER_FIELDS,
    PLAIN_ROWS,
    LayerIndex,
    column_names,
    encode,
    fields,
    normalise_row,
    plain_kernel_row,
)

LAYERS_VERSION = 1
# Ops the runtime folds into the MAC kernel before it (activations, the quantize/de-quantize around a
# fused integer group, a residual add): their output names are names the profiler uses for the layer.
_FOLDED = frozenset({"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "QuantizeLinear",
                     "DequantizeLinear", "Add", "Sum", "BatchNormalization", "Identity"})
_PREFIXES = ("fused ", "InsertedPrecisionFreeCast_")
# Suffixes onnxruntime's graph transformers append to the names of the nodes they make (checked on
# onnxruntime 1.32: NCHWc convolutions, QDQ fusions, MatMul+Add -> Gemm, MatMul scale folding,
# dynamic quantization of a fused MatMul).
_SUFFIX = re.compile(r"(_token_\d+|_nchwc|/\w*Fusion/?|_MatMul_quant|_quant)$")


def layer_row(node, view, kind: str, verdict: str | None, category: str | None, ok8: float, ok16: float,
              macs: float, weight_dims: list | None) -> tuple[list, list]:
    """(``LAYER_FIELDS`` values, aliases) of one MAC node. ``weight_dims``: its weight's shape or None."""
    w = list(weight_dims or [])
    y = view.concrete(node.output[0]) or []
    is_conv = str(category or "").startswith("conv")
    c_out = w[0] if (is_conv and w) else (y[-1] if y else 1)
    c_in = (w[1] if len(w) > 1 else 1) if is_conv else ((view.concrete(node.input[0]) or [1])[-1] if node.input else 1)
    positions = max(view.numel(node.output[0]) / max(c_out, 1), 1.0) if y else 1.0
    if category == "conv_grouped":  # one convolution a group (c_in is already a group's): a group's outputs
        c_out = max(c_out // max(int(view.attr(node, "group", 1) or 1), 1), 1)
    window = math.prod(w[2:]) if (is_conv and len(w) >= 3) else 1  # k x k, or k of a 1-D convolution
    row = [kind, node.op_type, verdict or "", str(category or ""), float(ok8), float(ok16), float(macs),
           float(max(c_out, 1)), float(max(c_in, 1)), float(positions), float(max(window, 1))]
    return row, _aliases(node, view)


def _aliases(node, view) -> list[str]:
    """The node's name and output, then the nodes (and outputs) the runtime folds into it: a chain of
    single readers through ``_FOLDED`` ops."""
    out = [node.name, node.output[0]]
    name = node.output[0]
    for _ in range(6):
        readers = [view.compute[i] for i in view.consumers.get(name, ())]
        if len(readers) != 1 or readers[0].op_type not in _FOLDED or not readers[0].output:
            break
        name = readers[0].output[0]
        out += [readers[0].name, name]
    return [a for a in out if a]


@functools.lru_cache(maxsize=65536)
def _event_keys(name: str) -> tuple:
    """The names a profiled node may stand for: without the fusion prefix, then suffix by suffix."""
    key = name
    for pre in _PREFIXES:
        if key.startswith(pre):
            key = key[len(pre):]
    out = [key]
    for _ in range(4):
        stripped = _SUFFIX.sub("", key)
        if stripped == key:
            break
        key = stripped
        out.append(key)
    return tuple(out)


# Op types of a profiled node that computes a layer's multiply-accumulates (a convolution, a GEMM or
# MatMul in any of the runtime's float, fused, integer or packed-weight forms, a recurrent cell).
MAC_EVENT_OP = re.compile(r"Conv|Gemm|MatMul|LSTM|GRU|^RNN$|Attention")


@functools.lru_cache(maxsize=4096)
def _is_mac_event(op: str) -> bool:
    """Whether a profiled op type is a MAC op (``MAC_EVENT_OP``), matched once per op type."""
    return MAC_EVENT_OP.search(op) is not None


def layer_times(aliases: list, events: list) -> list[float]:
    """Microseconds per layer: each profiled node (``[name, op, us]``) of a MAC op type
    (``MAC_EVENT_OP``) whose name (after the runtime's fusion prefixes/suffixes are stripped) is one of
    a layer's ``aliases`` adds its time to that layer; the rest to none.

    The runtime names the nodes it inserts after the tensor they convert, so by name alone a layer also
    collected the QuantizeLinear / DequantizeLinear around it, an unfused Add, Relu, Clip, Cast or
    BatchNormalization: in some families and not in others (an int8 1x1 convolution of an inverted
    residual block is one QLinearConv, a residual block's is QLinearConv + DequantizeLinear + Add +
    QuantizeLinear). The layer-time model then priced an int8 convolution of a family held out at up
    to twice its time. That work is priced by the work outside the MAC layers
    (``cost_priors.KernelCostPrior``). Families held out (17, 2026-11-29): 75.4% -> 76.0% of ratios
    within +-10%, rho 0.888 -> 0.893."""
    index = {}
    for i, names in enumerate(aliases):
        for a in names if isinstance(names, list) else ():
            if isinstance(a, str):
                index.setdefault(a, i)
    out = [0.0] * len(aliases)
    for ev in events:
        if not isinstance(ev, (list, tuple)) or len(ev) < 3:
            continue  # records may come from anywhere
        name, us = ev[0], ev[2]
        if not _is_mac_event(str(ev[1])):
            continue
        hit = next((index[k] for k in _event_keys(str(name)) if k in index), None)
        if hit is not None and isinstance(us, (int, float)) and not isinstance(us, bool) and math.isfinite(us):
            out[hit] += float(us)
    return out


def layers_of(structure: dict | None, which: str) -> tuple | None:
    """The layer rows (``which``: "layers0" original, "layers1" variant) of a structure dict as a tuple
    of tuples (hashable: equal tables are predicted once), or None without valid rows."""
    if not isinstance(structure, dict) or structure.get("layers_version") != LAYERS_VERSION:
        return None
    rows = structure.get(which)
    if not isinstance(rows, list):
        return None
    n, c = len(LAYER_FIELDS), len(CATEGORICAL)
    if not all(isinstance(r, (list, tuple)) and len(r) == n for r in rows):
        return None  # records may come from anywhere

    def plain() -> bool:  # str / int / float as JSON gives them: one pass over the types
        return ({type(v) for r in rows for v in r[:c]} <= {str}
                and {type(v) for r in rows for v in r[c:]} <= {int, float})

    def typed() -> bool:  # anything else (numpy floats from an in-process replay): element by element
        return all(all(isinstance(v, str) for v in r[:c])
                   and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r[c:]) for r in rows)

    if not (plain() or typed()):
        return None
    return tuple(tuple(r) for r in rows)


def layer_columns(structures: list) -> dict:
    """Frame columns ``k_layers0`` / ``k_layers1`` (``layers_of``) for a list of per-row structure dicts."""
    return {"k_layers0": [layers_of(st, "layers0") for st in structures],
            "k_layers1": [layers_of(st, "layers1") for st in structures]}


def log_ratio_of(t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """log(t1 / t0) of predicted times, NaN where either is not a positive finite number."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(t1 / t0)
    return np.where((t0 > 0) & (t1 > 0) & np.isfinite(out), out, np.nan)


class KernelModel(ParamsMixin):
    """Layer time (us) from its ``LAYER_FIELDS`` row. Categorical fields are one-hot over the values
    seen in training (an unseen value is all zeros); numeric ones enter as logs, channel counts also as
    their power-of-two divisibility (``pow2``).

    The trees fit log(time per MAC) (``TARGET``): a forest is piecewise constant in its inputs, so
    fitting log(time) directly gives two layers in one leaf the same time whatever their MACs, and a
    layer pruned to 56% of its MACs often the time it had. Per MAC, the trees learn how efficient a
    layer is, and its time scales with its MACs. Families held out, this raised the latency ratio's
    share within +-10% from 70.5% to 71.5% and the per-network ranking's Spearman from 0.855 to 0.877
    (with the divisibility inputs)."""

    scale = "log_us"
    TARGET = "log_us_per_mac"
    # Each member's forest: 60 rounds at 0.25 on 64 histogram bins (100 rounds at 0.15 on 256 took 0.59 s
    # a fold's fit, 100 on 64 bins 0.34 s at the same held-out figures). Ten members (``members``).
    TREES = {"max_depth": 6, "n_estimators": 60, "learning_rate": 0.25, "max_bin": 64}

    # onnxruntime's profiler adds its own cost to every node it times: no node profiles under 2 us here,
    # and a robust fit of the timed latency on a record's profiled total and its node count gives 1.9-2.5
    # us a node (2.0 on the 683 originals). The forests fit each layer's time less this (at least a tenth
    # of it), so a layer of a few us is priced as it runs, not as the profiler saw it; a layer profiled
    # at 2.5 us or less is left out of the fit (``_as_run``). Families held out (re-measured labels,
    # seeds 0-2, 2026-11-30): 82.7 / 83.1 / 82.7% -> 83.6 / 83.4 / 83.2% within +-10%, Spearman 0.938 ->
    # 0.937 (taken off after the 0.5 us cut instead: 83.0 / 83.2 / 83.2%). A bundle keeps the value; one
    # written before it fitted the profiled times as they are (0).
    PROFILER_NODE_US = 2.0
    PROFILER_FLOOR = 0.1

    def __init__(self, min_layers: int = 200, max_layers: int = 20000, xgb_params: dict | None = None,
                 members: int = 10, profiler_node_us: float = PROFILER_NODE_US):
        self.min_layers = min_layers
        self.max_layers = max_layers  # a seeded sample of at most this many layers is fitted (training time)
        self.xgb_params = xgb_params
        self.members = members
        self.profiler_node_us = profiler_node_us

    def _matrix(self, rows: list | None, index: LayerIndex | None = None, ids=None):
        """The encoded ``rows`` (normalised layer rows), or the rows ``ids`` (default: all) of ``index``
        (its columns are encoded once and shared by the models of all folds)."""
        import pandas as pd

        if index is not None:
            return pd.DataFrame({name: index.column(name) if ids is None else index.column(name)[ids]
                                 for name in column_names(self.vocab_)})
        by = fields(rows)
        return pd.DataFrame({name: encode(name, by) for name in column_names(self.vocab_)})

    def fit(self, rows: list, us, groups=None) -> KernelModel:
        """``rows``: layer rows (``LAYER_FIELDS``); ``us``: their measured times (0 where the profiler
        attributed nothing to the layer: such rows are left out). ``groups``: each row's architecture
        family, when known: the sample of ``max_layers`` then draws every family's layers alike (a
        family of wide networks with many layers would otherwise set the prices)."""
        us = self._as_run(us)
        samples = self._samples(us, groups)
        self.plain_rows_ = PLAIN_ROWS
        read = {i: plain_kernel_row(normalise_row(rows[i])) for i in sorted(set().union(*map(set, samples)))}
        self.vocab_ = {f: sorted({r[k] for r in read.values()}) for k, f in enumerate(CATEGORICAL)}
        return self._fit_trees([(lambda idx=idx: self._matrix([read[i] for i in idx])) for idx in samples],
                               [us[idx] for idx in samples])

    def fit_indexed(self, index: LayerIndex, row_ids: np.ndarray, us, groups=None) -> KernelModel:
        """``fit`` on the rows ``row_ids`` of ``index`` (a training run's ``LayerIndex``; ids in the order
        ``fit`` would get the rows): the same model, without normalising and encoding the rows again."""
        us = self._as_run(us)
        samples = self._samples(us, groups)
        self.plain_rows_ = index.plain_rows  # the rows as the index reads them
        ids = [np.asarray(row_ids, int)[idx] for idx in samples]
        cats = {f: index.column_values(f) for f in CATEGORICAL}
        used = np.unique(np.concatenate(ids)) if ids else np.zeros(0, int)  # each distinct row once
        self.vocab_ = {f: sorted({cats[f][i] for i in used}) for f in CATEGORICAL}
        return self._fit_trees([(lambda part=part: self._matrix(None, index, part)) for part in ids],
                               [us[idx] for idx in samples])

    def _as_run(self, us) -> np.ndarray:
        """Profiled layer times less the profiler's cost per node (``PROFILER_NODE_US``), at least a tenth
        of each; a layer left with no more than 0.5 us (profiled at up to 2.5) is then not fitted."""
        us = np.asarray(us, float)
        return np.maximum(us - float(self.profiler_node_us), self.PROFILER_FLOOR * us)

    def _seeds(self) -> list[int]:
        """Each member's seed (its layer sample and its trees; ``base.member_seeds``)."""
        return member_seeds(self.xgb_params, self.members)

    def _samples(self, us: np.ndarray, groups) -> list[np.ndarray]:
        """Each member's positions of the layers fitted: those with a time, at most ``max_layers`` of them
        (drawn with the member's seed)."""
        idx = np.flatnonzero(np.isfinite(us) & (us > 0.5))
        if len(idx) <= self.max_layers:
            return [idx for _ in self._seeds()]
        p = None
        if groups is not None:
            import pandas as pd

            inv = pd.factorize(pd.Series(np.asarray(groups, object)[idx]).astype(str))[0]
            p = 1.0 / np.bincount(inv)[inv]
            p = p / p.sum()
        return [np.sort(np.random.default_rng(seed).choice(idx, self.max_layers, replace=False, p=p))
                for seed in self._seeds()]

    def _fit_trees(self, matrices: list, us: list) -> KernelModel:
        """One forest per member: ``matrices`` (callables giving each member's input frame) and ``us``
        (its layers' times)."""
        self.n_layers_ = len(us[0]) if us else 0
        self.target_ = self.TARGET
        self.boosters_ = []
        if self.n_layers_ >= self.min_layers:
            for matrix, times, seed in zip(matrices, us, self._seeds(), strict=True):
                X = matrix()
                params = {**self.TREES, **(self.xgb_params or {}), "random_state": seed}
                self.boosters_.append(fit_booster(X, np.log(times) - X["l_log_macs"].to_numpy(), params))
        return self

    @property
    def usable(self) -> bool:
        return bool(getattr(self, "boosters_", None))

    def total_us(self, rows: list | None) -> float:
        """Predicted time of all ``rows`` (NaN without rows or a fitted forest; 0 for no rows)."""
        return float(self.totals([rows])[0])

    def log_ratio(self, layers0: list | None, layers1: list | None) -> float:
        """log(predicted MAC-layer time of the variant / of the original); NaN where unknown."""
        return float(self.log_ratios([layers0], [layers1])[0])

    def log_ratios(self, layers0: list, layers1: list, native: bool = False,
                   index: LayerIndex | None = None) -> np.ndarray:
        """``log_ratio`` of each pair, with every distinct layer table predicted once, in one batch
        (``native``, ``index``: see ``totals``)."""
        return log_ratio_of(*self.totals(list(layers0) + list(layers1), native, index).reshape(2, -1))

    def row_times(self, index: LayerIndex, native: bool = False) -> np.ndarray:
        """Predicted time (us) of every row of ``index``: the mean of the members' times."""
        M = self._matrix(None, index)
        offset = M["l_log_macs"].to_numpy() if self.target_ == self.TARGET else 0.0
        return np.mean([np.exp(booster_predict(b, M, native) + offset) for b in self.boosters_], axis=0)

    def totals(self, tables: list, native: bool = False, index: LayerIndex | None = None) -> np.ndarray:
        """Predicted time (us) of each layer table (NaN for None), every distinct table and layer row
        predicted once. ``native``: by xgboost's predictor (``base.Trees.predict``), for the training
        set's tables, which other models take as inputs. ``index``: a ``LayerIndex`` holding these
        tables (the same numbers, priced once per model for all the calls of a training run)."""
        check_fitted(self, "vocab_")
        n = len(tables)
        if not self.usable:
            return np.full(n, np.nan)
        plain = getattr(self, "plain_rows_", 0)
        slots = index.slots(tables) if index is not None and index.plain_rows == plain else None
        if slots is None:  # tables of no training run: index this call's (each distinct one priced once)
            index = LayerIndex(tables, plain_rows=plain)
            slots = index.slots(tables)
        sums = index.sums(self, native)
        return np.where(slots >= 0, sums[np.maximum(slots, 0)] if len(sums) else np.nan, np.nan)

    def to_bundle(self) -> tuple[dict, bytes | None]:
        check_fitted(self, "vocab_")
        return ({"params": self.get_params(), "vocab": self.vocab_, "n_layers": self.n_layers_,
                 "layers_version": LAYERS_VERSION, "target": self.target_,
                 "plain_rows": getattr(self, "plain_rows_", 0)},
                members_to_json([booster_to_json(b) for b in self.boosters_]) if self.usable else None)

    @classmethod
    def from_bundle(cls, meta: dict, raw: bytes | None) -> KernelModel:
        est = cls(**{"profiler_node_us": 0.0, **meta["params"]})  # bundles before it fitted profiled times
        est.vocab_ = {k: list(v) for k, v in meta["vocab"].items()}
        est.n_layers_ = int(meta["n_layers"])
        est.target_ = str(meta.get("target", "log_us"))  # bundles before the per-MAC target fit log(us)
        # bundles before the levels wrote "plain_dqw" (level 1 when true); before that, rows as stored
        est.plain_rows_ = int(meta["plain_rows"]) if "plain_rows" in meta else 1 if meta.get("plain_dqw") else 0
        known = meta.get("layers_version") == LAYERS_VERSION and est.target_ in ("log_us", cls.TARGET)
        est.boosters_ = forests_from_json(raw) if raw is not None and known else []
        return est

