"""NAS-Performance-Modeling's synthetic CNNs: model name -> architecture -> ONNX graph (onnx.helper).

The names encode the architecture (grammar below); the paddings follow the generator scripts of
github.com/iCAS-Lab/NAS-Performance-Modeling (``model_generation/*.py``), and every one of the
14 195 synthetic rows' ``Total Parameters`` is reproduced by ``ConvNetSpec.param_count`` (checked by
``datasets/build_imports.py``). Grammar::

    convnet_L{layers}_F{filters}_K{k}x{k}_W{side}              plain: L Conv(k) + ReLU, then Linear(10)
    convnet_L{layers}_F{filters}_K{k}x{k}_W{side}_DWS          depthwise-separable: depthwise Conv(k),
                                                             pointwise Conv(1x1), ReLU; then Linear(10)
    convnet_L{layers}_F{filters}_K{a}x{a}_{na}_K{b}x{b}_{nb}_W{side}
                                                             mixed: kernels a, b, a, b, ... (na + nb = L)

Every conv has stride 1, bias, and ``filters`` output channels; the input is 1x3xWxW float32; the
last feature map is flattened into a Linear layer with 10 outputs. Weights follow torch's default
initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is what the generator's untrained models
held; for speed each tensor tiles one seeded block of 2**20 draws (see ``WeightSource``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np
import onnx
from onnx import TensorProto, helper, shape_inference

from advisor.errors import DataError
from advisor.modelio import LoadedModel

OPSET = 17
CLASSES = 10
_NAME = re.compile(r"^convnet_L(?P<layers>\d+)_F(?P<filters>\d+)_K(?P<k1>\d+)x(?P=k1)"
                   r"(?:_(?P<n1>\d+)_K(?P<k2>\d+)x(?P=k2)_(?P<n2>\d+))?_W(?P<side>\d+)(?P<dws>_DWS)?$")


@dataclass(frozen=True)
class ConvNetSpec:
    """One synthetic CNN: ``kernels`` holds each conv layer's square kernel side (pixels)."""

    filters: int
    kernels: tuple[int, ...]
    side: int
    separable: bool = False
    mixed: bool = False

    @property
    def layers(self) -> int:
        return len(self.kernels)

    @property
    def name(self) -> str:
        """The source's model name (``parse_name`` inverts it)."""
        k = self.kernels
        if self.mixed:
            a, b = k[0], k[1]
            ks = f"K{a}x{a}_{k.count(a)}_K{b}x{b}_{k.count(b)}"
        else:
            ks = f"K{k[0]}x{k[0]}"
        return f"convnet_L{self.layers}_F{self.filters}_{ks}_W{self.side}" + ("_DWS" if self.separable else "")

    def paddings(self) -> tuple[int, ...]:
        """Symmetric padding of each conv (pixels), as the generator scripts set it.

        Plain nets pad 1 for 1x1 and 3x3 kernels, else 2; separable nets pad 1 only for 3x3; mixed nets
        pad 2 until the first odd kernel and 1 from then on (the scripts never reset the variable).
        """
        if self.separable:
            return tuple(1 if k == 3 else 2 for k in self.kernels)
        if not self.mixed:
            return tuple(1 if k in (1, 3) else 2 for k in self.kernels)
        pads, pad = [], 2
        for k in self.kernels:
            pad = 1 if k % 2 == 1 else pad
            pads.append(pad)
        return tuple(pads)

    def sides(self) -> list[int]:
        """Feature-map side after each conv layer (pixels): side - k + 2 * pad + 1."""
        out, s = [], self.side
        for k, p in zip(self.kernels, self.paddings(), strict=True):
            s = s - k + 2 * p + 1
            out.append(s)
        return out

    def in_channels(self) -> list[int]:
        """Input channels of each conv layer: 3, then ``filters``."""
        return [3] + [self.filters] * (self.layers - 1)

    def param_count(self) -> int:
        """Weights and biases of all layers (what torchinfo's ``total_params`` reported)."""
        n, c = 0, 3
        for k in self.kernels:
            n += (c * k * k + c + c * self.filters + self.filters) if self.separable else c * self.filters * k * k + self.filters
            c = self.filters
        return n + self.filters * self.sides()[-1] ** 2 * CLASSES + CLASSES


