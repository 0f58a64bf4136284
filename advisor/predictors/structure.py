"""What a setting does to the graph: structural features of the compressed variant, relative to the
original, computed from the size model's replay (no weight read, no quantizer or calibration run).

Model features (``advisor.features``) describe the *original* network, so a predictor that sees only
them plus a setting code must guess what the setting will do to this particular graph. These features
say it directly, in terms every architecture shares, which is what lets a latency-ratio predictor
carry over to families it never saw:

- ``v_mac_ratio``: multiply-accumulates the variant computes / the original's (channel pruning with the
  channel counts it really keeps; quantized ops count their MACs).
- ``v_float_mac_share``: share of the variant's MACs still computed in float (the rest run as
  integer kernels: Conv/MatMul/Gemm QDQ groups that onnxruntime really fuses into QLinear ops -- not
  every one does: a tensor read twice after quantization keeps its producer and readers in float,
  see ``_fused_qdq`` -- and MatMulInteger / DynamicQuantizeLSTM).
- ``v_log_dq_weight_per_mac`` / ``v_log_dq4_weight_per_mac``: weight elements de-quantized on every
  run (DequantizeLinear of a stored weight that feeds a float op: weight-only settings), per original
  MAC (4-bit ones separately: unpacking them is slower).
- ``v_log_q_act_per_mac``: activation elements through QuantizeLinear / DequantizeLinear /
  DynamicQuantizeLinear / Cast per original MAC (the conversion traffic a quantized graph adds).
- ``v_align8_share`` / ``v_align16_share`` (and ``v_d_align*``: the change from the original): share of
  Conv MACs onnxruntime runs on its blocked (NCHWc) kernel, and of those without padding their output
  channels to a block of 16 (``_aligned``: group 1, input channels under 16 or a multiple of 4, version 6;
  depthwise, channels a multiple of 4; other grouped ones, whole blocks of 16 a group, version 8). Pruning 10% of 32 channels leaves 29 and
  can make a network *slower*: the next layer's 29 input channels leave the blocked kernel.
- ``v_log_node_ratio``: compute nodes of the variant / of the original.

Beside these, ``q0_*`` / ``q1_*`` hold the op-level ``QUANTITIES`` of the original and the variant
(float Conv MACs by channel alignment and output width, float Conv MACs with a weight de-quantized
at run time (no blocked layout), depthwise, GEMM/GEMV, attention and recurrent
MACs, integer MACs, activation elements written and converted, weights de-quantized per run, compute
and data-movement nodes, the quantize / de-quantize onnxruntime folds into its integer kernels): the
inputs of the cost-model priors (``advisor.predictors.priors``).
Elementwise work is counted as onnxruntime's CPU provider runs it after its float fusions
(``_ort_absorbed``, version 5): a GELU, SiLU, an activation or residual Add inside its convolution, a
bias inside its Gemm count no pass and no node of their own, unless static int8's quantize /
de-quantize pairs break the fusion. Families held out on the host, that took the ratio from 78.0% to
78.6% within +-10% (mean of seeds 0-2), int8-dynamic from 84% to 88%; the blocked-kernel rule for the
convolution kinds (version 6) to 78.7% (79.0% at seed 0), Spearman 0.926.
In an fp16 variant the activation elements and nodes include the work onnxruntime's CPU provider adds
(``_FP16_EXPANDED``: LeakyRelu, Softmax and HardSwish expanded into several ops; a GELU, and a Clip or
LeakyRelu after a convolution, left unfused). Families held out on the host, that took fp16 from 83.9%
to 91.4% of its ratios within +-10% (version 4; seeds 0-2: 90.7-91.4%).

Each setting's dict also holds the MAC layers of the original and of the variant, one row each
(``layers0`` / ``layers1``, fields ``kernels.LAYER_FIELDS``), and the names onnxruntime's profiler may
give each variant layer (``aliases1``), under ``layers_version``: the inputs of the layer-time model
(``advisor.predictors.kernels``). They are not columns; a structure dict without them is still valid.

``STRUCTURE_VERSION`` is written into each record and each bundle's manifest; a record of another
version counts as having none; a bundle trained on another version is refused at load (retrain).
Bundles trained without these columns see them as missing values (trees never split on a column that
was all missing in training). Version 2: QDQ groups as onnxruntime really fuses them (version 1
counted every DQ -> Conv/Gemm/MatMul group as integer) and ``mac_conv_dqw``. Version 3: weight-only
MatMuls that onnxruntime packs into MatMulNBits (``mac_mm_nbits``, no per-run de-quantization);
integer MACs split into convolutions (narrow, < 32 outputs, apart), depthwise, GEMM and GEMV; a GEMV
recognised by its input where the output shape is unknown. Version 4: the fp16 replay's added work.
Version 5: elementwise work after onnxruntime's float fusions (``_ort_absorbed``). Version 6: group-1
convolutions' kinds by onnxruntime's blocked-kernel rule (``_blocked_input``). Version 7: the int8
variants' graphs from a replay of quant_pre_process that matches onnxruntime's op for op in 681 of
the 720 zoo networks (``size_ort``: Transposes pushed through ConvNeXt residual sums, chained Reshapes
merged, attention projections left unfused; a shared bias quantized once per reader), so a ConvNeXt's
first-stage convolutions count as the integer kernels onnxruntime runs. Version 8: depthwise and
grouped convolutions' kinds by onnxruntime's blocked-kernel rule for them (``_blocked_grouped``).
Version 9: a ConvTranspose is neither blocked nor integer (onnxruntime runs it in float on the plain
kernel, its weights de-quantized every run under int8), as every UNet profile shows
(``benchmarks/kernel_kinds_check.py``). Version 10: an integer grouped (not depthwise) convolution
counts as an integer convolution by a group's outputs, not as an integer depthwise one: onnxruntime's
QLinearConv runs it as one integer GEMM a group (0.022 ns a MAC in the ShuffleNets' int8 profiles,
layers over 2e5 MACs, against 0.086 for int8 depthwise layers). Version 11: the activation quantize /
de-quantize nodes onnxruntime folds into an integer kernel (``_qdq_fused``: the DQ feeding only a fused
integer MAC op and the Q after it, the pair around an 8-bit unary op or data movement) are their own
quantities, ``q_fused`` (elements: the requantization done inside those kernels) and ``nodes_qfused``,
no longer ``q_act`` and ``nodes``, so the cost priors price them apart from the conversions it runs as
nodes. A DS-CNN's int8 graph, a chain of integer convolutions, counted 373k converted elements and 49
nodes against the 2 quantize / de-quantize and 20 nodes onnxruntime runs: the prior put its int8 ratio
at 0.95 for 0.72 measured (medians). Families held out: the figures in the README.

The fusion rules are onnxruntime's on x86 (this host's). On Arm, onnxruntime also fuses groups with
int8 activations, so for an Arm board the float share overstates what stays in float; trees trained
on that board's records learn what the columns are worth there, but the cost prior's reading of them
is the x86 one.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from advisor.errors import AdvisorError, NotApplicableError

if TYPE_CHECKING:
    from advisor.modelio import LoadedModel

STRUCTURE_VERSION = 11
COLUMNS = ("v_mac_ratio", "v_float_mac_share", "v_log_dq_weight_per_mac", "v_log_dq4_weight_per_mac",
           "v_log_q_act_per_mac", "v_align8_share", "v_align16_share", "v_d_align8", "v_d_align16",
           "v_log_node_ratio")

_DQ = "DequantizeLinear"
_ACT_CONVERT = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Cast"})
_INT_OPS = frozenset({"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul", "QGemm",
                      "DynamicQuantizeLSTM", "DynamicQuantizeMatMul"})
_FLOAT_MAC_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "RNN", "FusedConv",
                            "FusedGemm", "FusedMatMul"})
_CONV_OPS = frozenset({"Conv", "FusedConv", "ConvInteger", "QLinearConv"})
_INT4 = frozenset({22, 21})  # onnx.TensorProto.INT4, UINT4
_NBITS = frozenset({2, 3, 21, 22, 25, 26})  # UINT8, INT8, UINT4, INT4, UINT2, INT2


def structure_all(lm: LoadedModel, names=None) -> dict:
    """Setting name -> structure features (see ``structure_and_size``), or None where it does not apply."""
    return structure_and_size(lm, names)[0]


def structure_and_size(lm: LoadedModel, names=None) -> tuple[dict, dict]:
    """(setting name -> {"version": STRUCTURE_VERSION, column: value for ``ALL_COLUMNS``}, or None where
    the setting does not apply or its replay fails; setting name -> the size model's bytes, or None) for
    every registered setting when ``names`` is None. One hollow copy of the model serves every setting,
    and each setting is replayed once for both."""
    import onnx

    from advisor.compression import setting_names
    from advisor.predictors.size import _Context, replay, serialized_bytes

    ctx = _Context.of(lm)
    layers0: list = []
    base = graph_stats(ctx.hollow, lm.inferred, layers0)
    out, sizes = {}, {}
    for name in names if names is not None else setting_names():
        out[name] = sizes[name] = None
        try:
            variant = replay(ctx, name)
        except (NotApplicableError, AdvisorError):
            continue
        sizes[name] = serialized_bytes(variant)
        inferred = onnx.shape_inference.infer_shapes(variant, strict_mode=False, data_prop=True)
        layers1: list = []
        out[name] = {"version": STRUCTURE_VERSION, **relative(base, graph_stats(variant, inferred, layers1)),
                     **layer_entries(layers0, layers1)}
    return out, sizes


def layer_entries(layers0: list, layers1: list) -> dict:
    """The per-layer part of a structure dict (``advisor.predictors.kernels``): the original's and the
    variant's MAC-layer rows, and the names the profiler may give each variant layer."""
    from advisor.predictors.kernels import LAYERS_VERSION

    return {"layers_version": LAYERS_VERSION, "layers0": [r for r, _ in layers0], "layers1": [r for r, _ in layers1],
            "aliases1": [a for _, a in layers1]}


def relative(base: dict, var: dict) -> dict:
    """The ``COLUMNS`` of a variant's stats against its original's (both from ``graph_stats``)."""
    macs0 = max(base["macs"], 1.0)
    out = {
        "v_mac_ratio": var["macs"] / macs0,
        "v_float_mac_share": var["float_macs"] / max(var["macs"], 1.0),
        "v_log_dq_weight_per_mac": math.log((var["dq_w"] + 1.0) / macs0),
        "v_log_dq4_weight_per_mac": math.log((var["dq4_w"] + 1.0) / macs0),
        "v_log_q_act_per_mac": math.log((var["q_act"] + 1.0) / macs0),
        "v_align8_share": var["align8"], "v_align16_share": var["align16"],
        "v_d_align8": var["align8"] - base["align8"], "v_d_align16": var["align16"] - base["align16"],
        "v_log_node_ratio": math.log(max(var["nodes"] + var["nodes_shape"], 1.0)
                                     / max(base["nodes"] + base["nodes_shape"], 1.0)),
    }
    out.update({f"q0_{k}": base[k] for k in QUANTITIES})
    out.update({f"q1_{k}": var[k] for k in QUANTITIES})
    return {k: float(v) for k, v in out.items()}


# Op-level quantities of one graph that an additive cost model prices (``cost_priors.CostModelPrior``).
# Float Conv MACs are split by channel alignment and by output width: GEMM kernels lose efficiency on
# narrow outputs, so halving the channels of a 24-channel layer does not halve its time.
_WIDTHS = ((16, "n16"), (32, "n32"), (64, "n64"))
_CONV_BUCKETS = tuple(f"mac_conv_{a}_{w}" for a in ("a16", "a8", "u") for w in ("n16", "n32", "n64", "nbig"))
QUANTITIES = _CONV_BUCKETS + ("mac_conv_dqw", "mac_dw_a16", "mac_dw_a8", "mac_dw_u", "mac_gemm", "mac_gemv",
                              "mac_mm_dyn", "mac_mm_nbits", "mac_rec", "mac_int_conv", "mac_int_conv_n32", "mac_int_dw",
                              "mac_int_gemm", "mac_int_gemv", "mac_int_rec", "act", "q_act", "dq_w", "dq4_w", "nodes",
                              "nodes_shape", "q_fused", "nodes_qfused")
_FLOAT_MAC_KINDS = _CONV_BUCKETS + ("mac_conv_dqw", "mac_dw_a16", "mac_dw_a8", "mac_dw_u", "mac_gemm", "mac_gemv",
                                    "mac_mm_dyn", "mac_mm_nbits", "mac_rec")
Q_COLUMNS = tuple(f"q0_{k}" for k in QUANTITIES) + tuple(f"q1_{k}" for k in QUANTITIES)
ALL_COLUMNS = COLUMNS + Q_COLUMNS


def graph_stats(model, inferred, layers: list | None = None) -> dict:
    """The ``QUANTITIES`` of one graph (shapes from ``inferred``) plus the aggregates ``relative``
    reads: MACs (total, float), de-quantized weight elements, converted activation elements, Conv
    channel-alignment shares and the compute-node count. ``model``/``inferred``: onnx.ModelProto.
    ``layers``: a list to append each MAC node's ``(kernels.LAYER_FIELDS row, aliases)`` to."""
    from advisor.features.graph import GraphView
    from advisor.features.macs import RESHAPE_LIKE, node_cost
    from advisor.modelio import LoadedModel
    from advisor.predictors.kernels import layer_row

    view = GraphView(LoadedModel(None, model, inferred))
    inits = {t.name: t for t in model.graph.initializer}
    producers = view.producers
    q = dict.fromkeys(QUANTITIES, 0.0)
    # Dispatch: data-movement nodes (Reshape, Transpose, Concat, ...) apart from the ones that compute.
    shape_nodes = sum(1 for n in view.compute if n.op_type in RESHAPE_LIKE)
    q["nodes"], q["nodes_shape"] = float(len(view.compute) - shape_nodes), float(shape_nodes)
    compute = {id(n) for n in view.compute}
    kernels = _kernels(view, inits)
    half = _half_tensors(model, view)
    align = np.zeros(3)  # Conv MACs: all, channels multiple of 8, of 16
    absorbed = _ort_absorbed(view, half)
    gone_shape = sum(1 for n in view.compute if id(n) in absorbed and n.op_type in RESHAPE_LIKE)
    q["nodes"] -= float(len(absorbed) - gone_shape)
    q["nodes_shape"] -= float(gone_shape)
    fused_qdq = _qdq_fused(view, kernels) - absorbed
    q["nodes"] -= float(len(fused_qdq))
    q["nodes_qfused"] = float(len(fused_qdq))
    for node in view.order:
        op = node.op_type
        if op == _DQ and node.input[0] in inits and _feeds_float(node.output[0], view, kernels):
            n = float(np.prod(list(inits[node.input[0]].dims) or [1]))
            q["dq4_w" if inits[node.input[0]].data_type in _INT4 else "dq_w"] += n
        if id(node) not in compute or id(node) in absorbed:
            continue
        converts = op in _ACT_CONVERT and node.input and view.is_activation(node.input[0])
        out_elems = float(sum(view.numel(o) for o in node.output if view.is_activation(o)))
        q["q_fused" if id(node) in fused_qdq else "q_act" if converts else "act"] += out_elems
        if half and node.input and node.input[0] in half:
            passes, extra_nodes = _fp16_extra(node)
            q["act"] += passes * out_elems
            q["nodes"] += extra_nodes
        cost = node_cost(node, view) if op != "DynamicQuantizeLSTM" else None
        macs = _macs(node, view, inits, cost)
        if macs:
            is_conv = op in _CONV_OPS or (cost is not None and str(cost.category).startswith("conv"))
            ok8, ok16 = _aligned(node, view) if is_conv else (0.0, 0.0)
            kind = _mac_bucket(node, view, producers, cost, ok8, ok16, kernels.get(id(node)))
            q[kind] += macs
            if layers is not None:
                category = ("conv" if is_conv and op in _INT_OPS else cost.category) if cost is not None else \
                    ("recurrent" if op == "DynamicQuantizeLSTM" else None)
                layers.append(layer_row(node, view, kind, _verdict(node, view, inits, kernels), category, ok8, ok16, macs,
                                        view.concrete(node.input[_weight_slot(op)]) if len(node.input) > 1 else None))
            if op in _CONV_OPS:  # float or integer
                align += np.array([macs, macs * ok8, macs * ok16])
    s = dict(q)
    s["macs"] = sum(v for k, v in q.items() if k.startswith("mac_"))
    s["float_macs"] = sum(q[k] for k in _FLOAT_MAC_KINDS)
    s["align8"], s["align16"] = (align[1] / align[0], align[2] / align[0]) if align[0] else (1.0, 1.0)
    return s


def _mac_bucket(node, view, producers: dict, cost, ok8: float, ok16: float, kernel: str | None) -> str:
    """The ``QUANTITIES`` kind a MAC node's MACs count under (``ok8``/``ok16``: its ``_aligned``;
    ``kernel``: its ``_kernels`` verdict)."""
    op = node.op_type
    category = cost.category if cost is not None else None
    if op in _INT_OPS or kernel == "int":
        if op in ("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM"):
            return "mac_int_rec"
        if "Conv" in op:
            if category == "conv_depthwise":
                return "mac_int_dw"
            # onnxruntime's QLinearConv takes the depthwise kernel only at one channel a group; a grouped
            # one is an integer GEMM a group, priced as one by a group's outputs (like the float ones)
            c_out = _group_outputs(node, view) if category == "conv_grouped" else _c_out(node, view)
            return "mac_int_conv_n32" if c_out < 32 else "mac_int_conv"
        return "mac_int_gemv" if _one_row(node, view) else "mac_int_gemm"
    if kernel == "nbits":
        return "mac_mm_nbits"
    if category in ("conv", "conv_depthwise", "conv_grouped") and _dq_weight(node, producers):
        return "mac_conv_dqw"
    if category == "conv":
        return conv_kind(ok8, ok16, _c_out(node, view))
    if category == "conv_grouped":  # one small convolution a group: priced as one, by a group's outputs
        return conv_kind(ok8, ok16, _group_outputs(node, view))
    if category == "conv_depthwise":
        return "mac_dw_a16" if ok16 else "mac_dw_a8" if ok8 else "mac_dw_u"
    if category == "gemm":  # one output row (batch-1 fully connected): memory-bound, priced apart
        return "mac_gemv" if _one_row(node, view) else "mac_gemm"
    return {"matmul_dynamic": "mac_mm_dyn", "recurrent": "mac_rec"}.get(category, "mac_gemm")


def conv_kind(ok8: float, ok16: float, c_out: float) -> str:
    """The kind of a float convolution with constant weights: channel alignment (``_aligned``) and
    output-width bucket."""
    width = next((name for limit, name in _WIDTHS if c_out < limit), "nbig")
    return f"mac_conv_{'a16' if ok16 else 'a8' if ok8 else 'u'}_{width}"


def _one_row(node, view) -> bool:
    """A GEMM computing one output row (batch-1 fully connected layer): its output, or where the output
    shape is unknown its first input, holds as many elements as its last dimension."""
    for name in (node.output[0], node.input[0]):
        dims = view.concrete(name)
        if dims:
            return view.numel(name) == dims[-1]
    return False


def _weight_slot(op: str) -> int:
    """Input position of a MAC op's weight."""
    from advisor.features.macs import WEIGHT_SLOTS

    return WEIGHT_SLOTS[op][0][0] if op in WEIGHT_SLOTS else 1


def _c_out(node, view) -> int:
    """Output channels of a Conv (its weight's first dimension; 0 where unknown)."""
    return int((view.concrete(node.input[_weight_slot(node.op_type)]) or [0])[0])


def _group_outputs(node, view) -> int:
    """Output channels of one group of a grouped Conv (``_c_out`` over its ``group``)."""
    return _c_out(node, view) // max(int(view.attr(node, "group", 1) or 1), 1)


def _dq_weight(node, producers: dict) -> bool:
    """A float Conv whose weight is de-quantized at run time (weight-only settings, QDQ groups the
    runtime does not fuse): no constant weight to pre-pack, so onnxruntime keeps it out of its blocked
    (NCHWc) layout and runs the plain, slower convolution."""
    slot = _weight_slot(node.op_type)
    return len(node.input) > slot and getattr(producers.get(node.input[slot]), "op_type", None) == _DQ


def _macs(node, view, inits: dict, cost) -> float:
    if node.op_type == "DynamicQuantizeLSTM":  # W: [dirs, input, 4*hidden] (transposed vs. ONNX LSTM)
        w = inits.get(node.input[1])
        x = view.concrete(node.input[0]) or [1, 1, 1]
        if w is None or len(w.dims) != 3:
            return 0.0
        dirs, n_in, gates = (int(d) for d in w.dims)
        return float(x[0] * x[1] * dirs * gates * (n_in + gates // 4))
    return float(cost.macs)


def _fused_qdq(node, view, producers: dict) -> bool:
    """A float MAC op that onnxruntime's CPU provider runs as an integer kernel (QLinearConv, QGemm,
    QLinearMatMul / MatMulIntegerToFloat): its activation and weight inputs come from
    DequantizeLinear, and the activation types onnxruntime ends up with are ones its x86 kernels take.

    The quantizer writes int8 activations; onnxruntime rewrites a Q -> DQ pair to uint8 only where
    the Q has that one DQ as its only consumer, after giving every consumer of a shared DQ its own
    copy (``_u8_in`` / ``_u8_out``). Its selectors then want (int8 activations not allowed on x86):
    Conv: uint8 in and uint8 out; MatMul: uint8 first input and, where the output is quantized,
    uint8 out; Gemm: output type = input type (or a float output). So a tensor read twice after
    quantization (the input of a SiLU/GELU/h-swish, a block input read by two branches) leaves its
    producer and its readers as float Conv/MatMul with weights de-quantized on every run. Checked
    against the graphs onnxruntime 1.32 builds for 40 zoo networks of all ten families (every Conv,
    Gemm and MatMul matched)."""
    from advisor.features.macs import weight_positions

    if not node.input or not view.is_activation(node.input[0]) or node.op_type == "ConvTranspose":
        return False  # no integer ConvTranspose on x86: onnxruntime runs it in float (the UNets' profiles)
    wpos = weight_positions(node, view)
    ins = [node.input[0]] + [node.input[i] for i in wpos if i != 0]
    if node.op_type == "MatMul" and len(ins) == 1 and len(node.input) > 1:  # activation x activation
        ins.append(node.input[1])
    if len(ins) < 2 or not all(getattr(producers.get(x), "op_type", None) == _DQ for x in ins):
        return False
    u8_in, u8_out = _u8_in(node.input[0], view, producers), _u8_out(node, view)
    if node.op_type in ("Conv", "FusedConv"):
        return u8_in and u8_out is True
    if node.op_type in ("MatMul", "FusedMatMul"):
        return u8_in and u8_out in (None, True)
    return u8_out is None or u8_out == u8_in  # Gemm


def _readers(name: str, view) -> list:
    """Nodes reading activation ``name``; a graph output counts as one more reader (None)."""
    out = [view.compute[i] for i in view.consumers.get(name, ())]
    return out + [None] if name in view.outputs else out


def _u8_in(name: str, view, producers: dict) -> bool:
    """The DQ producing ``name`` feeds one node, and the Q it de-quantizes feeds only that DQ."""
    if len(_readers(name, view)) != 1:
        return False
    q = producers.get(producers[name].input[0])
    return q is None or q.op_type != "QuantizeLinear" or len(_readers(q.output[0], view)) == 1


def _u8_out(node, view):
    """None where the output (through a ReLU/Clip the quantizer folds) is not quantized; else whether
    it reaches one Q whose one DQ feeds at most one node. False where the output is a graph output."""
    if node.output[0] in view.outputs:
        return False
    readers = _readers(node.output[0], view)
    if len(readers) == 1 and readers[0] is not None and readers[0].op_type in ("Relu", "Clip"):
        if readers[0].output[0] in view.outputs:
            return False
        readers = _readers(readers[0].output[0], view)
    quantized = [r for r in readers if r is not None and r.op_type == "QuantizeLinear"]
    if not quantized:
        return None
    if len(readers) != 1:
        return False
    dqs = _readers(quantized[0].output[0], view)
    return len(dqs) == 1 and dqs[0] is not None and dqs[0].op_type == _DQ and len(_readers(dqs[0].output[0], view)) <= 1


# Work onnxruntime's CPU provider adds to an fp16 graph: op -> (extra activation passes, extra nodes). Probed one
# op at a time on onnxruntime 1.32, x86-64 (benchmarks/fp16_ops.py), it runs almost every op in float32 between
# Casts at the graph's edges, so the graph's fp32 fusions hold, except for ops it expands first. LeakyRelu runs as
# Less + Mul + Where and no longer fuses into the convolution before it; Softmax as ReduceMax, Sub, Exp, ReduceSum
# and Div (two more full-size passes: the reductions write one value a row); HardSwish as HardSigmoid + Mul. A
# GELU's five ops and a Clip or LeakyRelu after a convolution, which float32 fuses, stay unfused: ``_ort_absorbed``
# leaves them counted in float16.
_FP16_EXPANDED = {"LeakyRelu": (2, 2), "Softmax": (2, 4), "HardSwish": (1, 1)}


def _fp16_extra(node) -> tuple[float, float]:
    """(extra activation passes, extra nodes) of an op computing in float16 (``_FP16_EXPANDED``)."""
    passes, nodes = _FP16_EXPANDED.get(node.op_type, (0, 0))
    return float(passes), float(nodes)


# onnxruntime's float fusions on its CPU provider (graph optimization levels 2 and 3), which run several ONNX
# ops as one kernel: the absorbed ops write no tensor of their own and dispatch no node. Probed on onnxruntime
# 1.32, x86-64, by the graphs it builds for zoo networks (benchmarks/ort_fusions.py): a GELU written as Div,
# Erf, Add, Mul, Mul runs as one Gelu; x * Sigmoid(x) (SiLU) as one QuickGelu; an activation after a
# convolution or a Gemm inside it (FusedConv, FusedGemm); a residual Add (and a ReLU after it) inside the
# convolution that produces one of its inputs (blocked NCHWc convolutions, or FusedConv with its Z input); a
# MatMul's bias Add inside a Gemm; a MatMul's scalar Mul or Div inside a FusedMatMul. A quantize / de-quantize
# pair between two ops (static int8) breaks every one of these fusions, which is part of why a quantized graph
# is slower than its MAC counts say. In float16 (run in float32 between Casts) the GELU, the scalar Mul and a
# Clip or LeakyRelu after a convolution stay unfused (``_FP16_EXPANDED``).
_CONV_ACTS = frozenset({"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid"})
_CONV_ACTS_HALF = frozenset({"Relu", "Sigmoid", "Tanh", "HardSigmoid"})
_GEMM_ACTS = frozenset({"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid"})


def _ort_absorbed(view, half: set) -> set:
    """id() of the compute nodes onnxruntime's fusions absorb into a neighbour (see ``_CONV_ACTS``)."""
    out: set = set()
    residual: dict = {}  # id of an absorbed residual Add -> "nchwc" or "z" (see _residual_sum)
    kept: set = set()  # the op a fused GELU is left as
    producers = view.producers
    compute = {id(n) for n in view.compute}

    def only_reader(name: str):
        return _only_reader(name, view)

    def const(name: str) -> bool:
        return bool(name) and not view.is_activation(name)

    def src(node, i: int = 0):
        return producers.get(node.input[i]) if len(node.input) > i and node.input[i] else None

    for node in view.compute:
        op, h = node.op_type, bool(node.output) and node.output[0] in half
        if op == "Erf" and not h:  # x / sqrt2 -> Erf -> + 1 -> * x -> * 0.5 (either order of the Muls)
            div = src(node)
            add = only_reader(node.output[0])
            if div is None or div.op_type != "Div" or only_reader(div.output[0]) is not node or \
                    add is None or add.op_type != "Add":
                continue
            mul = only_reader(add.output[0])
            if mul is None or mul.op_type != "Mul":
                continue
            x = div.input[0]
            if x in mul.input:
                last = only_reader(mul.output[0])
                if last is not None and last.op_type == "Mul" and any(const(i) for i in last.input):
                    out.update((id(div), id(node), id(add), id(mul)))
                    kept.add(id(last))
            else:
                half_x = producers.get(next((i for i in mul.input if i != add.output[0]), ""))
                if half_x is not None and half_x.op_type == "Mul" and x in half_x.input:
                    out.update((id(div), id(node), id(add), id(half_x)))
                    kept.add(id(mul))
        elif op == "MatMulInteger":  # dynamic int8: the scale, bias and conversion run in its epilogue
            nxt = only_reader(node.output[0])
            while nxt is not None and nxt.op_type in ("Cast", "Mul", "Add") and id(nxt) not in out:
                out.add(id(nxt))
                out.update(id(p) for p in map(producers.get, nxt.input)
                           if p is not None and p.op_type == "Mul" and id(p) in compute and
                           view.numel(p.output[0]) == 1 and only_reader(p.output[0]) is nxt)
                nxt = only_reader(nxt.output[0])
        elif op == "Sigmoid" and (mul := only_reader(node.output[0])) is not None and mul.op_type == "Mul" and \
                node.input[0] in mul.input:  # x * Sigmoid(x): QuickGelu (float16 too)
            out.add(id(node))
        elif op in _CONV_ACTS and id(node) not in out:
            prev = src(node)
            acts = _CONV_ACTS_HALF if h else _CONV_ACTS
            if prev is None or only_reader(prev.output[0]) is not node:
                continue
            if (prev.op_type in ("Conv", "FusedConv") and op in acts) or \
                    (prev.op_type == "Gemm" and op in _GEMM_ACTS) or residual.get(id(prev)) == "z" or \
                    (op == "Relu" and residual.get(id(prev)) == "nchwc"):
                out.add(id(node))
        elif op == "Add" and len(node.input) == 2:
            a, b = src(node, 0), src(node, 1)
            if view.is_activation(node.input[0]) and view.is_activation(node.input[1]):
                how = _residual_sum(node, (a, b), view) if \
                    view.numel(node.input[0]) == view.numel(node.input[1]) else None
                if how:
                    out.add(id(node))  # the residual sum inside its convolution
                    residual[id(node)] = how
                elif not h and getattr(only_reader(node.output[0]), "op_type", None) == "LayerNormalization":
                    out.add(id(node))  # SkipLayerNormalization
            elif (a is not None and a.op_type == "MatMul" and const(node.input[1]) and
                  only_reader(a.output[0]) is node) or \
                    (b is not None and b.op_type == "MatMul" and const(node.input[0]) and only_reader(b.output[0]) is node):
                out.add(id(node))  # a MatMul's bias: Gemm
        elif op in ("Mul", "Div") and not h and id(node) not in kept and len(node.input) == 2 and const(node.input[1]) and \
                view.numel(node.input[1]) == 1:
            a, reader = src(node, 0), only_reader(node.output[0])
            if (a is not None and a.op_type == "MatMul" and only_reader(a.output[0]) is node) or \
                    getattr(reader, "op_type", None) == "MatMul":
                out.add(id(node))  # a MatMul's scale, on its output or an input: FusedMatMul
    return out


# The elementwise ops whose count the fusion rules change, and the op a group onnxruntime fuses is left as in that
# count (a GELU and a SiLU as their last Mul): what comparing the rules with onnxruntime's own graphs counts
# (tests, ``benchmarks/ort_fusions.py``).
FUSABLE_ELEMENTWISE = frozenset({"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "Mul", "Add", "Div",
                                 "Erf", "Sub"})
_FUSED_LEFT_AS = {"Gelu": "Mul", "QuickGelu": "Mul"}


def elementwise_left(view, absorbed: set) -> Counter:
    """Op type -> how many ``FUSABLE_ELEMENTWISE`` compute nodes of ``view`` the rules leave (``absorbed``:
    from ``_ort_absorbed``)."""
    return Counter(n.op_type for n in view.compute if n.op_type in FUSABLE_ELEMENTWISE and id(n) not in absorbed)


def elementwise_built(nodes) -> Counter:
    """The same count over the nodes of a graph onnxruntime optimized (its fused groups as the op they are left as)."""
    return Counter(op for op in (_FUSED_LEFT_AS.get(n.op_type, n.op_type) for n in nodes) if op in FUSABLE_ELEMENTWISE)

# Ops onnxruntime's CPU provider runs on 8-bit data once a DequantizeLinear feeds them and a QuantizeLinear reads
# them, and ops whose quantize / de-quantize pair it drops (data movement and MaxPool).
_QLINEAR_UNARY = frozenset({"LeakyRelu", "Sigmoid", "Softmax", "AveragePool", "GlobalAveragePool"})
_QDQ_DROPPED = frozenset({"MaxPool", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Gather", "Slice"})


def _qdq_fused(view, kernels: dict) -> set:
    """id() of the activation QuantizeLinear / DequantizeLinear nodes (and a ReLU / Clip folded into a
    requantization) that onnxruntime's QDQ fusions fold into an integer kernel: the DQ feeding only a MAC
    op it runs as an integer kernel (``kernels``) and the Q after it; the pair around an 8-bit unary op
    (``_QLINEAR_UNARY``) or data movement (``_QDQ_DROPPED``) whose input and output are the unshared 8-bit
    tensors of ``_u8_in`` / ``_u8_out``. Their work is the requantization inside those kernels, priced
    apart from the quantize / de-quantize nodes onnxruntime runs (``q_fused`` / ``nodes_qfused``)."""
    out: set = set()
    producers = view.producers
    for node in view.compute:
        op = node.op_type
        if kernels.get(id(node)) == "int":
            out.update(id(dq) for dq in (producers.get(x) for x in node.input if x)
                       if dq is not None and dq.op_type == _DQ and view.is_activation(dq.output[0])
                       and _only_reader(dq.output[0], view) is node)
            nxt = _only_reader(node.output[0], view)
            if nxt is not None and nxt.op_type in ("Relu", "Clip"):
                out.add(id(nxt))
                nxt = _only_reader(nxt.output[0], view)
            if nxt is not None and nxt.op_type == "QuantizeLinear":
                out.add(id(nxt))
        elif (op in _QLINEAR_UNARY or op in _QDQ_DROPPED) and node.input and view.is_activation(node.input[0]):
            dq, q = producers.get(node.input[0]), _only_reader(node.output[0], view)
            if dq is not None and dq.op_type == _DQ and _only_reader(node.input[0], view) is node and q is not None \
                    and q.op_type == "QuantizeLinear" and _u8_in(node.input[0], view, producers) and _u8_out(node, view) is True:
                out.update((id(dq), id(q)))
    return out


def _only_reader(name: str, view):
    """The one node reading activation ``name``; None where several do, none does, or it is a graph output."""
    readers = _readers(name, view)
    return readers[0] if len(readers) == 1 else None


def _residual_sum(add, sources, view) -> str | None:
    """How onnxruntime folds a residual Add of two activations into a 2-D convolution producing one of
    them (a 1-D one keeps its Add): "nchwc" for a blocked convolution (``_nchwc``), which accumulates
    into the other input, so that input must itself be in the blocked layout (made by a blocked
    convolution, a pool, an Add, a Concat or a ReLU; a Clip, say, hands back the plain layout); only a
    ReLU after the sum folds too. "z" for any other float 2-D convolution (FusedConv's Z input), where
    an activation after the sum folds too. None where neither applies."""
    convs = [p for p in sources if p is not None and p.op_type in ("Conv", "FusedConv") and
             len(p.input) > 1 and _only_reader(p.output[0], view) is add and len(view.concrete(p.input[1]) or []) == 4]
    for conv in convs:
        if not _nchwc(conv, view):
            return "z"
    for conv in convs:
        other = view.producers.get(next((x for x in add.input if x != conv.output[0]), ""))
        if other is not None and (other.op_type in _NCHWC_LAYOUT or
                                  (other.op_type in ("Conv", "FusedConv") and _nchwc(other, view))):
            return "nchwc"
    return None


# Ops whose output onnxruntime keeps in the blocked NCHWc layout (beside its blocked convolutions).
_NCHWC_LAYOUT = frozenset({"Add", "Sum", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat"})


def _nchwc(conv, view) -> bool:
    """onnxruntime's blocked (NCHWc) convolution on x86: constant weights (not de-quantized every run)
    and the channels its rule takes (``_aligned``)."""
    if len(conv.input) < 2 or _dq_weight(conv, view.producers) or view.is_activation(conv.input[1]):
        return False
    return bool(_aligned(conv, view)[0])


def _blocked_input(c_in: int) -> bool:
    """Whether onnxruntime 1.32 (x86, AVX-512: blocks of 16) runs a group-1 2-D convolution with ``c_in``
    input channels on its blocked NCHWc kernel: under one block, or a multiple of 4 (it pads the rest of
    the block, and pads the output channels too). Against the graphs it built for 97 zoo graphs (originals
    and chprune25 variants), this matched the blocked convolutions of 86 exactly (1316 counted, 1376
    built); multiples of 16 only, 64 (1057)."""
    return c_in < 16 or c_in % 4 == 0


def _half_tensors(model, view) -> set:
    """Names of the float16 tensors of a graph: its float16 initializers and inputs, a Cast's output to
    float16, and every output of a node that reads one (the float16 converter puts a Cast back to
    float32 before any op it keeps in float32)."""
    import onnx

    half = onnx.TensorProto.FLOAT16
    out = {t.name for t in model.graph.initializer if t.data_type == half}
    out |= {i.name for i in model.graph.input if i.type.tensor_type.elem_type == half}
    for node in view.order:
        if node.op_type == "Cast":
            if view.attr(node, "to") == half:
                out.update(o for o in node.output if o)
        elif any(x in out for x in node.input if x):
            out.update(o for o in node.output if o)
    return out


def _kernels(view, inits: dict) -> dict:
    """id(node) -> "int" (a QDQ group onnxruntime fuses, ``_fused_qdq``) or "nbits" (a MatMul it packs
    into MatMulNBits, ``_nbits_matmul``) for the graph's float MAC ops; worked out once per graph."""
    out = {}
    for node in view.compute:
        if node.op_type not in _FLOAT_MAC_OPS:
            continue
        if _fused_qdq(node, view, view.producers):
            out[id(node)] = "int"
        elif _nbits_matmul(node, view, view.producers, inits):
            out[id(node)] = "nbits"
    return out


def _verdict(node, view, inits: dict, kernels: dict) -> str | None:
    """A MAC node's ``_kernels`` verdict as its layer row holds it: an integer group whose weight has a
    scale per output channel is ``int_pc``. onnxruntime requantizes such a group's outputs channel by
    channel: in the int8 profiles of the same networks, per-channel batch-1 QGemms took a median 14%
    longer than per-tensor ones (588 networks; 28% in the autoencoders), GEMMs 6%, convolutions 1%."""
    verdict = kernels.get(id(node))
    if verdict != "int" or len(node.input) < 2:
        return verdict
    dq = view.producers.get(node.input[_weight_slot(node.op_type)])
    scale = inits.get(dq.input[1]) if getattr(dq, "op_type", None) == _DQ and len(dq.input) > 1 else None
    return "int_pc" if scale is not None and math.prod(scale.dims) > 1 else verdict


def _feeds_float(name: str, view, kernels: dict) -> bool:
    """True unless every reader of the de-quantized weight ``name`` is a fused QDQ op or a MatMul
    onnxruntime turns into MatMulNBits (which reads the integer weight itself)."""
    readers = [view.compute[i] for i in view.consumers.get(name, ())]
    return not readers or not all(id(n) in kernels for n in readers)


def _nbits_matmul(node, view, producers: dict, inits: dict) -> bool:
    """A float MatMul/Gemm whose only de-quantized input is a 2-D 2/4/8-bit weight, which onnxruntime
    (1.20+, CPU) rewrites into MatMulNBits: integer weights unpacked inside the kernel, no per-run
    DequantizeLinear. Its conditions: the DQ feeds only this node; the scale is a scalar, per output
    column (axis 1) or blockwise along the input (axis 0); a Gemm must be a plain MatMul (alpha 1,
    transA/transB 0, beta 1)."""
    if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
        return False
    dq = producers.get(node.input[1])
    if getattr(dq, "op_type", None) != _DQ or not view.is_activation(node.input[0]) or \
            getattr(producers.get(node.input[0]), "op_type", None) == _DQ:
        return False
    w, scale = inits.get(dq.input[0]), inits.get(dq.input[1]) if len(dq.input) > 1 else None
    if w is None or scale is None or len(w.dims) != 2 or w.data_type not in _NBITS:
        return False
    if len(view.consumers.get(node.input[1], ())) != 1:
        return False
    axis, block = view.attr(dq, "axis", 1), view.attr(dq, "block_size", 0)
    if block:
        ok = axis == 0 and block >= 16 and block & (block - 1) == 0 and len(scale.dims) == 2
    else:
        ok = len(scale.dims) == 0 or (len(scale.dims) == 1 and scale.dims[0] == w.dims[1] and axis == 1)
    if ok and node.op_type == "Gemm":
        ok = view.attr(node, "alpha", 1.0) == 1.0 and not view.attr(node, "transA", 0) and \
            not view.attr(node, "transB", 0) and (len(node.input) < 3 or view.attr(node, "beta", 1.0) == 1.0)
    return ok


def _blocked_grouped(c_in: int, c_out: int, groups: int) -> tuple[bool, bool]:
    """(blocked, blocked without padding) for a 2-D convolution of ``groups`` > 1 on onnxruntime 1.32
    (x86, AVX-512): a depthwise one (one input and one output channel a group) runs the blocked kernel
    when its channels are a multiple of 4 (padded to the block of 16); any other grouped one only when
    each group's input and output channels are whole blocks of 16 (a 1-D one never: ``_aligned``).
    Against the host profiles' node names (``_nchwc`` kernels), this matches every depthwise layer row
    of the original and channel-pruned records (6968; the rule before it, channels a multiple of 8,
    called 804 of them plain), every grouped one (478) and all 464 grouped convolutions of the zoo's
    originals."""
    if c_in == groups and c_out == groups:
        return c_out % 4 == 0, c_out % 16 == 0
    per_in, per_out = divmod(c_in, groups), divmod(c_out, groups)
    whole = per_in[1] == 0 and per_out[1] == 0 and per_in[0] % 16 == 0 and per_out[0] % 16 == 0
    return whole, whole


def _aligned(node, view) -> tuple[float, float]:
    """(1/0 for a Conv onnxruntime runs on its blocked kernel, same for one that also needs no padding of
    its output channels): ``_blocked_input`` for group 1, ``_blocked_grouped`` otherwise."""
    w = view.concrete(node.input[_weight_slot(node.op_type)]) or []
    x = view.concrete(node.input[0]) or []
    if len(w) != 4 or node.op_type == "ConvTranspose":  # onnxruntime's blocked (NCHWc) convolutions are
        return 0.0, 0.0  # 2-D Convs only: a 1-D one (the TCNs) or a ConvTranspose (the UNets) runs plain
    groups = int(view.attr(node, "group", 1) or 1)
    c_out, c_in = int(w[0]), int(x[1]) if len(x) > 1 else int(w[1]) * groups  # the weights hold a group's inputs
    if groups == 1:  # (blocked, blocked without padding the outputs)
        blocked = _blocked_input(c_in)
        return float(blocked), float(blocked and c_out % 16 == 0)
    blocked, whole = _blocked_grouped(c_in, c_out, groups)
    return float(blocked), float(whole)


def frame_columns(structures: list) -> dict:
    """Column name -> values for a list of per-row structure dicts/None: NaN where a row has none, one of
    another ``STRUCTURE_VERSION``, or a value that is not a finite number (records may come from anywhere)."""
    out = np.full((len(structures), len(ALL_COLUMNS)), np.nan)
    plain = {int, float, type(None)}
    for i, s in enumerate(structures):
        if not (isinstance(s, dict) and s.get("version") == STRUCTURE_VERSION):
            continue
        values = [s.get(c) for c in ALL_COLUMNS]
        # JSON numbers and absent keys in one conversion (None -> NaN); anything else value by value
        out[i] = values if {type(v) for v in values} <= plain else [_number(v) for v in values]
    out[~np.isfinite(out)] = np.nan
    return {c: out[:, j].copy() for j, c in enumerate(ALL_COLUMNS)}


def identical_compute(X) -> np.ndarray:
    """Per row of frame ``X``: True where the variant's graph does the original's work, quantity for
    quantity (every ``q1_*`` equals its ``q0_*``: the same MACs in the same kernel kinds, the same
    activations, conversions and nodes). Zeroed weights (``sparse*``) and weights stored in fp16 and
    cast back once at load (``wq16``) are such settings on onnxruntime's CPU kernels; no row counts as
    one without the quantities (NaN, or columns absent)."""
    n = len(X)
    if not set(Q_COLUMNS) <= set(X.columns) or n == 0:
        return np.zeros(n, bool)
    a = X[[f"q0_{k}" for k in QUANTITIES]].to_numpy(float)
    b = X[[f"q1_{k}" for k in QUANTITIES]].to_numpy(float)
    return np.all(np.isfinite(a) & np.isfinite(b) & (a == b), axis=1)


def is_structure_column(name: str) -> bool:
    """True for the raw ``q0_*``/``q1_*`` quantities: inputs of the cost priors, not of the trees."""
    return name.startswith(("q0_", "q1_"))


def tree_inputs(X) -> list[str]:
    """The columns of frame ``X`` trees learn from: all but the raw structure quantities (the priors')."""
    return [c for c in X.columns if not is_structure_column(c)]


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return np.nan
    return float(value) if math.isfinite(value) else np.nan
