"""Channel-tracing rules for ops that reshape, reduce, resize or pad a channel tensor.

Each keeps the channel axis (axis 1) intact or flattens it into ``[N, C*H*W]``; anything that would
move or mix channels freezes them instead. Mixed into channel_trace's tracer, whose attributes
(``layouts``, ``shapes``, ``consts``, ``cg``) these methods use.
"""
from __future__ import annotations

import math

import onnx

from advisor.compression.channel_groups import Layout, attr, const_values


class ShapeRules:
    """Methods of the tracer for Flatten, Reshape, Squeeze, Reduce*, Resize, Upsample and Pad."""

    def _data_layout(self, node: onnx.NodeProto):
        """Layout of input 0 (None if it has none or is flat); layouts on other inputs freeze."""
        self._freeze_inputs(node, f"non-data input of {node.op_type}", skip=(0,))
        lay = self.layouts.get(node.input[0])
        if lay is not None and lay.flat:
            self.cg.freeze(lay, f"flattened channels into {node.op_type}")
            return None
        return lay

    def _known_shapes(self, node: onnx.NodeProto):
        in_shape, out_shape = self.shapes.get(node.input[0]), self.shapes.get(node.output[0])
        if not in_shape or not out_shape or None in in_shape[1:] or None in out_shape[1:]:
            return None, None
        return in_shape, out_shape

    def _flatten(self, i: int, node: onnx.NodeProto) -> None:
        lay = self._data_layout(node)
        if lay is None:
            return
        in_shape, out_shape = self._known_shapes(node)
        if in_shape is None:
            self.cg.freeze(lay, f"{node.op_type} of a tensor of unknown shape")
            return
        inner = math.prod(in_shape[2:])
        keeps_nc = len(out_shape) >= 2 and out_shape[:2] == (in_shape[0], lay.channels)
        if node.op_type == "Flatten" and attr(node, "axis", 1) == 1:
            self._set(node, Layout(lay.segments, inner, True))
        elif node.op_type == "Squeeze" and keeps_nc:
            self._set(node, Layout(lay.segments, 1, len(out_shape) == 2))
        elif node.op_type == "Reshape" and self._reshape(i, node, lay, in_shape, out_shape):
            pass
        else:
            self.cg.freeze(lay, f"{node.op_type} across the channel axis")

    def _reshape(self, i: int, node: onnx.NodeProto, lay: Layout, in_shape, out_shape) -> bool:
        """Reshape keeping [N, C, ...] or making [N, C*H*W]; an explicit C in the target is fixed."""
        inner = math.prod(in_shape[2:])
        target = self.consts.get(node.input[1])
        if target is None or out_shape[0] != in_shape[0] or len(target.dims) != 1:
            return False
        if len(out_shape) == 2 and out_shape[1] == lay.channels * inner:
            new = Layout(lay.segments, inner, True)
        elif len(out_shape) >= 3 and out_shape[1] == lay.channels:
            new = Layout(lay.segments)
        else:
            return False
        self.cg.shape_fixes[(i, 1)] = (1, new)
        self._set(node, new)
        return True

    def _reduce(self, i: int, node: onnx.NodeProto) -> None:
        """ReduceMean/Max/... over spatial axes only (``x.mean((2, 3))``) keeps the channels."""
        lay = self._data_layout(node)
        if lay is None:
            return
        in_shape, out_shape = self._known_shapes(node)
        axes = attr(node, "axes") or (const_values(self.consts, node.input[1]) if len(node.input) > 1 else None)
        if in_shape is None or not axes:
            self.cg.freeze(lay, f"{node.op_type} over unknown axes")
            return
        axes = {a % len(in_shape) for a in axes}
        if axes & {0, 1}:
            self.cg.freeze(lay, f"{node.op_type} over the channel axis")
            return
        self._set(node, Layout(lay.segments, 1, len(out_shape) == 2))

    def _resize(self, i: int, node: onnx.NodeProto) -> None:
        """Resize/Upsample that scales only spatial axes; an explicit C in ``sizes`` is fixed."""
        lay = self._data_layout(node)
        if lay is None:
            return
        axes = attr(node, "axes")
        scales_at = 1 if node.op_type == "Upsample" else 2
        scales = const_values(self.consts, node.input[scales_at]) if len(node.input) > scales_at else None
        sizes = const_values(self.consts, node.input[3]) if len(node.input) > 3 else None
        if axes is not None:
            rank = len(self.shapes.get(node.input[0], ()))
            ok = rank > 0 and 1 not in {a % rank for a in axes}
        elif sizes:
            ok = len(sizes) > 1 and sizes[1] == lay.channels
            if ok:
                self.cg.shape_fixes[(i, 3)] = (1, lay)
        else:
            ok = bool(scales) and len(scales) > 1 and scales[1] == 1
        if ok:
            self._set(node, lay)
        else:
            self.cg.freeze(lay, f"{node.op_type} of the channel axis")

    def _pad(self, i: int, node: onnx.NodeProto) -> None:
        """Pad with constant pads that leave the channel axis alone."""
        lay = self._data_layout(node)
        if lay is None:
            return
        rank = len(self.shapes.get(node.input[0], ()))
        pads = attr(node, "pads") or (const_values(self.consts, node.input[1]) if len(node.input) > 1 else None)
        axes = const_values(self.consts, node.input[3]) if len(node.input) > 3 and node.input[3] else None
        if axes is not None:
            ok = rank > 0 and 1 not in {a % rank for a in axes}
        else:
            ok = rank > 1 and pads is not None and len(pads) == 2 * rank and pads[1] == pads[1 + rank] == 0
        if ok:
            self._set(node, lay)
        else:
            self.cg.freeze(lay, "Pad of the channel axis")
