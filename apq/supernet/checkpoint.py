"""Supernet files: the resumable training checkpoint and the final ``supernet.pt``.

Both are plain containers (tensors, dicts, lists, strings, numbers) so they load with
``torch.load(path, weights_only=True)``; nothing is unpickled. Both carry ``meta``: the space
name and config, the supernet settings, the preset and the package version. A file made for
another space, or for other settings, is refused with a one-line :class:`UserError`.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from apq import __version__
from apq.errors import UserError
from apq.io import atomic_path, load_weights_only
from apq.presets import Preset
from apq.space.space import SearchSpace
from apq.stages.fresh import Stamp, digest
from apq.stages.layout import checkpoint_path, supernet_path  # noqa: F401 - the supernet's paths, re-exported
from apq.supernet.config import SupernetConfig
from apq.supernet.network import Supernet

FORMAT = "apq-supernet"
CHECKPOINT_FORMAT = "apq-supernet-checkpoint"
#: Version of supernet.pt's contents, part of its stamp: bumping it makes older files stale.
STAMP_FORMAT = "apq-supernet/1"


def make_meta(space: SearchSpace, config: SupernetConfig, preset: Preset) -> dict:
    """Plain-python description of what produced a supernet file (also saved in supernet.json)."""
    return {"space": space.name, "space_config": _plain(space.config.to_dict()),
            "supernet_config": config.to_dict(), "preset": preset.to_dict(), "apq_version": __version__}


#: Space-config fields an fp32 supernet does not depend on: a new bit menu keeps its weights.
NOT_ARCHITECTURE = ("description", "bits", "fixed_bits")


def architecture(space_config: dict | None) -> dict:
    """The fields of a space config (plain dict) that shape the supernet's weights."""
    return {k: v for k, v in _plain(space_config or {}).items() if k not in NOT_ARCHITECTURE}


#: Settings of the sandwich recipe only, added after progressive supernets were first written.
SANDWICH_ONLY = ("recipe", "epochs_sandwich", "sandwich_random")


def recipe_settings(supernet_config: dict) -> dict:
    """The supernet settings that shape a file made with them: a progressive supernet's leave out
    the sandwich recipe's fields, so files trained before the recipe setting existed stay fresh."""
    if supernet_config.get("recipe", "progressive") != "progressive":
        return dict(supernet_config)
    return {k: v for k, v in supernet_config.items() if k not in SANDWICH_ONLY}


def stamp_of(meta: dict) -> Stamp:
    """The freshness stamp of a supernet made with ``meta`` (:func:`make_meta`): its settings
    section (:func:`recipe_settings`), the preset's shared fields and the architecture part of the
    space config (not its bit menu); no upstream artifact (the dataset is named by the space config)."""
    return Stamp("supernet", STAMP_FORMAT, recipe_settings(meta["supernet_config"]),
                 {"preset": meta["preset"], "space": architecture(meta["space_config"])})


def make_stamp(space: SearchSpace, config: SupernetConfig, preset: Preset) -> Stamp:
    """:func:`stamp_of` the supernet this space, config and preset make."""
    return stamp_of(make_meta(space, config, preset))


def _plain(data):
    """Tuples -> lists, so metadata compares equal after a JSON or torch round trip."""
    return json.loads(json.dumps(data))


def check_space(meta: dict, space: SearchSpace, path: Path) -> None:
    """Refuse a file made for another space (or another architecture under the same name; the
    bit menu may differ, the supernet is fp32)."""
    theirs = meta.get("space")
    if theirs != space.name:
        raise UserError(f"{path} holds a supernet for space '{theirs}', not '{space.name}'; "
                        f"use --space {theirs} or delete the file")
    if architecture(meta.get("space_config")) != architecture(space.config.to_dict()):
        raise UserError(f"{path} was made for a different '{space.name}' space config than the current one; "
                        "delete it (or rerun with --force) to train for this config")


def check_settings(meta: dict, config: SupernetConfig, preset: Preset, path: Path) -> None:
    """Refuse to resume a checkpoint made with other training settings or another preset."""
    if meta.get("supernet_config") != config.to_dict() or meta.get("preset") != preset.to_dict():
        theirs = (meta.get("preset") or {}).get("name", "?")
        raise UserError(f"{path} was made with preset '{theirs}' settings, not those of '{preset.name}'; "
                        "rerun with that preset, or with --force to start over")


def read(path: Path, expected_format: str) -> dict:
    """``torch.load(weights_only=True)`` with a one-line error for unreadable or foreign files."""
    if not Path(path).exists():
        raise UserError(f"{path} not found; run 'apq supernet' (or 'make supernet') first")
    payload = load_weights_only(path, "use a file written by 'apq supernet', or delete it and rerun")
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise UserError(f"{path} is not an {expected_format} file; delete it and rerun")
    return payload


def write(path: Path, payload: dict) -> Path:
    """Atomically ``torch.save`` a plain payload."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_supernet(space: SearchSpace, path: str | Path | None = None, device: str | torch.device = "cpu"):
    """Load ``data/<space>/supernet.pt`` (or ``path``) into a new :class:`Supernet`.

    Returns ``(supernet, meta)``, meta with the file's ``digest`` (:func:`apq.stages.fresh.digest`);
    refuses a file made for another space with a :class:`UserError`.
    The supernet is in eval mode with the largest sub-net active (its BN statistics are the
    re-calibrated ones of the largest sub-net; re-calibrate before evaluating any other).
    """
    path = Path(path) if path is not None else supernet_path(space.name)
    payload = read(path, FORMAT)
    check_space(payload["meta"], space, path)
    net = Supernet(space)
    net.load_state_dict(payload["state_dict"])
    return net.to(device).eval(), {**payload["meta"], "digest": digest(path)}
