"""The PyTorch half of an export: ``model.pt`` (a plain state dict) and ``model.json`` (its spec).

``model.pt`` holds only tensors, so ``torch.load(path, weights_only=True)`` reads it; the module
it belongs to is rebuilt from ``model.json`` by :func:`apq.quant.spec.build_model` (no supernet,
no pickled classes). :func:`load_torch_export` does both::

    model = load_torch_export("results/fmnist/fpga/latest/export")   # eval mode, CPU
    logits = model(images)            # images: (N, 1, 28, 28) float32, normalised as in model.json
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from apq.quant.spec import build_model
from apq.quant.winner import cpu_state_dict
from apq.io import atomic_path, write_json

STATE = "model.pt"
SPEC = "model.json"


def write_torch_export(folder: Path, model: nn.Module, spec: dict) -> list[str]:
    """Write ``model.pt`` and ``model.json`` of ``model`` into ``folder``; returns the file names."""
    with atomic_path(folder / STATE) as tmp:
        torch.save(cpu_state_dict(model), tmp)
    write_json(folder / SPEC, spec)
    return [STATE, SPEC]


def load_torch_export(folder: str | Path) -> nn.Module:
    """The fake-quantized sub-net of an export folder (eval mode, CPU), rebuilt from its spec."""
    folder = Path(folder)
    model = build_model(json.loads((folder / SPEC).read_text()))
    model.load_state_dict(torch.load(folder / STATE, map_location="cpu", weights_only=True))
    return model.eval()
