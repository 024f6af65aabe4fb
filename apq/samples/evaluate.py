"""Evaluation of sample i, as run by a worker process (or in process for ``--jobs 1``).

Sample i is a pure function of (preset seed, kind, i): its genome is
:func:`apq.samples.draw.sample_genome` (architecture from (seed, i), bits from :func:`sample_seed`)
and the same seed fixes every random draw of its evaluation (the quantized fine-tune's batch
order), so the job split, the backend and restarts never change it. A job's ``replicate`` > 0
measures the same genomes again with other draws (:func:`apq.samples.draw.replicate_seed`) and
another shared calibration pool (:func:`apq.samples.data.calibration_seed`): how far a label moves
between two realizations of its evaluation (:mod:`apq.predictor.retest`).

- fp32 sample: BN re-calibration on a fixed set of training images, then its labels on a fixed,
  seeded subset of the held-out validation split.
- quantized sample: :func:`apq.quant.pipeline.evaluate_quantized` on the same kind of subset.

Labels (:func:`labels`), from the one evaluation pass: top-1 accuracy, mean cross-entropy and
mean correct-class probability, each on the whole split and on its even- and odd-numbered images.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from apq.nn.runtime import pick_device, torch_threads
from apq.presets import Preset
from apq.quant.config import QuantConfig
from apq.quant.fold import fold_batch_norms
from apq.quant.pipeline import evaluate_quantized, recalibrated_subnet
from apq.samples.config import SampleConfig
from apq.samples.data import calibration_seed, load_sample_data
from apq.samples.draw import replicate_seed, sample_genome, sample_seed  # noqa: F401 - sample_seed re-exported (bench)
from apq.space.encoding import Encoder
from apq.space.genome import sample
from apq.space.registry import create_space
from apq.supernet.checkpoint import load_supernet
from apq.supernet.evaluate import evaluate


@dataclass(frozen=True)
class SampleJob:
    """What a worker needs to evaluate samples of one file (small and picklable).

    ``space`` is a registered name or a space .json path; ``threads`` is the torch intra-op
    thread count a sample runs with. It is 1 whatever ``--jobs`` is, and parallelism comes from
    the workers: intra-op threads change the order of float sums, and the quantized fine-tune
    amplifies such last-bit differences into accuracy differences of up to about a point, so a
    thread count that followed the job split would make sample i depend on it. ``replicate``:
    0 for the samples, r > 0 for their r-th re-measurement (same genomes, other random draws).
    """

    space: str
    kind: str
    preset: Preset
    samples: SampleConfig
    quant: QuantConfig
    supernet_path: str
    data_dir: str | None
    threads: int = 1
    replicate: int = 0


@dataclass
class Context:
    """Per-process state loaded once per job: space, supernet (eval mode), data, encoder."""

    space: object
    supernet: torch.nn.Module
    data: object
    encoder: Encoder


_CACHE: dict = {}
_DATA: dict = {}


def draw_genome(space, seed: int) -> np.ndarray:
    """A genome (n_genes,) uniform over the space's valid genomes, from ``seed`` (benchmark probes;
    sample i's genome is :func:`apq.samples.draw.sample_genome`)."""
    return sample(space, 1, np.random.default_rng(seed))[0]


def load_context(job: SampleJob) -> Context:
    """Load space, supernet and data for ``job`` (UserError if any is missing or mismatched)."""
    space = create_space(job.space)
    supernet, _ = load_supernet(space, job.supernet_path, pick_device())
    if job.samples.channels_last:
        supernet = supernet.to(memory_format=torch.channels_last)
    return Context(space, supernet, _data(job, space), Encoder(space))


def _data(job: SampleJob, space):
    """The job's data; kept across jobs that share space, preset, dataset folder and subset size."""
    key = (job.space, job.preset, job.data_dir, job.samples.val_images(job.kind), job.replicate)
    if key not in _DATA:
        _DATA.clear()
        data = load_sample_data(space, job.preset, job.data_dir)
        if job.replicate:
            data = data.with_calib_seed(calibration_seed(job.preset.seed, job.replicate))
        _DATA[key] = data.with_val_subset(job.samples.val_images(job.kind), job.preset.seed)
    return _DATA[key]


def context(job: SampleJob) -> Context:
    """The cached :class:`Context` of ``job`` in this process (only the latest job is kept)."""
    key = (job.space, job.preset, job.samples, job.supernet_path, job.data_dir, job.kind, job.replicate)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = load_context(job)
    return _CACHE[key]


def release_context() -> None:
    """Drop this process's cached context (frees the supernet and the data tensors)."""
    _CACHE.clear()
    _DATA.clear()


def evaluate_fp32(ctx: Context, genome: np.ndarray, config: SampleConfig):
    """EvalResult of the fp32 sub-net of ``genome``: BN re-calibrated, on the validation subset.

    The sub-net is extracted and its batch norms folded after re-calibration: the same function
    as the supernet with ``set_active(genome)``, ~1.4x faster to evaluate.
    """
    data = ctx.data
    net = recalibrated_subnet(ctx.supernet, genome, data.calib[:config.fp32_bn_calib_images], config.bn_calib_batch,
                              config.channels_last)
    return evaluate(fold_batch_norms(net), data.val_x, data.val_y, config.eval_batch, config.channels_last)


def run_sample(job: SampleJob, index: int) -> dict:
    """Evaluate sample ``index``; returns one row for :class:`apq.samples.store.SampleWriter`."""
    with torch_threads(job.threads):
        return _run_sample(job, index)


def _run_sample(job: SampleJob, index: int) -> dict:
    ctx = context(job)
    seed = replicate_seed(job.preset.seed, job.kind, index, job.replicate)
    genome = sample_genome(ctx.space, job.preset.seed, job.kind, index, job.samples.draw, job.samples.draw_candidates)
    started = time.perf_counter()
    if job.kind == "quant":
        result = evaluate_quantized(ctx.supernet, genome, ctx.data, job.quant, seed=seed)
    else:
        result = evaluate_fp32(ctx, genome, job.samples)
    seconds = time.perf_counter() - started
    encoding = ctx.encoder.encode(genome[None], quant=job.kind == "quant")[0]
    return {"index": index, "genome": genome, "encoding": encoding, **labels(result), "seconds": seconds,
            "seed": seed}


def labels(result) -> dict:
    """A sample's label columns from one evaluation's per-image results (an
    :class:`apq.supernet.evaluate.EvalResult`): ``accuracy`` (percent), ``loss`` (mean cross-entropy,
    nats), ``p_correct`` (mean correct-class probability = mean exp(-cross-entropy)), each also on the
    even- and odd-numbered images (``*_halves``, (2,)), the halves that ``accuracy_halves`` uses."""
    losses = np.asarray(result.losses, dtype=np.float64)
    p_correct = np.exp(-losses)
    return {"accuracy": result.accuracy, "accuracy_halves": result.halves, "loss": result.loss,
            "loss_halves": _halves(losses), "p_correct": float(p_correct.mean()), "p_correct_halves": _halves(p_correct)}


def _halves(values: np.ndarray) -> tuple[float, float]:
    """Means over the even- and over the odd-numbered images."""
    return float(values[0::2].mean()), float(values[1::2].mean())
