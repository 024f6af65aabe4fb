"""Predictor checkpoints ``predictors/<space>/{fp32,quant}.pt``: save, load, and the search's entry point.

A checkpoint is a plain dict (loadable with ``torch.load(path, weights_only=True)``)::

    format      "apq-predictor"
    kind        "fp32" | "quant"
    space       space name;  encoding: {"space", "dim", "fp32_dim"} of that space's Encoder
    network     the network's shape(): AccuracyMLP constructor arguments, or a nested description
                with ``type`` "structured" | "linear_on_base" | "ensemble" (apq.predictor.network.build_network);
                state_dict: its tensors (CPU)
    y_mean      mean training accuracy (percent)
    estimator   the estimator's hyper-parameters;  config: the resolved stage config
    samples     fingerprints of the sample files it was trained on ({} for an import)
    source      "trained" | "apq-import";  apq_version

A checkpoint made for another space or encoding width is refused with one line naming both.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import torch

from apq import __version__
from apq.errors import UserError
from apq.io import atomic_path, load_weights_only
from apq.predictor.estimator import MLPPredictor, QuantMLPPredictor
from apq.predictor.network import build_network
from apq.predictor.structured import EnsemblePredictor, RidgeQuantPredictor, StructuredQuantPredictor
from apq.space.encoding import Encoder
from apq.space.registry import create_space
from apq.space.space import SearchSpace
from apq.stages.layout import predictor_dir, predictor_path  # noqa: F401 - the predictors' paths, re-exported

FORMAT = "apq-predictor"
KINDS = ("fp32", "quant")
#: Estimator arguments that are fitted predictors or only start the fit (the sensitivity prior): the
#: network holds what they gave, so they are not saved as settings.
FITTED_INPUTS = ("transfer_from", "base", "members", "prior")
#: The estimator a quant checkpoint's network type loads into (an AccuracyMLP's shape has no type).
QUANT_ESTIMATORS = {"mlp": QuantMLPPredictor, "structured": StructuredQuantPredictor,
                    "linear_on_base": RidgeQuantPredictor, "ensemble": EnsemblePredictor}


def _space(space: SearchSpace | str) -> SearchSpace:
    return create_space(space) if isinstance(space, str) else space


def _expected_encoding(space: SearchSpace) -> dict:
    return Encoder(space).describe()


def make_payload(predictor: MLPPredictor, kind: str, space: SearchSpace, config: dict | None = None,
                 samples: dict | None = None, source: str = "trained") -> dict:
    """The checkpoint dict of a fitted predictor (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    params = {k: v for k, v in predictor.get_params().items() if k not in FITTED_INPUTS}
    net = predictor.network_
    return {"format": FORMAT, "kind": kind, "space": space.name, "encoding": _expected_encoding(space),
            "network": net.shape(), "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "y_mean": float(predictor.y_mean_), "estimator": _plain(params), "config": _plain(config or {}),
            "samples": _plain(samples or {}), "source": source, "apq_version": __version__}


def _plain(data):
    """JSON round trip: tuples -> lists, so saved metadata compares equal after loading."""
    return json.loads(json.dumps(data))


def save_predictor(predictor: MLPPredictor, path: str | Path, kind: str, space: SearchSpace | str,
                   config: dict | None = None, samples: dict | None = None, source: str = "trained") -> Path:
    """Atomically write a fitted predictor's checkpoint to ``path``; returns the path."""
    payload = make_payload(predictor, kind, _space(space), config, samples, source)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | Path, kind: str, space: SearchSpace) -> dict:
    """Load and check a checkpoint dict; :class:`UserError` if missing, foreign or for another space."""
    path = Path(path)
    if not path.exists():
        raise UserError(_missing_message(path, kind, space.name))
    payload = load_weights_only(path, "delete it and rerun 'apq predictor'")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("kind") != kind:
        raise UserError(f"{path} is not an apq {kind} predictor checkpoint; delete it and rerun 'apq predictor'")
    check_encoding(payload, space, path)
    return payload


def check_encoding(payload: dict, space: SearchSpace, path: Path) -> None:
    """Refuse a checkpoint made for another space or encoding width, naming both."""
    theirs, mine = payload.get("encoding", {}), _expected_encoding(space)
    if payload.get("space") != space.name or theirs != mine:
        other = "another version of" if payload.get("space") == space.name else "space"
        raise UserError(f"{path} was made for {other} '{payload.get('space')}' (encoding dim {theirs.get('dim')}, "
                        f"fp32 {theirs.get('fp32_dim')}), not this '{space.name}' (encoding dim {mine['dim']}, "
                        f"fp32 {mine['fp32_dim']}); rerun 'apq predictor --space {space.name}'")


def _missing_message(path: Path, kind: str, space_name: str) -> str:
    how = f"run 'apq predictor --space {space_name}' (or 'make predictor SPACE={space_name}') first"
    if kind == "quant":
        how += ", or import APQ's released one with 'apq predictor --space imagenet-apq --import-apq PATH'"
    return f"no {kind} accuracy predictor at {path}; {how}"


def predictor_from_payload(payload: dict, device: str | None = None) -> MLPPredictor:
    """Rebuild the fitted estimator a checkpoint dict describes."""
    net = build_network(payload["network"])
    net.load_state_dict(payload["state_dict"])
    estimator = MLPPredictor if payload["kind"] == "fp32" else QUANT_ESTIMATORS[payload["network"].get("type", "mlp")]
    # A model fitted by a subclass (GeneDropPredictor) loads as the estimator of its network; its
    # fit-only settings have no place there and prediction does not need them.
    accepted = inspect.signature(estimator.__init__).parameters
    params = {k: v for k, v in payload["estimator"].items() if k in accepted}
    return estimator(**{**params, "device": device}).set_network(net, payload["y_mean"])


def load_predictor(space: SearchSpace | str, kind: str, path: str | Path | None = None,
                   device: str | None = None) -> MLPPredictor:
    """The fitted ``kind`` predictor of ``space`` from ``path`` (default ``predictors/<space>/<kind>.pt``)."""
    space = _space(space)
    path = Path(path) if path is not None else predictor_path(space.name, kind)
    return predictor_from_payload(read_checkpoint(path, kind, space), device)


def load_fp32_predictor(space: SearchSpace | str, path: str | Path | None = None,
                        device: str | None = None) -> MLPPredictor:
    """fp32 predictor: ``predict(encodings (N, Encoder(space).fp32_dim) float32) -> (N,) percent``."""
    return load_predictor(space, "fp32", path, device)


def load_quant_predictor(space: SearchSpace | str, path: str | Path | None = None,
                         device: str | None = None) -> QuantMLPPredictor:
    """Quantization-aware predictor used by the search.

    ``predictor.predict(encodings (N, Encoder(space).dim) float32) -> float64 (N,)`` predicted
    accuracy in percent (one no-grad float32 forward per 32k rows); ``predictor.encoding_dim``
    is ``Encoder(space).dim``. :class:`UserError` with a how-to if ``predictors/<space>/quant.pt``
    is missing or was made for another space or encoding.
    """
    return load_predictor(space, "quant", path, device)
