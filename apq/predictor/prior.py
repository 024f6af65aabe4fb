"""The sensitivity prior of the quantization-aware predictors: the supernet's one-layer-at-a-time
quantization scan (:mod:`apq.quant.sensitivity`) laid over the encoding's bit part."""
from __future__ import annotations

import numpy as np

from apq.nn.runtime import pick_device, torch_threads, usable_cpus
from apq.presets import Preset
from apq.quant.config import QuantConfig
from apq.quant.sensitivity import prior_weights, scan
from apq.samples.data import load_sample_data
from apq.space.space import SearchSpace
from apq.supernet.checkpoint import load_supernet, supernet_path


def scan_prior(space: SearchSpace, preset: Preset, quant: QuantConfig, images: int,
               data_dir=None) -> tuple[np.ndarray, dict]:
    """Scan ``data/<space>/supernet.pt`` on a seeded subset of ``images`` validation images with the
    ``quant`` settings. Returns the prior weights float32 (bit part width,) and the scan as JSON
    (``base_acc`` percent, ``drop`` (B, 4, bit choices) points as nested lists, ``images``, ``seconds``)."""
    supernet, _ = load_supernet(space, supernet_path(space.name), pick_device())
    data = load_sample_data(space, preset, data_dir).with_val_subset(images, preset.seed)
    with torch_threads(usable_cpus()):  # conv inference on thousands of images: every core helps
        result = scan(supernet, data, quant)
    return prior_weights(space, result["drop"]), {**result, "drop": np.round(result["drop"], 4).tolist(),
                                                  "seconds": round(result["seconds"], 1)}
