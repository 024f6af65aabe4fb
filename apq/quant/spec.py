"""The JSON spec of a fake-quantized static sub-net, and the module rebuilt from it.

A spec is plain JSON (``model.json`` of an export, the ``spec`` of ``winner.pt``)::

    {"format": "apq-quantized-subnet", "space": "fmnist", "space_config": {...SpaceConfig...},
     "genome": [int, ...] (n_genes,), "arch": "k5m96p48d66 ...", "block_ids": [int, ...],
     "bit_policy": {"fixed_bits": 8, "blocks": [{"block", "pw_w", "pw_a", "dw_w", "dw_a"}, ...]},
     "layers": [{"name", "weight_bits", "act_bits", "signed"}, ...]   (for reading; rebuilt from
               block_ids + bit_policy), "per_channel": true,
     "input_shape": [C, H, W], "num_classes": int,
     "normalization": {"mean": [C], "std": [C], "formula": "..."}   (added by ``apq export``)}

:func:`build_model` turns a spec into the :class:`~apq.supernet.network.SubNet` of
:func:`~apq.supernet.network.static_subnet` (the sub-net ``Supernet.extract`` gives for the
genome), with the quantizers of :func:`apq.quant.attach.attach_quantizers` attached: the same module tree and state-dict keys
as the model ``apq verify`` fine-tuned, so ``load_state_dict(strict=True)`` restores it. Nothing
of the supernet is needed (the space is rebuilt from the stored ``space_config``).
"""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
from torch import nn

from apq import __version__
from apq.errors import UserError
from apq.quant.attach import attach_quantizers
from apq.quant.policy import bit_policy, layer_plan
from apq.space.config import SpaceConfig
from apq.space.space import SearchSpace
from apq.space.spec import decode, genome_string
from apq.supernet.network import active_block_ids, static_subnet

FORMAT = "apq-quantized-subnet"
#: How a raw uint8 image becomes the network input (``mean``/``std`` in [0, 1] pixel units).
NORMALIZATION_FORMULA = "x = (pixel / 255 - mean[c]) / std[c], layout (N, C, H, W), float32"


def model_spec(space: SearchSpace, genome: np.ndarray, per_channel: bool = True) -> dict:
    """Spec (JSON-ready dict) of the fake-quantized sub-net of ``genome`` (n_genes,) int."""
    genome = np.asarray(genome, dtype=np.int64)
    cfg = space.config
    block_ids = active_block_ids(space, genome)
    policy = bit_policy(space, genome)
    arch = decode(space, genome)
    return {"format": FORMAT, "apq_version": __version__, "space": space.name,
            "space_config": json.loads(json.dumps(cfg.to_dict())), "genome": genome.tolist(),
            "arch": genome_string(space, genome),
            "architecture": {k: arch[k] for k in ("d", "ks", "mid_channels", "e")},
            "block_ids": block_ids, "bit_policy": policy,
            "layers": [asdict(layer) for layer in layer_plan(block_ids, policy)], "per_channel": bool(per_channel),
            "input_shape": [cfg.input_channels, cfg.input_size, cfg.input_size], "num_classes": cfg.num_classes}


def space_of(spec: dict) -> SearchSpace:
    """The search space a spec was made in (from its stored config); :class:`UserError` if unusable."""
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise UserError(f"not an {FORMAT} spec; use the model.json written by 'apq export'")
    space = SearchSpace(SpaceConfig.from_dict(spec["space_config"]))
    if len(spec["genome"]) != space.n_genes:
        raise UserError(f"spec genome has {len(spec['genome'])} genes, space '{space.name}' has {space.n_genes}")
    return space


def build_model(spec: dict) -> nn.Module:
    """Fake-quantized :class:`SubNet` of a spec, untrained (load the state dict next); eval mode, CPU.

    Input (N, C, H, W) float32 normalised images (see ``spec["normalization"]``); output logits
    (N, num_classes).
    """
    space = space_of(spec)
    net = static_subnet(space, np.asarray(spec["genome"], dtype=np.int64))
    if net.block_ids != list(spec["block_ids"]):
        raise UserError(f"spec block_ids {spec['block_ids']} do not follow from its genome ({net.block_ids})")
    return attach_quantizers(net, layer_plan(net.block_ids, spec["bit_policy"]), spec["per_channel"]).eval()
