"""``winner.pt``: the fine-tuned fake-quantized joint winner that ``apq verify`` keeps for export.

A plain container, loadable with ``torch.load(path, weights_only=True)``::

    {"format": "apq-verify-winner",
     "spec": model spec (see :mod:`apq.quant.spec`) - rebuilds the module without the supernet,
     "meta": {"genome": [...], "settings": verify settings, "measured_acc": %, "test_images": int},
     "state_dict": {name: CPU tensor} of the fake-quantized SubNet (weights, BN statistics and
                   affines, LSQ activation steps ``*.input_quant.step``)}
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from apq.errors import UserError
from apq.quant.spec import build_model, model_spec
from apq.io import atomic_path, load_weights_only
from apq.space.space import SearchSpace

#: File name of the winner in a run folder, beside verify.json.
WINNER = "winner.pt"
FORMAT = "apq-verify-winner"


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` as contiguous CPU tensors (a canonical layout, whatever the model ran in)."""
    return {name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()}


def save_winner(path: Path, model: nn.Module, space: SearchSpace, genome, per_channel: bool, meta: dict) -> Path:
    """Atomically write ``winner.pt`` for the fake-quantized ``model`` of ``genome`` (n_genes,)."""
    payload = {"format": FORMAT, "spec": model_spec(space, np.asarray(genome), per_channel),
               "meta": json.loads(json.dumps(meta)), "state_dict": cpu_state_dict(model)}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_winner(path: Path) -> dict:
    """The payload of a ``winner.pt`` (weights_only); one-line :class:`UserError` if unusable."""
    payload = load_weights_only(path, "delete it and rerun 'apq verify' on the run")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path} is not an {FORMAT} file; delete it and rerun 'apq verify'")
    return payload


def load_winner(path: Path) -> tuple[nn.Module, dict]:
    """(fake-quantized model in eval mode on CPU, payload) of a ``winner.pt``."""
    payload = read_winner(path)
    model = build_model(payload["spec"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload
