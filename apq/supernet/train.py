"""Supernet training, with KD and resumable checkpoints: progressive shrinking (once-for-all,
the default recipe) or the sandwich rule (``SupernetConfig.recipe``).

Progressive shrinking phases, in order (:data:`apq.supernet.config.PHASES`), each sampling one sub-net per step among
those the phase allows and leaving the other dimensions at their largest:

1. ``full``: the largest network alone, hard loss only. It becomes the teacher.
2. ``kernel``: random depthwise kernel per block (the kernel transforms learn here).
3. ``depth``: random depth per stage as well.
4. ``channels``: random middle channels per block as well, after the channels of every block
   were sorted by importance so each sub-net keeps the most important ones.

With ``sandwich`` on, every 4th step of a shrinking phase trains the phase's largest sub-net
and the next one its smallest (:func:`phase_genome`). The shrinking phases add a soft-target
distillation loss from the phase-1 network. Its logits
are computed once, on the un-augmented training images, when phase 1 ends (one forward pass over
the training split instead of one per step: the teacher is frozen, so they do not change; the
student sees a randomly shifted/flipped copy whose target is the teacher's view of the original).

The ``sandwich`` recipe (the sandwich rule with in-place distillation of BigNAS / AttentiveNAS) has
one phase and no teacher cache: every step trains, on the same batch, the largest sub-net on the
hard labels (label smoothing), then the smallest and ``sandwich_random`` uniformly random sub-nets
on the largest's soft predictions of that batch (detached), summing their gradients into one
optimiser step (:meth:`ProgressiveShrinking._sandwich_step`).

Distributed (``torchrun``): every rank activates the same sub-net and trains on its share of each
batch; see :mod:`apq.supernet.distributed` for how ranks stay in step and why.

Resumability: every random draw of a step (batch order, augmentation, sub-net) comes from a
generator seeded by ``(seed, phase, step)``, and the learning rate is a pure function of the
step, so a checkpoint of (model, optimizer momentum, phase, step, teacher logits, elapsed time)
makes a resumed run continue exactly where the interrupted one stopped.
"""
from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from apq.data.tensors import TrainData
from apq.nn.runtime import torch_threads, usable_cpus
from apq.nn.training import cosine_lr, kd_loss, run_checkpointed, weight_decay_groups
from apq.space.genome import sample
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import SupernetConfig
from apq.supernet.distributed import SINGLE, World, broadcast_buffers, gather_rows, share, sum_over_ranks, wrap
from apq.supernet.evaluate import prepare
from apq.supernet.network import Supernet

log = logging.getLogger(__name__)

#: Gene kinds each phase samples; the rest stay at their largest choice.
PHASE_GENES = {"full": (), "kernel": ("kernel",), "depth": ("kernel", "depth"),
               "channels": ("kernel", "depth", "mid"), "sandwich": ("kernel", "depth", "mid")}


def training_threads(config: SupernetConfig, processes_per_node: int = 1) -> int:
    """Torch intra-op threads for training: ``config.num_threads``, or this process's part of the
    CPUs it may use."""
    return config.num_threads or max(1, usable_cpus() // processes_per_node)


def threads_for(config: SupernetConfig, processes_per_node: int = 1):
    """Context manager: :func:`training_threads` for the block (yields the count), then the caller's
    thread count again."""
    return torch_threads(training_threads(config, processes_per_node))


def phase_genome(net: Supernet, phase: str, rng: np.random.Generator, step: int | None = None) -> np.ndarray:
    """The sub-net (genome, (n_genes,)) trained at ``step`` of ``phase``.

    Genes the phase does not sample stay at their largest choice. The sampled ones are uniform,
    except that with ``step`` given, steps 0, 4, 8, ... take the phase's largest sub-net and steps
    1, 5, 9, ... its smallest (a sandwich rule as in BigNAS/US-Nets, spread over steps instead of
    summed within one): in a budget of a few epochs uniform sampling alone barely trains the
    extremes, and the smallest sub-net lost 10 points against its neighbours without this.
    """
    genome, largest = sample(net.space, 1, rng)[0], net.largest_genome()
    if step is not None and phase not in ("full", "sandwich") and step % 4 in (0, 1):
        genome = largest.copy() if step % 4 == 0 else net.smallest_genome()
    for gene in ("depth", "kernel", "mid"):
        if gene not in PHASE_GENES[phase]:
            cols = net.space.slices[gene]
            genome[cols] = largest[cols]
    return genome


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 2, flip: bool = True) -> torch.Tensor:
    """Random crop of each image after ``pad`` pixels of zero padding (none if 0), random horizontal flip.

    x: (N, C, H, W) normalised float32; zero padding is the normalised mean, not black.
    """
    n, c, h, w = x.shape
    out = _random_crop(x, generator, pad) if pad else x
    if not flip:
        return out
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)[:, None, None, None]
    return torch.where(flips, out.flip(-1), out)


