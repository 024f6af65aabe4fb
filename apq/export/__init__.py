"""Export of a verified search winner: a standalone PyTorch module and an ONNX QDQ graph.

It starts from two formats that live below it, in :mod:`apq.quant` (``apq verify`` writes them):

- :mod:`apq.quant.spec`: the JSON spec of a fake-quantized static sub-net (space config, genome,
  block ids, layer plan, input shape, normalisation) and :func:`~apq.quant.spec.build_model`,
  which rebuilds the module from it without the supernet, ready for ``load_state_dict``.
- :mod:`apq.quant.winner`: ``winner.pt``, the fine-tuned model ``apq verify`` keeps for the joint
  winner (state dict + spec; ``torch.load(weights_only=True)``).

Then one small module per step (read in this order):

- :mod:`apq.export.qparams`: per layer, the integer weights, the per-channel weight scales with
  batch norm folded in, the float bias and the activation quantizer's grid, read off the model.
- :mod:`apq.export.onnx_graph`: the ONNX graph (QuantizeLinear/DequantizeLinear pairs) built with
  ``onnx.helper`` from those parameters.
- :mod:`apq.export.torch_module`: ``model.pt`` (plain state dict) + ``model.json`` (spec), and
  :func:`~apq.export.torch_module.load_torch_export` to get the module back.
- :mod:`apq.export.check`: onnxruntime inference, logit agreement and accuracy against the
  fake-quantized PyTorch model.
- :mod:`apq.export.run`: ``apq export`` end to end (read the run, write ``<run>/export/``).
"""
