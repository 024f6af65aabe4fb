"""The predictor stage with the sensitivity prior: it scans the supernet, starts its models from the
scan, records it and depends on the supernet. A one-block space keeps the scan to 8 probes."""
import json

import numpy as np
import pytest
import torch

from apq.errors import UserError
from apq.predictor import prior
from apq.predictor.build import build_predictors
from apq.predictor.config import get_predictor_config
from apq.predictor.synthetic import write_synthetic_samples
from apq.presets import get_preset
from apq.quant.config import get_quant_config
from apq.space.registry import create_space
from apq.stages.fresh import read_stamp
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import get_supernet_config
from apq.supernet.network import Supernet
from tests.helpers.nets import randomize

ONE_BLOCK = {"name": "one-block", "dataset": "fashion-mnist", "input_size": 28, "input_channels": 1, "num_classes": 10,
             "stem_width": 8, "stem_stride": 2, "first_block_width": 8, "final_width": 32,
             "stages": [{"width": 16, "stride": 2, "depths": [1]}], "kernels": [3, 5], "expand_min": 2.0,
             "expand_max": 3.0, "channel_step": 8, "bits": [2, 4, 8]}


@pytest.fixture
def one_block_root(tmp_path):
    """APQ_ROOT (the test's tmp folder) with SYNTHETIC samples and a random supernet of ONE_BLOCK."""
    path = tmp_path / "one-block.json"
    path.write_text(json.dumps(ONE_BLOCK))
    space = create_space(str(path))
    folder = tmp_path / "data" / space.name
    folder.mkdir(parents=True)
    for kind, rows in (("fp32", 120), ("quant", 80)):
        write_synthetic_samples(space, folder / f"samples_{kind}.h5", kind, rows)
    torch.manual_seed(0)
    meta = ckpt.make_meta(space, get_supernet_config("smoke"), get_preset("smoke"))
    ckpt.write(folder / "supernet.pt", {"format": ckpt.FORMAT, "meta": meta,
                                        "state_dict": randomize(Supernet(space)).state_dict(), "channels_sorted": True})
    return space, folder


def test_the_stage_scans_the_supernet_and_depends_on_it(one_block_root):
    space, folder = one_block_root
    preset, quant = get_preset("smoke"), get_quant_config("smoke")
    config = get_predictor_config("smoke").override(sensitivity_images=24)
    metrics = build_predictors(space, preset, config, quant=quant)
    scan = metrics["sensitivity"]
    drop = np.asarray(scan["drop"])
    assert scan["images"] == 24 and drop.shape == (1, 4, 3) and np.all(drop[:, :, 2] == 0)
    stamp = read_stamp(folder.parent.parent / "predictors" / space.name / "metrics.json")
    assert "supernet.pt" in json.dumps(stamp) and "quant" in json.dumps(stamp)
    assert build_predictors(space, preset, config, quant=quant) is None  # up to date
    assert get_predictor_config("smoke").sensitivity_images == 0 and get_predictor_config("default").sensitivity_images


def test_without_a_scan_the_stage_needs_no_supernet_and_with_one_says_so(one_block_root):
    space, folder = one_block_root
    (folder / "supernet.pt").unlink()
    with pytest.raises(UserError, match="sensitivity_images=0"):
        build_predictors(space, get_preset("smoke"), get_predictor_config("smoke").override(sensitivity_images=8))
    assert not (folder.parent.parent / "predictors").exists()
    metrics = build_predictors(space, get_preset("smoke"), get_predictor_config("smoke"))
    assert metrics["sensitivity"] is None and metrics["quant"]["selected"]


def test_a_rebuild_reuses_the_kept_scan_until_its_inputs_change(one_block_root, monkeypatch):
    space, folder = one_block_root
    preset, quant = get_preset("smoke"), get_quant_config("smoke")
    config = get_predictor_config("smoke").override(sensitivity_images=24)
    first = build_predictors(space, preset, config, quant=quant)["sensitivity"]
    kept = folder.parent.parent / "predictors" / space.name / "sensitivity.json"
    assert json.loads(kept.read_text())["scan"] == first

    def no_scan(*args, **kwargs):
        raise AssertionError("scanned again")

    monkeypatch.setattr(prior, "scan", no_scan)
    other = config.override(max_epochs=config.max_epochs + 1)  # a predictor setting: the scan's inputs are unchanged
    assert build_predictors(space, preset, other, quant=quant)["sensitivity"] == first
    for rescan in (lambda: build_predictors(space, preset, config.override(sensitivity_images=16), quant=quant),
                   lambda: build_predictors(space, preset, other, quant=quant.override(bn_calib_images=32)),
                   lambda: build_predictors(space, preset, other, quant=quant, force=True)):
        with pytest.raises(AssertionError, match="scanned again"):
            rescan()
