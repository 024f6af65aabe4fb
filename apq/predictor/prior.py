"""The sensitivity prior of the quantization-aware predictors: the supernet's one-layer-at-a-time
quantization scan (:mod:`apq.quant.sensitivity`) laid over the encoding's bit part.

The scan takes minutes and depends only on the supernet file, the quantization settings, the
number of images and the preset (seed, validation split), not on the samples or the predictor's
own settings; so it is kept in ``predictors/<space>/sensitivity.json`` under a fingerprint of
those inputs, and a predictor rebuilt after new samples or other predictor settings reuses it.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from apq.io import write_json
from apq.nn.runtime import pick_device, torch_threads, usable_cpus
from apq.predictor.load import predictor_dir
from apq.presets import Preset
from apq.quant.config import QuantConfig
from apq.quant.sensitivity import prior_weights, scan
from apq.samples.data import load_sample_data
from apq.space.space import SearchSpace
from apq.stages.fresh import Stamp, upstream_digests
from apq.stages.layout import supernet_path
from apq.supernet.checkpoint import load_supernet

log = logging.getLogger(__name__)

SCAN_FORMAT = "apq-sensitivity-1"


def scan_file(space_name: str) -> Path:
    """Where the predictor stage keeps the scan it last made for ``space_name``."""
    return predictor_dir(space_name) / "sensitivity.json"


def scan_stamp(space: SearchSpace, preset: Preset, quant: QuantConfig, images: int) -> Stamp:
    """Everything the scan's result depends on; its fingerprint keys the kept scan."""
    return Stamp("sensitivity", SCAN_FORMAT, {"quant": quant.to_dict(), "images": images},
                 {"preset": preset.to_dict(), "space": space.name}, upstream_digests(supernet_path(space.name)))


def scan_prior(space: SearchSpace, preset: Preset, quant: QuantConfig, images: int,
               data_dir=None, reuse: bool = True) -> tuple[np.ndarray, dict]:
    """Scan ``data/<space>/supernet.pt`` on a seeded subset of ``images`` validation images with the
    ``quant`` settings, or, with ``reuse``, take the kept scan made from the same inputs. Returns the
    prior weights float32 (bit part width,) and the scan as JSON (``base_acc`` percent, ``drop``
    (B, 4, bit choices) points as nested lists, ``images``, ``seconds`` of the scan that made it)."""
    key = scan_stamp(space, preset, quant, images).fingerprint
    scanned = _kept_scan(scan_file(space.name), key) if reuse else None
    if scanned is None:
        scanned = _scan(space, preset, quant, images, data_dir)
        write_json(scan_file(space.name), {"fingerprint": key, "scan": scanned})
    else:
        log.info("sensitivity scan: reusing %s (same supernet, quantization settings and images)",
                 scan_file(space.name))
    return prior_weights(space, np.asarray(scanned["drop"], dtype=np.float64)), scanned


def _kept_scan(path: Path, key: str) -> dict | None:
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return kept.get("scan") if isinstance(kept, dict) and kept.get("fingerprint") == key else None


def _scan(space: SearchSpace, preset: Preset, quant: QuantConfig, images: int, data_dir) -> dict:
    supernet, _ = load_supernet(space, supernet_path(space.name), pick_device())
    data = load_sample_data(space, preset, data_dir).with_val_subset(images, preset.seed)
    with torch_threads(usable_cpus()):  # conv inference on thousands of images: every core helps
        result = scan(supernet, data, quant, seed=preset.seed)
    # Rounded as stored, so that a fresh and a kept scan give the same prior.
    return {**result, "drop": np.round(result["drop"], 4).tolist(), "seconds": round(result["seconds"], 1)}
