"""``apq supernet`` end to end: data, (resumed) progressive shrinking, final evaluation, artifacts.

Writes ``data/<space>/supernet.pt`` (plain state dict + metadata, ``weights_only`` loadable) and
``data/<space>/supernet.json`` (resolved settings, test accuracies after BN re-calibration,
timings). While training, ``data/<space>/supernet.ckpt.pt`` holds the resumable checkpoint; it is
removed when the artifacts are written. Under ``torchrun`` every rank runs
:func:`train_supernet`; rank 0 alone reads and writes these files (see
:mod:`apq.supernet.distributed`), and they are the same files a single process writes.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from apq.data.tensors import TrainData, load_splits, training_tensors
from apq.errors import UserError
from apq.io import write_json
from apq.presets import Preset
from apq.space.space import SearchSpace
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import SupernetConfig
from apq.supernet.distributed import SINGLE, World, barrier, run_on_main
from apq.supernet.evaluate import evaluate_subnet
from apq.supernet.network import Supernet
from apq.supernet.train import ProgressiveShrinking, threads_for

log = logging.getLogger(__name__)


def load_training_data(space: SearchSpace, preset: Preset, config: SupernetConfig, data_dir):
    """(train TrainData, test (x, y), BN-calibration images) as float32 NCHW tensors.

    Train = the official train split minus the preset's validation split (which is kept for
    sample evaluation and never trains the supernet); calibration images are a fixed, seeded
    subset of that train split.
    """
    return training_tensors(load_splits(space, preset, data_dir), preset, config)


def train_supernet(space: SearchSpace, preset: Preset, config: SupernetConfig, data_dir=None,
                   force: bool = False, stop_after: int | None = None, world: World = SINGLE) -> Path:
    """Train (or resume training) the supernet of ``space`` and write its artifacts; returns supernet.pt.

    Up to date (supernet.pt with the same space and settings exists, no ``force``): returns at once.
    Under ``torchrun`` every rank calls this with its ``world``, inside
    :func:`apq.supernet.distributed.process_group`.
    """
    out, ckpt_file = ckpt.supernet_path(space.name), ckpt.checkpoint_path(space.name)
    meta = ckpt.make_meta(space, config, preset)
    todo = run_on_main(world, lambda: _plan(out, ckpt_file, space, config, preset, meta, force))
    if todo is None:
        return out
    with threads_for(config, world.local_size) as threads:
        _train_and_write(space, preset, config, data_dir, meta, todo["resume"], stop_after, world, threads)
    barrier(world)
    return out


def _train_and_write(space: SearchSpace, preset: Preset, config: SupernetConfig, data_dir, meta: dict,
                     resume: dict | None, stop_after: int | None, world: World, threads: int) -> None:
    """Load the data, train (from the ``resume`` payload if any); on rank 0, evaluate and write the files."""
    out, ckpt_file = ckpt.supernet_path(space.name), ckpt.checkpoint_path(space.name)
    started, device = time.perf_counter(), world.device()
    data, test, calib = load_training_data(space, preset, config, data_dir)
    if len(data.x) < world.size:
        raise UserError(f"{len(data.x)} training images cannot be shared by {world.size} processes; use fewer")
    trainer = _new_trainer(space, preset, config, meta, data, ckpt_file, device, world)
    if resume is not None:
        trainer.load(resume)
        log.info("resuming %s at phase %d step %d", ckpt_file, trainer.phase + 1, trainer.step)
    log.info("training the '%s' supernet on %d images (%s, %d threads, %d processes)", space.name, len(data.x),
             device, threads, world.size)
    trainer.run(stop_after)
    if world.is_main:
        summary = _final_evaluation(trainer.net, test, calib, config)
        _write_artifacts(out, trainer, summary, threads, world, time.perf_counter() - started)
        ckpt_file.unlink(missing_ok=True)


def _plan(out: Path, ckpt_file: Path, space: SearchSpace, config: SupernetConfig, preset: Preset, meta: dict,
          force: bool) -> dict | None:
    """None when ``out`` is up to date, else ``{"resume": checkpoint payload or None}`` (rank 0 only)."""
    if force:
        ckpt_file.unlink(missing_ok=True)
    elif _up_to_date(out, space, meta):
        log.info("%s is up to date (use --force to retrain)", out)
        return None
    if not ckpt_file.exists():
        return {"resume": None}
    resume = ckpt.read(ckpt_file, ckpt.CHECKPOINT_FORMAT)
    ckpt.check_space(resume["meta"], space, ckpt_file)
    ckpt.check_settings(resume["meta"], config, preset, ckpt_file)
    return {"resume": resume}


def _new_trainer(space: SearchSpace, preset: Preset, config: SupernetConfig, meta: dict, data: TrainData,
                 ckpt_file: Path, device: torch.device, world: World) -> ProgressiveShrinking:
    """A freshly initialised (seeded) supernet on ``device`` and its trainer."""
    torch.manual_seed(preset.seed)
    net = Supernet(space).to(device)
    if config.channels_last:
        net = net.to(memory_format=torch.channels_last)
    data = TrainData(data.x.to(device), data.y.to(device))
    return ProgressiveShrinking(net, data, config, meta, preset.seed, ckpt_file, device, world)


def _up_to_date(out: Path, space: SearchSpace, meta: dict) -> bool:
    """``out`` exists, is for ``space``, was made with ``meta``'s settings, and has its report."""
    if not out.exists():
        return False
    stored = ckpt.read(out, ckpt.FORMAT)["meta"]
    ckpt.check_space(stored, space, out)
    same = {k: v for k, v in stored.items() if k != "apq_version"} == {k: v for k, v in meta.items() if k != "apq_version"}
    if not same:
        log.info("%s was made with other settings; retraining", out)
    elif not out.with_suffix(".json").exists():
        log.info("%s has no %s; finishing the run that made it", out, out.with_suffix(".json").name)
        return False
    return same


