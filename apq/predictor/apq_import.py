"""Import APQ's released quantization-aware accuracy predictor into our :class:`QuantMLPPredictor`.

APQ's checkpoint (``utils/accuracy_predictor.py`` of mit-han-lab/apq) is a state dict of::

    layers.{i}.0.weight/bias   (H, 520) then (H, H): hidden Linear layers, each followed by ReLU
    quantize_fc.weight/bias    (H, 252): the bit branch, added to the *output* of layers.0
    regressor.weight/bias      (1, H)

for the ``imagenet-apq`` encoding (520 fp32 + 252 bit columns). APQ trains on accuracy / 100
(``y_all.append(v / 100.)``), so its regressor is scaled by 100 here to predict percent.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from apq.errors import UserError
from apq.io import load_weights_only
from apq.predictor.estimator import QuantMLPPredictor
from apq.predictor.load import predictor_path, save_predictor
from apq.predictor.network import AccuracyMLP
from apq.space.encoding import Encoder
from apq.space.space import SearchSpace

#: APQ's predictor outputs accuracy as a fraction; ours in percent.
APQ_OUTPUT_SCALE = 100.0
_HIDDEN = re.compile(r"^layers\.(\d+)\.0\.(weight|bias)$")


def _rename(key: str) -> str | None:
    """Our parameter name for an APQ key, None for a key APQ's predictor does not have."""
    match = _HIDDEN.match(key)
    if match:
        return f"hidden.{match.group(1)}.{match.group(2)}"
    fixed = {"quantize_fc.weight": "bit_branch.weight", "quantize_fc.bias": "bit_branch.bias",
             "regressor.weight": "output.weight", "regressor.bias": "output.bias"}
    return fixed.get(key)


def _unwrap(raw, source: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded file: plain, under ``state_dict``, or with ``module.`` prefixes."""
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{source} is not a state dict of tensors; pass APQ's acc_quant.pt predictor checkpoint")
    return {k.removeprefix("module."): v for k, v in state.items()}


def convert_apq_state_dict(state: dict[str, torch.Tensor], space: SearchSpace, source: str = "the checkpoint") -> AccuracyMLP:
    """Our network holding APQ's weights; :class:`UserError` for other keys or another encoding width."""
    state = _unwrap(state, source)
    renamed = {_rename(k): v for k, v in state.items()}
    n_layers = sum(1 for k in renamed if k and k.startswith("hidden.") and k.endswith(".weight"))
    if None in renamed or n_layers == 0 or "bit_branch.weight" not in renamed or "output.weight" not in renamed:
        unknown = sorted(k for k in state if _rename(k) is None)
        raise UserError(f"{source} is not APQ's quantization-aware predictor (keys layers.i.0.*, quantize_fc.*, "
                        f"regressor.*; unexpected {unknown[:4]}); pass APQ's acc_quant.pt")
    encoder = Encoder(space)
    fp32_dim, bit_dim = renamed["hidden.0.weight"].shape[1], renamed["bit_branch.weight"].shape[1]
    if (fp32_dim, bit_dim) != (encoder.fp32_dim, encoder.dim - encoder.fp32_dim):
        raise UserError(f"{source} takes {fp32_dim} fp32 + {bit_dim} bit inputs, but space '{space.name}' encodes "
                        f"{encoder.fp32_dim} + {encoder.dim - encoder.fp32_dim}; use --space imagenet-apq")
    net = AccuracyMLP(fp32_dim, bit_dim, renamed["hidden.0.weight"].shape[0], n_layers, bit_merge="after_relu")
    renamed["output.weight"] = renamed["output.weight"] * APQ_OUTPUT_SCALE
    renamed["output.bias"] = renamed["output.bias"] * APQ_OUTPUT_SCALE
    try:
        net.load_state_dict({k: v.float() for k, v in renamed.items()})
    except RuntimeError as err:
        raise UserError(f"{source} has inconsistent layer shapes ({str(err).splitlines()[-1].strip()})") from None
    return net


def import_apq_predictor(path: str | Path, space: SearchSpace) -> Path:
    """Read APQ's checkpoint at ``path`` and write it as ``predictors/<space>/quant.pt``; returns that path."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no APQ predictor checkpoint at {path}; pass the path of APQ's acc_quant.pt")
    raw = load_weights_only(path, "pass APQ's released acc_quant.pt")
    net = convert_apq_state_dict(raw, space, str(path))
    predictor = QuantMLPPredictor(net.fp32_dim, hidden_size=net.output.in_features, n_layers=len(net.hidden),
                                  bit_merge=net.bit_merge).set_network(net)
    return save_predictor(predictor, predictor_path(space.name, "quant"), "quant", space,
                          config={"imported_from": str(path.resolve())}, source="apq-import")