def weight_stand_in(spec: ConvNetSpec, max_fc_elements: int = 1 << 20) -> ConvNetSpec:
    """The same conv stack at a smaller input side when the Linear layer would exceed ``max_fc_elements``.

    Conv weights do not depend on the input side, so their shapes and init bounds are unchanged; the
    Linear layer keeps a fan-in of at least every conv's, so its init bound (1/sqrt(fan_in)) stays the
    smallest, as in the full network. Weight statistics measured on the stand-in thus follow the same
    law as the full network's, at a fraction of the bytes (see ``nasperf.NasperfFeatures``).
    """
    flat = spec.filters * spec.sides()[-1] ** 2
    if flat * CLASSES <= max_fc_elements:
        return spec
    deltas = [s - spec.side for s in spec.sides()]
    fan_ins = [(1 if spec.separable else c) * k * k for c, k in zip(spec.in_channels(), spec.kernels, strict=True)]
    final = math.ceil(math.sqrt(max(fan_ins + [spec.filters]) / spec.filters))
    side = max(1 - min(deltas), final - deltas[-1])
    return replace(spec, side=min(spec.side, side))


def parse_name(name: str) -> ConvNetSpec:
    """The architecture behind a synthetic model name; DataError when the name does not fit the grammar."""
    m = _NAME.match(name)
    if not m:
        raise DataError(f"'{name}' is not a NAS-Performance-Modeling model name "
                        "(expected e.g. convnet_L3_F512_K3x3_W70, ..._DWS, or convnet_L5_F128_K1x1_3_K3x3_2_W80).")
    layers, k1 = int(m["layers"]), int(m["k1"])
    if m["k2"] is None:
        kernels = (k1,) * layers
    else:
        n1, n2, k2 = int(m["n1"]), int(m["n2"]), int(m["k2"])
        if n1 + n2 != layers or n1 != (layers + 1) // 2:
            raise DataError(f"'{name}': kernel counts {n1} + {n2} do not alternate over {layers} layers.")
        kernels = tuple(k1 if i % 2 == 0 else k2 for i in range(layers))
    if layers < 1 or min(kernels) < 1:
        raise DataError(f"'{name}': needs at least one layer and kernels of at least 1x1.")
    return ConvNetSpec(filters=int(m["filters"]), kernels=kernels, side=int(m["side"]),
                       separable=bool(m["dws"]), mixed=m["k2"] is not None)


class WeightSource:
    """Float32 tensors drawn U(-bound, bound): a seeded block of ``block`` draws, scaled and tiled.

    Tiling keeps every statistic the feature extractor reads (per-channel max|w|, std, round-trip
    SQNR on a strided sample) at its i.i.d. value, at memory-copy speed instead of RNG speed.
    """

    def __init__(self, seed: int = 0, block: int = 1 << 20) -> None:
        self._unit = np.random.default_rng(seed).uniform(-1.0, 1.0, block).astype(np.float32)
        self._scaled: dict[float, bytes] = {}

    def fill(self, t: TensorProto, name: str, dims: list[int], bound: float) -> None:
        """Make ``t`` (e.g. ``graph.initializer.add()``) the float32 tensor ``name`` of shape ``dims``."""
        raw = self._scaled.get(bound)
        if raw is None:
            raw = self._scaled[bound] = (self._unit * np.float32(bound)).tobytes()
        reps, rest = divmod(math.prod(dims) * 4, len(raw))
        t.name, t.data_type = name, TensorProto.FLOAT
        t.dims.extend(dims)
        t.raw_data = raw * reps + raw[:rest]


