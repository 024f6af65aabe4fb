"""ONNX graph of a fake-quantized static sub-net, in QDQ form (opset 13).

Why ``onnx.helper`` rather than ``torch.onnx.export``: the sub-net is a fixed, small vocabulary
(conv + BN + ReLU6, residual add, global pool, linear), and every node must carry exactly the
grid the fake quantizers used: folded per-channel scales, LSQ steps, sub-8-bit ranges. Writing
the nodes directly makes that explicit and testable, needs no tracing of the custom autograd
function (``LsqQuantize``), and does not depend on the exporter of the installed torch (torch
2.13's default dynamo exporter needs ``onnxscript``, which this project does not install).

Layout of one quantized conv (``n`` integers, ``s`` scales, see :mod:`apq.export.qparams`)::

    x --[Clip(q_min*step, q_max*step)]--> QuantizeLinear(step, zp=0) -> DequantizeLinear --+
    W' = n' * s' (float initializer) -> QuantizeLinear(s', axis=0) -> DequantizeLinear ----+--> Conv(+bias) [-> Clip(0, 6)]

- Activations: one scale per tensor; int8 for signed grids, uint8 for unsigned, zero point 0.
  At 8 bits QuantizeLinear's saturation *is* the grid ([-128, 127] / [0, 255]). Below 8 bits
  a float-side Clip to ``[q_min*step, q_max*step]`` comes first: a 4-bit unsigned activation
  becomes uint8 values in [0, 15], a 4-bit signed one int8 values in [-8, 7] (at 2 bits [0, 3]
  and [-2, 1]: ONNX has no 2- or 4-bit type, so every width below 8 is held this way), exactly
  ``clamp(round(x / step), q_min, q_max)`` (clipping to the end levels, then rounding, gives
  the end levels; inside the range the Clip is the identity). Keeping Clip before Q leaves each
  Q/DQ pair adjacent, the form QDQ-aware runtimes look for.
- Weights: one scale per output channel (``axis=0``), int8, zero point 0. BN is folded into
  the scale, so the integers are the fake quantizer's, in its symmetric ``[-q_w, q_w]``
  (``[-1, 1]`` at 2 bits, ``[-7, 7]`` at 4, ``[-31, 31]`` at 6, ``[-127, 127]`` at 8); the float initializer
  lies on that grid, so its QuantizeLinear reproduces them exactly.
- No BatchNormalization node; the float bias is ``beta - mean * gamma / sqrt(var + eps)``.

Input ``input`` float32 (N, C, H, W) normalised images (N symbolic); output ``logits`` (N, classes).
"""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from apq.export.qparams import ActGrid, QuantLayer, quant_layer

OPSET = 13  # the first opset with per-axis QuantizeLinear / DequantizeLinear
INPUT, OUTPUT = "input", "logits"


class GraphBuilder:
    """Accumulates nodes and initializers; every tensor name is unique."""

    def __init__(self):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output


def act_qdq(g: GraphBuilder, x: str, grid: ActGrid, name: str) -> str:
    """Per-tensor fake quantization of ``x`` on ``grid``: [Clip ->] QuantizeLinear -> DequantizeLinear."""
    if grid.needs_clip:
        low, high = grid.clip_range
        x = g.op("Clip", [x, g.const(f"{name}.clip_min", low), g.const(f"{name}.clip_max", high)], f"{name}.clip")
    scale = g.const(f"{name}.scale", np.float32(grid.step))
    zero = g.const(f"{name}.zero_point", np.array(0, dtype=np.int8 if grid.signed else np.uint8))
    q = g.op("QuantizeLinear", [x, scale, zero], f"{name}.quantized")
    return g.op("DequantizeLinear", [q, scale, zero], f"{name}.dequantized")


