"""Graph-structure, input and activation-memory features (counts, depth, branching, bytes)."""
from __future__ import annotations

import onnx

from advisor.features.graph import GraphView
from advisor.features.macs import ELEMENTWISE, NORM, POOL, QUANT, RESHAPE_LIKE, SOFTMAX, NodeCost

ACTIVATION_BYTES_PER_ELEMENT = 4  # activations are counted as fp32, whatever the graph's dtype
_MERGE_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Concat", "Sum", "Max", "Min", "Mean"})
_INT_TYPES = frozenset({onnx.TensorProto.INT32, onnx.TensorProto.INT64, onnx.TensorProto.UINT32,
                        onnx.TensorProto.UINT64})


def structure_features(view: GraphView, costs: list[NodeCost]) -> dict[str, float]:
    """Node counts by kind, longest path, branching and merges over the compute nodes."""
    compute = view.compute
    cats = [c.category for c in costs]
    ops = [n.op_type for n in compute]
    producer = {o: k for k, n in enumerate(compute) for o in n.output if o}
    preds = [sorted({producer[x] for x in n.input if x in producer and view.is_activation(x)}) for n in compute]
    depth: list[int] = []
    for k in range(len(compute)):
        depth.append(1 + max((depth[p] for p in preds[k] if p < k), default=0))
    fanout = [len(v) for name, v in view.consumers.items() if view.is_activation(name)]
    extra_edges = sum(f - 1 for f in fanout if f > 1)
    merges = sum(1 for n in compute if n.op_type in _MERGE_OPS
                 and len({x for x in n.input if view.is_activation(x)}) >= 2)
    return {
        "n_nodes": float(sum(1 for n in view.order if n.op_type != "Constant")),
        "n_compute_nodes": float(len(compute)),
        "n_conv": float(sum(c in ("conv", "conv_grouped") for c in cats)),
        "n_dwconv": float(cats.count("conv_depthwise")),
        "n_gemm": float(cats.count("gemm")),
        "n_matmul_dynamic": float(cats.count("matmul_dynamic")),
        "n_recurrent": float(cats.count("recurrent")),
        "n_attention_softmax": float(_attention_softmax(compute, cats, preds)),
        "n_norm": float(sum(op in NORM for op in ops)),
        "n_elementwise": float(sum(op in ELEMENTWISE for op in ops)),
        "n_pool": float(sum(op in POOL for op in ops)),
        "n_reshape_like": float(sum(op in RESHAPE_LIKE for op in ops)),
        "n_quant_nodes": float(sum(op in QUANT for op in ops)),
        "n_merge_nodes": float(merges),
        "n_branch_points": float(sum(f > 1 for f in fanout)),
        "branchiness": extra_edges / max(1, len(compute)),
        "depth_longest_path": float(max(depth, default=0)),
    }


def _attention_softmax(compute: list, cats: list, preds: list[list[int]]) -> int:
    """Softmax nodes within 3 hops after, or 2 hops before, a MatMul of two activations."""
    succs: list[list[int]] = [[] for _ in compute]
    for k, ps in enumerate(preds):
        for p in ps:
            succs[p].append(k)

    def near(start: int, links: list[list[int]], hops: int) -> bool:
        frontier = {start}
        for _ in range(hops):
            frontier = {j for i in frontier for j in links[i]}
            if any(cats[j] == "matmul_dynamic" for j in frontier):
                return True
        return False

    return sum(1 for k, n in enumerate(compute)
               if n.op_type in SOFTMAX and (near(k, preds, 3) or near(k, succs, 2)))


def activation_features(view: GraphView) -> dict[str, float]:
    """Activation bytes (fp32-equivalent): the sum over all activations, and the peak live set.

    The peak walks the topological order: a tensor is live from the step that produces it (graph
    inputs: step 0) to its last reader (graph outputs: the end), and the estimate is the largest
    total of live tensors at any step. No in-place reuse or fusion is assumed.
    """
    compute = view.compute
    steps = max(1, len(compute))
    last = {name: ks[-1] for name, ks in view.consumers.items()}
    outputs = set(view.outputs)
    live = [0] * (steps + 1)
    total = 0
    tensors = [(i.name, 0) for i in view.inputs]
    tensors += [(o, k) for k, n in enumerate(compute) for o in n.output if view.is_activation(o)]
    for name, start in tensors:
        size = view.numel(name) * ACTIVATION_BYTES_PER_ELEMENT
        end = steps - 1 if name in outputs else max(start, last.get(name, start))
        live[start] += size
        live[end + 1] -= size
        total += size
    peak = running = 0
    for delta in live[:-1]:
        running += delta
        peak = max(peak, running)
    return {"activation_bytes_total": float(total), "activation_bytes_peak_est": float(peak)}


def input_features(view: GraphView) -> dict[str, float]:
    """Count and size of graph inputs, image resolution (NCHW/NHWC H) and sequence length (T)."""
    resolution = seq = 0
    elements = 0
    for vi in view.inputs:
        dims = view.concrete(vi.name) or []
        elements += view.numel(vi.name)
        is_int = vi.type.tensor_type.elem_type in _INT_TYPES
        if len(dims) == 4 and not resolution:
            nhwc = dims[3] <= 4 < dims[1]
            resolution = dims[1] if nhwc else dims[2]
        elif len(dims) in (2, 3) and not seq and (is_int or len(dims) == 3):
            seq = dims[1]  # [B, T] token ids or batch-first [B, T, F] sequences
    return {"n_inputs": float(len(view.inputs)), "input_elements": float(elements),
            "input_resolution": float(resolution), "sequence_length": float(seq)}