def build_onnx(spec: ConvNetSpec, weights: WeightSource | None = None) -> onnx.ModelProto:
    """The network as ONNX (opset 17), laid out as torch.onnx exports it: Conv/ReLU chain, Reshape, Gemm."""
    return _assemble(spec, weights or WeightSource(), mode="weights")


def loaded_model(spec: ConvNetSpec, weights: WeightSource | None = None) -> LoadedModel:
    """``build_onnx`` as a LoadedModel; shapes are inferred on a weight-free copy (no payload copies).

    ``weights=None`` gives the weight-free model: initializers keep dims and dtype but are marked
    external and hold no bytes, so the feature extractor reads every shape and no value.
    """
    model = _assemble(spec, weights, mode="weights" if weights else "external")
    inferred = shape_inference.infer_shapes(_assemble(spec, None, mode="inputs"), strict_mode=True)
    return LoadedModel(path=None, model=model, inferred=inferred)


def _assemble(spec: ConvNetSpec, weights: WeightSource | None, mode: str) -> onnx.ModelProto:
    """The model. ``mode``: "weights" (initializers filled), "external" (initializers with dims, no
    bytes), "inputs" (each weight a typed graph input: a skeleton for shape inference)."""
    model = helper.make_model(helper.make_graph([], spec.name, [], []), ir_version=8,
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="advisor.importers.nasperf_arch")
    g = model.graph
    g.input.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, spec.side, spec.side]))

    def param(name: str, dims: list[int], bound: float) -> str:
        if mode == "inputs":
            g.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        elif mode == "weights":
            weights.fill(g.initializer.add(), name, dims, bound)
        else:
            t = g.initializer.add(name=name, data_type=TensorProto.FLOAT, dims=dims,
                                  data_location=TensorProto.EXTERNAL)
            t.external_data.add(key="location", value="not-materialized")
        return name

    x, c = "input", 3
    for i, (k, pad) in enumerate(zip(spec.kernels, spec.paddings(), strict=True)):
        prefix = f"conv_layers.{2 * i}"
        if spec.separable:
            x = _conv(g, param, x, f"{prefix}.depthwise", c, c, k, pad, group=c)
            x = _conv(g, param, x, f"{prefix}.pointwise", c, spec.filters, 1, 0)
        else:
            x = _conv(g, param, x, prefix, c, spec.filters, k, pad)
        g.node.append(helper.make_node("Relu", [x], [f"/conv_layers.{2 * i + 1}/Relu_output_0"]))
        x, c = g.node[-1].output[0], spec.filters
    flat = c * spec.sides()[-1] ** 2
    shape = helper.make_tensor("/Constant_output_0_value", TensorProto.INT64, [2], [1, -1])
    g.node.append(helper.make_node("Constant", [], ["/Constant_output_0"], value=shape))
    g.node.append(helper.make_node("Reshape", [x, "/Constant_output_0"], ["/Reshape_output_0"], allowzero=0))
    bound = 1.0 / math.sqrt(flat)
    g.node.append(helper.make_node("Gemm", ["/Reshape_output_0", param("fc.weight", [CLASSES, flat], bound),
                                            param("fc.bias", [CLASSES], bound)], ["logits"],
                                   alpha=1.0, beta=1.0, transB=1))
    g.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES]))
    return model


def _conv(g: onnx.GraphProto, param, x: str, prefix: str, c_in: int, c_out: int, k: int, pad: int,
          group: int = 1) -> str:
    bound = 1.0 / math.sqrt(c_in // group * k * k)  # torch's default init: 1/sqrt(fan_in)
    w = param(f"{prefix}.weight", [c_out, c_in // group, k, k], bound)
    b = param(f"{prefix}.bias", [c_out], bound)
    out = f"/{prefix}/Conv_output_0"
    g.node.append(helper.make_node("Conv", [x, w, b], [out], dilations=[1, 1], group=group, kernel_shape=[k, k],
                                   pads=[pad] * 4, strides=[1, 1]))
    return out