def _final_evaluation(net: Supernet, test, calib, config: SupernetConfig) -> dict:
    """Test accuracy (percent) of the smallest and largest sub-nets after BN re-calibration.

    The largest goes last so the BN statistics saved with the supernet are its own.
    """
    results = {}
    for name, genome in (("smallest", net.smallest_genome()), ("largest", net.largest_genome())):
        res = evaluate_subnet(net, genome, calib, *test, config.bn_calib_batch, config.eval_batch, config.channels_last)
        results[f"{name}_test_acc"], results[f"{name}_test_loss"] = round(res.accuracy, 3), round(res.loss, 5)
        log.info("%s sub-net: %.2f%% test accuracy (%d images, BN re-calibrated)", name, res.accuracy, res.count)
    results["test_images"] = len(test[0])
    return results


def _write_artifacts(out: Path, trainer: ProgressiveShrinking, summary: dict, threads: int, world: World,
                     wall_seconds: float) -> None:
    """supernet.json, then supernet.pt: the file that marks the run done is written last."""
    report = {**trainer.meta, **summary, "train_seconds": round(trainer.train_seconds, 1),
              "this_run_wall_seconds": round(wall_seconds, 1), "train_images": len(trainer.data.x),
              "steps_per_epoch": trainer.steps_per_epoch, "phases": trainer.history,
              "device": str(trainer.device), "threads": threads, "processes": world.size, "supernet": out.name}
    write_json(out.with_suffix(".json"), report)
    state = {k: v.detach().cpu().contiguous() for k, v in trainer.net.state_dict().items()}
    ckpt.write(out, {"format": ckpt.FORMAT, "meta": trainer.meta, "state_dict": state,
                     "channels_sorted": trainer.channels_sorted})
    log.info("wrote %s and %s", out, out.with_suffix(".json").name)