def _random_crop(x: torch.Tensor, generator: torch.Generator, pad: int) -> torch.Tensor:
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    shifts = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    rows = (shifts[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (shifts[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


class Interrupted(Exception):
    """Raised after ``stop_after`` steps (tests simulate a killed run with it)."""


def sandwich_genomes(net: Supernet, rng: np.random.Generator, randoms: int) -> list[np.ndarray]:
    """The sub-nets (genomes) of one sandwich step: largest, smallest, then ``randoms`` uniform ones."""
    extremes = [net.largest_genome(), net.smallest_genome()]
    return extremes + (list(sample(net.space, randoms, rng)) if randoms else [])


class ProgressiveShrinking:
    """Trains ``net`` phase by phase (the phases of ``config.recipe``), checkpointing to ``path``; :meth:`load` a checkpoint to resume.

    Under ``torchrun`` (``world``), every rank runs one of these; only rank 0 writes checkpoints.
    """

    def __init__(self, net: Supernet, data: TrainData, config: SupernetConfig, meta: dict, seed: int,
                 path, device: torch.device, world: World = SINGLE):
        self.net, self.data, self.config, self.meta = net, data, config, meta
        self.seed, self.path, self.device, self.world = seed, path, device, world
        self.model: torch.nn.Module = net  # what training steps run: ``net``, or ``net`` inside DDP
        self.steps_per_epoch = math.ceil(len(data.x) / config.batch_size)
        self.phase, self.step = 0, 0
        self.teacher_logits: torch.Tensor | None = None
        self.channels_sorted = False
        self.train_seconds = 0.0
        self.history: list[dict] = []
        self.optimizer = self._new_optimizer()

    # ----- bookkeeping ----------------------------------------------------------------
    def phase_steps(self, phase: int) -> int:
        steps = math.ceil(self.config.phase_epochs[phase] * self.steps_per_epoch)
        return min(steps, self.config.max_steps_per_phase) if self.config.max_steps_per_phase else steps

    def _new_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(weight_decay_groups(self.net, self.config.weight_decay), lr=self.config.lr_full,
                               momentum=self.config.momentum, nesterov=self.config.momentum > 0)

    def state(self) -> dict:
        return {"format": ckpt.CHECKPOINT_FORMAT, "meta": self.meta, "phase": self.phase, "step": self.step,
                "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "teacher_logits": self.teacher_logits, "channels_sorted": self.channels_sorted,
                "train_seconds": self.train_seconds, "history": self.history,
                "torch_rng": torch.get_rng_state()}

    def save(self) -> None:
        if self.world.is_main:
            ckpt.write(self.path, self.state())

    def load(self, payload: dict) -> None:
        """Restore from a checkpoint payload (already checked against space and settings)."""
        self.net.load_state_dict(payload["model"])
        self.optimizer = self._new_optimizer()
        self.optimizer.load_state_dict(payload["optimizer"])
        self.phase, self.step = int(payload["phase"]), int(payload["step"])
        self.teacher_logits = payload["teacher_logits"]
        if self.teacher_logits is not None:
            self.teacher_logits = self.teacher_logits.to(self.device)
        self.channels_sorted = bool(payload["channels_sorted"])
        self.train_seconds = float(payload["train_seconds"])
        self.history = list(payload["history"])
        torch.set_rng_state(payload["torch_rng"])

    # ----- training ---------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> None:
        """Train every remaining phase. ``stop_after``: raise :class:`Interrupted` after that many
        steps of this call, once they are checkpointed (used by tests)."""
        self._budget = stop_after
        self.model = wrap(self.net, self.world)
        while self.phase < len(self.config.phases):
            self._run_phase()
        broadcast_buffers(self.net, self.world)  # every rank ends with the state rank 0 saves

    def _run_phase(self) -> None:
        phases = self.config.phases
        name, total = phases[self.phase], self.phase_steps(self.phase)
        if self.step == 0:
            self._enter_phase(name)
        log.info("phase %d/%d '%s': %d steps (%.2f epochs), peak lr %g", self.phase + 1, len(phases), name, total,
                 total / self.steps_per_epoch, self.config.phase_lr(name))
        self.model.train()
        losses: list[tuple[float, float]] = []

        def train_step() -> tuple[float, float]:
            started = time.perf_counter()
            losses.append(self._train_step(name, total))
            self.step += 1
            self.train_seconds += time.perf_counter() - started
            return losses[-1]

        def after_step() -> None:
            if self.step < total and self.step % self.config.checkpoint_every == 0:
                self.save()
                self._count_down()

        bar = tqdm(total=total, initial=self.step, desc=f"supernet {name}", unit="step", leave=False,
                   disable=not self.world.is_main)
        run_checkpointed(lambda: self.step < total, train_step, after_step, self.save, bar)
        self._finish_phase(name, total, losses)

    def _count_down(self) -> None:
        if self._budget is None:
            return
        self._budget -= self.config.checkpoint_every
        if self._budget <= 0:
            raise Interrupted(f"stopped at phase {self.phase} step {self.step}")

    def _enter_phase(self, name: str) -> None:
        started = time.perf_counter()
        if name not in ("full", "sandwich") and self.teacher_logits is None and self.config.kd_weight > 0:
            self.teacher_logits = self._teacher_logits()
        if name == "channels" and not self.channels_sorted:
            self.net.sort_channels()
            self.channels_sorted = True
            log.info("sorted middle channels of %d blocks by importance", len(self.net.blocks))
        self.optimizer = self._new_optimizer()  # fresh momentum per phase (and after the sort)
        self.train_seconds += time.perf_counter() - started

    def _finish_phase(self, name: str, total: int, losses: list[tuple[float, float]]) -> None:
        # Running means over the last quarter of the phase (of this run's steps, after a resume).
        tail = losses[-max(1, len(losses) // 4):] if losses else [(float("nan"), float("nan"))]
        loss, acc = (float(v) for v in np.mean(tail, axis=0))
        self.history.append({"phase": name, "steps": total, "epochs": round(total / self.steps_per_epoch, 3),
                             "late_train_loss": round(loss, 4), "late_train_acc": round(acc, 2),
                             "train_seconds_so_far": round(self.train_seconds, 1)})
        log.info("phase '%s' done: %d steps; last quarter: loss %.4f, train accuracy %.2f%% of the sampled "
                 "sub-nets (augmented batches); %.0f s of training so far", name, total, loss, acc, self.train_seconds)
        self.phase, self.step = self.phase + 1, 0
        self.save()

    def _train_step(self, name: str, total: int) -> tuple[float, float]:
        """One optimisation step; returns (mean loss, accuracy %) over the step's whole batch."""
        cfg = self.config
        gen = torch.Generator().manual_seed(_step_seed(self.seed, self.phase, self.step))
        idx = self._batch_indices(gen)
        x = augment(self.data.x[idx], gen, cfg.crop_pad, cfg.flip)  # whole batch: same draws on every rank
        rng = np.random.default_rng([self.seed, self.phase, self.step])
        if name == "sandwich":
            return self._sandwich_step(x, idx, rng, total)
        self.net.set_active(phase_genome(self.net, name, rng, self.step if cfg.sandwich else None))
        lr = cosine_lr(self.step, total, cfg.phase_lr(name), cfg.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        mine, weight = self._my_share(len(idx))
        idx = idx[mine]
        logits = self.model(prepare(x[mine], self.device, cfg.channels_last))
        labels = self.data.y[idx].to(self.device)
        loss = F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)
        if name != "full" and self.teacher_logits is not None:
            loss = loss + cfg.kd_weight * kd_loss(logits, self.teacher_logits[idx.to(self.device)], cfg.kd_temperature)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * weight).backward()
        self.optimizer.step()
        correct = (logits.detach().argmax(dim=1) == labels).float().sum() * (weight > 0)
        totals = sum_over_ranks(torch.stack([loss.detach() * weight, correct]), self.world)
        return float(totals[0]) / self.world.size, 100.0 * float(totals[1]) / len(x)

    def _sandwich_step(self, x: torch.Tensor, idx: torch.Tensor, rng: np.random.Generator,
                       total: int) -> tuple[float, float]:
        """One sandwich step on batch ``x`` (B, C, H, W): the largest sub-net on the hard labels, then
        each other sub-net of :func:`sandwich_genomes` on the largest's detached soft predictions;
        gradients summed, one optimiser step. Returns (mean loss over the sub-nets, accuracy % of
        the largest)."""
        cfg = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(self.step, total, cfg.phase_lr("sandwich"), cfg.warmup_steps)
        mine, weight = self._my_share(len(idx))
        idx = idx[mine]
        inputs, labels = prepare(x[mine], self.device, cfg.channels_last), self.data.y[idx].to(self.device)
        genomes = sandwich_genomes(self.net, rng, cfg.sandwich_random)
        self.optimizer.zero_grad(set_to_none=True)
        losses, soft, correct = [], None, None
        for i, genome in enumerate(genomes):
            self.net.set_active(genome)
            last = i == len(genomes) - 1  # DDP averages the summed gradients once, after the last backward
            with nullcontext() if last or not hasattr(self.model, "no_sync") else self.model.no_sync():
                logits = self.model(inputs)
                if soft is None:
                    loss = F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)
                    soft = logits.detach()
                    correct = (soft.argmax(dim=1) == labels).float().sum() * (weight > 0)
                else:
                    loss = kd_loss(logits, soft, cfg.kd_temperature)
                (loss * weight).backward()
            losses.append(loss.detach())
        self.optimizer.step()
        totals = sum_over_ranks(torch.stack([torch.stack(losses).mean() * weight, correct]), self.world)
        return float(totals[0]) / self.world.size, 100.0 * float(totals[1]) / len(x)

    def _my_share(self, batch: int) -> tuple[slice, float]:
        """This rank's slice of a batch of ``batch`` images, and the weight of its mean loss.

        weight = share * ranks / batch (1 for a single process), so the gradient DDP averages
        over ranks is that of the whole batch's mean loss. A rank left without images (a last
        batch smaller than the world) runs one image with weight 0: DDP needs every rank to run
        the same sub-net forward and backward.
        """
        lo, hi = share(batch, self.world)
        if hi == lo:
            return slice(0, 1), 0.0
        return slice(lo, hi), (hi - lo) * self.world.size / batch

    def _batch_indices(self, gen: torch.Generator) -> torch.Tensor:
        """Indices of this step's batch: epoch-wise permutation seeded by (seed, phase, epoch)."""
        epoch, pos = divmod(self.step, self.steps_per_epoch)
        key = (self.phase, epoch)
        if getattr(self, "_perm_key", None) != key:
            perm_gen = torch.Generator().manual_seed(_step_seed(self.seed, self.phase, -1 - epoch))
            self._perm, self._perm_key = torch.randperm(len(self.data.x), generator=perm_gen), key
        bs = self.config.batch_size
        return self._perm[pos * bs:(pos + 1) * bs]

    @torch.no_grad()
    def _teacher_logits(self) -> torch.Tensor:
        """Logits (N, classes) of the full network (eval mode) on the un-augmented training images.

        Each rank computes its share of the images; every rank ends up with all the rows.
        """
        broadcast_buffers(self.net, self.world)  # eval mode reads BN running statistics: rank 0's on all
        self.net.set_active(self.net.largest_genome())
        self.net.eval()
        (lo, hi), out, bs = share(len(self.data.x), self.world), [], self.config.eval_batch
        for start in tqdm(range(lo, hi, bs), desc="teacher logits", unit="batch", leave=False,
                          disable=not self.world.is_main):
            batch = self.data.x[start:min(start + bs, hi)]
            out.append(self.net(prepare(batch, self.device, self.config.channels_last)))
        self.net.train()
        logits = gather_rows(torch.cat(out).float(), len(self.data.x), self.world)
        acc = 100.0 * float((logits.argmax(dim=1) == self.data.y).float().mean())
        log.info("cached teacher logits of %d training images (teacher train accuracy %.2f%%)", len(logits), acc)
        return logits


def _step_seed(seed: int, phase: int, step: int) -> int:
    """A 63-bit seed for (seed, phase, step), decorrelated through numpy's SeedSequence."""
    return int(np.random.SeedSequence([seed, phase, step + 2 ** 20]).generate_state(1, np.uint64)[0] >> 1)


def train_standalone(model: torch.nn.Module, data: TrainData, config: SupernetConfig, epochs: float,
                     seed: int, device: torch.device, desc: str = "scratch") -> float:
    """Train a static network with the ``full`` phase recipe (hard loss, same optimiser, schedule,
    augmentation) for ``epochs``; returns the seconds it took. Used for from-scratch baselines."""
    steps_per_epoch = math.ceil(len(data.x) / config.batch_size)
    total = max(1, math.ceil(epochs * steps_per_epoch))
    if config.max_steps_per_phase:
        total = min(total, config.max_steps_per_phase)
    optimizer = torch.optim.SGD(weight_decay_groups(model, config.weight_decay), lr=config.lr_full,
                                momentum=config.momentum, nesterov=config.momentum > 0)
    model.train()
    started, perm = time.perf_counter(), None
    for step in tqdm(range(total), desc=desc, unit="step", leave=False):
        epoch, pos = divmod(step, steps_per_epoch)
        if pos == 0:
            perm = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(_step_seed(seed, 0, -1 - epoch)))
        idx = perm[pos * config.batch_size:(pos + 1) * config.batch_size]
        gen = torch.Generator().manual_seed(_step_seed(seed, 0, step))
        x = augment(data.x[idx], gen, config.crop_pad, config.flip)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, total, config.lr_full, config.warmup_steps)
        logits = model(prepare(x, device, config.channels_last))
        loss = F.cross_entropy(logits, data.y[idx].to(device), label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started
