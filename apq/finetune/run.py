"""``apq finetune``: train a run's verified winner further, quantization in the loop, distilled
from an fp32 teacher; the result is the model ``apq export`` exports.

    <run>/winner.pt (``apq verify``: fake-quantized, fine-tuned for a few hundred steps)
      -> test accuracy before
      -> Adam, cosine schedule, ``FinetuneConfig.epochs`` passes over the training split (flips),
         loss = hard cross-entropy + soft cross-entropy to the teacher's logits of the same batch
         (teacher: the supernet's largest network, or the winner's own fp32 sub-net; BN re-calibrated)
      -> test accuracy after
      -> <run>/finetuned.pt (the winner.pt format, :mod:`apq.quant.winner`) + finetune.json

Resumable: ``finetune.ckpt.pt`` (model, optimizer, step, seconds) is written every
``checkpoint_every`` steps and on Ctrl-C; every random draw of a step (batch, flips) is a function
of (seed, step), so a resumed run ends in the state an uninterrupted one reaches. The checkpoint
carries the stamp's fingerprint and is ignored when the settings or the winner changed.
``finetune.stamp.json`` (settings, supernet digest, winner.pt's digest) marks the result up to
date; a result of another winner or other settings is replaced (it costs minutes, not hours).
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from apq.errors import UserError
from apq.finetune.config import FinetuneConfig
from apq.io import load_weights_only, write_json
from apq.nn.runtime import torch_threads
from apq.nn.training import cosine_lr, kd_loss, run_checkpointed
from apq.quant.config import QuantConfig
from apq.quant.fold import fold_batch_norms
from apq.quant.pipeline import recalibrated_subnet
from apq.quant.qat import batch_order, parameter_groups
from apq.quant.spec import space_of
from apq.quant.winner import WINNER, load_winner, save_winner
from apq.stages.fresh import FRESH, Stamp, freshness, read_stamp, upstream_digests, write_stamp
from apq.stages.lock import artifact_lock
from apq.supernet import checkpoint as ckpt
from apq.supernet.bn_calibration import batch_norms
from apq.supernet.evaluate import evaluate, prepare
from apq.supernet.train import augment

log = logging.getLogger(__name__)

#: Files in the run folder: the fine-tuned model (winner.pt's format), its report, the checkpoint.
FINETUNED = "finetuned.pt"
REPORT = "finetune.json"
CHECKPOINT = "finetune.ckpt.pt"
CHECKPOINT_FORMAT = "apq-finetune-checkpoint"
#: Version of finetune.json / finetuned.pt contents, part of the stamp.
STAMP_FORMAT = "apq-finetune/1"


class Interrupted(Exception):
    """Raised after ``stop_after`` steps, once they are checkpointed (tests simulate a killed run)."""


def settings_of(fconfig: FinetuneConfig, qconfig: QuantConfig, seed: int, supernet_meta: dict,
                test_images: int) -> dict:
    """What a fine-tuned model depends on besides the winner (its stamp's settings)."""
    return {"finetune": {k: v for k, v in fconfig.to_dict().items() if k != "num_threads"},  # speed only
            "quant": qconfig.to_dict(), "seed": seed, "test_images": test_images,
            "supernet": {k: supernet_meta.get(k) for k in ("space", "preset", "supernet_config", "digest")}}


def finetune_run(run_dir: Path, supernet, supernet_meta: dict, data, fconfig: FinetuneConfig, qconfig: QuantConfig,
                 seed: int, stop_after: int | None = None) -> dict:
    """Fine-tune ``run_dir/winner.pt`` (no-op when up to date, resumed when interrupted); returns finetune.json.

    ``supernet``: the run's supernet (the teacher comes from it); ``data``: a
    :class:`apq.samples.data.SampleData` of the run's preset (training images, calibration pool,
    test split).
    """
    winner = run_dir / WINNER
    if not winner.is_file():
        raise UserError(f"run {run_dir} has no {WINNER}; run 'apq verify {run_dir}' first")
    settings = settings_of(fconfig, qconfig, seed, supernet_meta, len(data.test_x))
    stamp = Stamp("finetune", STAMP_FORMAT, settings, {}, upstream_digests(winner))
    report_path = run_dir / REPORT
    with artifact_lock(report_path), torch_threads(fconfig.num_threads):
        if freshness(stamp, read_stamp(report_path), (report_path, run_dir / FINETUNED), command="apq finetune",
                     replaceable=True) == FRESH:
            log.info("%s is up to date", report_path)
            return json.loads(report_path.read_text())
        return _finetune(run_dir, supernet, data, fconfig, qconfig, seed, settings, stamp, stop_after)


def _finetune(run_dir: Path, supernet, data, fconfig: FinetuneConfig, qconfig: QuantConfig, seed: int,
              settings: dict, stamp: Stamp, stop_after: int | None) -> dict:
    started = time.perf_counter()
    model, payload = load_winner(run_dir / WINNER)
    space = space_of(payload["spec"])
    if space.name != supernet.space.name:
        raise UserError(f"{run_dir / WINNER} holds a winner of space '{space.name}', not '{supernet.space.name}'; "
                        f"pass --space {space.name}")
    genome = np.asarray(payload["meta"]["genome"], dtype=np.int64)
    device = next(supernet.parameters()).device
    model = model.to(device)
    if qconfig.channels_last:
        model = model.to(memory_format=torch.channels_last)
    teacher = fold_batch_norms(teacher_network(supernet, genome, data.calib, fconfig, qconfig))
    before = evaluate(model, data.test_x, data.test_y, qconfig.eval_batch, qconfig.channels_last)
    log.info("winner before fine-tuning: %.2f%% on %d test images", before.accuracy, before.count)
    trainer = Trainer(model, teacher, data, fconfig, qconfig, seed, run_dir / CHECKPOINT, stamp.fingerprint)
    trainer.resume()
    trainer.run(stop_after)
    after = evaluate(model, data.test_x, data.test_y, qconfig.eval_batch, qconfig.channels_last)
    log.info("winner after %d fine-tune steps: %.2f%% (before %.2f%%)", trainer.total, after.accuracy, before.accuracy)
    report = {"run": run_dir.name, "genome": genome.tolist(), "arch": payload["spec"]["arch"],
              "acc_before": round(before.accuracy, 3), "acc_after": round(after.accuracy, 3),
              "loss_before": round(before.loss, 5), "loss_after": round(after.loss, 5), "test_images": after.count,
              "verified_acc": payload["meta"].get("measured_acc"), "teacher": fconfig.teacher,
              "epochs": round(trainer.total / trainer.steps_per_epoch, 3), "steps": trainer.total,
              "train_seconds": round(trainer.train_seconds, 1),
              "seconds_per_epoch": round(trainer.train_seconds / max(trainer.total, 1) * trainer.steps_per_epoch, 1),
              "this_run_wall_seconds": round(time.perf_counter() - started, 1), "model_file": FINETUNED,
              "winner_digest": stamp.upstream[WINNER], "settings": settings}
    meta = {"genome": genome.tolist(), "settings": settings, "measured_acc": report["acc_after"],
            "acc_before": report["acc_before"], "test_images": after.count, "winner_digest": report["winner_digest"],
            "source": "finetune"}
    save_winner(run_dir / FINETUNED, model, space, genome, payload["spec"]["per_channel"], meta)
    write_json(run_dir / REPORT, report)
    write_stamp(run_dir / REPORT, stamp)
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    return report


def teacher_network(supernet, genome: np.ndarray, calib: torch.Tensor, fconfig: FinetuneConfig,
                    qconfig: QuantConfig) -> nn.Module:
    """The fp32 teacher (eval mode, BN re-calibrated on the calibration images): the supernet's
    largest network, or the winner's own fp32 sub-net (``fconfig.teacher``)."""
    chosen = supernet.largest_genome() if fconfig.teacher == "largest" else genome
    return recalibrated_subnet(supernet, chosen, calib[:qconfig.bn_calib_images], qconfig.bn_calib_batch,
                               qconfig.channels_last)


class Trainer:
    """The fine-tune loop of one fake-quantized ``model`` against a frozen ``teacher``, checkpointed to ``path``."""

    def __init__(self, model: nn.Module, teacher: nn.Module, data, fconfig: FinetuneConfig, qconfig: QuantConfig,
                 seed: int, path: Path, fingerprint: str):
        self.model, self.teacher, self.data = model, teacher, data
        self.fconfig, self.qconfig, self.seed, self.path, self.fingerprint = fconfig, qconfig, seed, path, fingerprint
        self.batch = min(fconfig.batch_size, len(data.train_x))
        self.steps_per_epoch = math.ceil(len(data.train_x) / self.batch)
        total = max(1, math.ceil(fconfig.epochs * self.steps_per_epoch))
        self.total = min(total, fconfig.max_steps) if fconfig.max_steps else total
        self.order = batch_order(len(data.train_x), self.total, self.batch, seed)
        self.optimizer = torch.optim.Adam(parameter_groups(model, qconfig.override(qat_lr=fconfig.lr)))
        self.step, self.train_seconds = 0, 0.0

    def state(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, "step": self.step,
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "train_seconds": self.train_seconds}

    def save(self) -> None:
        ckpt.write(self.path, self.state())

    def resume(self) -> None:
        """Continue from the checkpoint when it was made for this winner and these settings."""
        if not self.path.is_file():
            return
        payload = load_weights_only(self.path, "delete it to start the fine-tune over")
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or \
                payload.get("fingerprint") != self.fingerprint:
            log.info("ignoring %s: made for another winner or other settings", self.path)
            return
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.step, self.train_seconds = int(payload["step"]), float(payload["train_seconds"])
        log.info("resuming %s at step %d of %d", self.path, self.step, self.total)

    def run(self, stop_after: int | None = None) -> None:
        """Train the remaining steps; ``stop_after``: raise :class:`Interrupted` after that many steps
        of this call, once checkpointed."""
        self._train_mode()

        def train_step() -> tuple[float, float]:
            started = time.perf_counter()
            loss, acc = self._train_step()
            self.step += 1
            self.train_seconds += time.perf_counter() - started
            return loss, acc

        def after_step() -> None:
            if self.step < self.total and self.step % self.fconfig.checkpoint_every == 0:
                self.save()
            if stop_after is not None and self.step >= stop_after and self.step < self.total:
                self.save()
                raise Interrupted(f"stopped at step {self.step}")

        bar = tqdm(total=self.total, initial=self.step, desc="finetune", unit="step", leave=False)
        run_checkpointed(lambda: self.step < self.total, train_step, after_step, self.save, bar)
        self.model.eval()

    def _train_mode(self) -> None:
        self.model.train()
        if self.fconfig.freeze_bn:
            for norm in batch_norms(self.model):
                norm.eval()

    def _train_step(self) -> tuple[float, float]:
        """One Adam step; returns (loss, accuracy % of the batch)."""
        cfg, device = self.fconfig, next(self.model.parameters()).device
        idx = self.order[self.step]
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, self.step]).generate_state(1)[0]))
        x = prepare(augment(self.data.train_x[idx], gen, pad=0, flip=cfg.flip), device, self.qconfig.channels_last)
        y = self.data.train_y[idx].to(device)
        logits = self.model(x)
        loss = cfg.hard_weight * F.cross_entropy(logits, y)
        if cfg.kd_weight:  # the teacher's forward pass only where its logits count
            with torch.no_grad():
                target = self.teacher(x)
            loss = loss + cfg.kd_weight * kd_loss(logits, target, cfg.kd_temperature)
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(self.step, self.total, group["peak_lr"], cfg.warmup_steps)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()), 100.0 * float((logits.detach().argmax(dim=1) == y).float().mean())