def weight_qdq(g: GraphBuilder, layer: QuantLayer) -> str:
    """Per-output-channel (axis 0) QuantizeLinear -> DequantizeLinear of the folded weight."""
    name = f"{layer.name}.weight"
    weight = g.const(name, layer.float_weight)
    scale = g.const(f"{name}.scale", layer.scale)
    zero = g.const(f"{name}.zero_point", np.zeros(len(layer.scale), dtype=np.int8))
    q = g.op("QuantizeLinear", [weight, scale, zero], f"{name}.quantized", axis=0)
    return g.op("DequantizeLinear", [q, scale, zero], f"{name}.dequantized", axis=0)


def conv_bn(g: GraphBuilder, seq: nn.Sequential, x: str, name: str) -> str:
    """``Sequential(HookedConv2d, BatchNorm2d[, ReLU6])`` -> quantized Conv with BN folded [+ Clip(0, 6)]."""
    layer = quant_layer(f"{name}.0", seq[0], seq[1])
    xq = act_qdq(g, x, layer.act, f"{name}.0.input")
    k = list(layer.int_weight.shape[2:])
    y = g.op("Conv", [xq, weight_qdq(g, layer), g.const(f"{name}.0.bias", layer.bias)], f"{name}.0.output",
             kernel_shape=k, strides=list(layer.stride), pads=list(layer.padding) * 2, group=layer.groups,
             dilations=[1, 1])
    if len(seq) > 2:
        if not isinstance(seq[2], nn.ReLU6):
            raise TypeError(f"{name}: expected ReLU6 after the batch norm, got {seq[2]!r}")
        y = g.op("Clip", [y, g.const(f"{name}.relu6_min", np.float32(0)), g.const(f"{name}.relu6_max", np.float32(6))],
                 f"{name}.relu6")
    return y


def block(g: GraphBuilder, module: nn.Module, x: str, name: str, parts: tuple[str, ...]) -> str:
    """A chain of conv_bn parts with an optional residual Add (FirstBlock, StaticBlock)."""
    h = x
    for part in parts:
        h = conv_bn(g, getattr(module, part), h, f"{name}.{part}")
    return g.op("Add", [x, h], f"{name}.residual") if module.residual else h


def linear(g: GraphBuilder, module: nn.Module, x: str, name: str, output: str) -> str:
    """Quantized ``HookedLinear`` as Gemm(x_q, W_q^T) + bias."""
    layer = quant_layer(name, module)
    xq = act_qdq(g, x, layer.act, f"{name}.input")
    return g.op("Gemm", [xq, weight_qdq(g, layer), g.const(f"{name}.bias", layer.bias)], output, transB=1)


def subnet_graph(model: nn.Module, spec: dict | None = None) -> onnx.ModelProto:
    """ONNX model of a fake-quantized :class:`~apq.supernet.network.SubNet` (eval semantics).

    ``spec`` (optional, JSON-ready) fixes the input's H and W (else symbolic) and is stored as the
    model's ``apq_spec`` metadata (genome, bit policy, normalisation).
    """
    g = GraphBuilder()
    x = conv_bn(g, model.stem, INPUT, "stem")
    x = block(g, model.first, x, "first", ("depthwise", "project"))
    for j, static in enumerate(model.blocks):
        x = block(g, static, x, f"blocks.{j}", ("expand", "depthwise", "project"))
    x = conv_bn(g, model.tail.final, x, "tail.final")
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x], "tail.pool")], "tail.flatten", axis=1)
    linear(g, model.tail.classifier, x, "tail.classifier", OUTPUT)
    height, width = (spec or {}).get("input_shape", [None, None, None])[1:]
    classes = model.tail.classifier.out_features
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", model.stem[0].in_channels, height, width])]
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", classes])]
    graph = helper.make_graph(g.nodes, "apq_quantized_subnet", inputs, outputs, g.initializers)
    opset = [helper.make_opsetid("", OPSET)]
    onnx_model = helper.make_model(graph, opset_imports=opset, producer_name="apq",
                                   ir_version=helper.find_min_ir_version_for(opset))
    if spec is not None:
        helper.set_model_props(onnx_model, {"apq_spec": json.dumps(spec)})
    return onnx_model
