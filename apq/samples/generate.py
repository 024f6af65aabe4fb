"""``apq samples``: evaluate sub-nets in parallel and append them to ``data/<space>/samples_<kind>.h5``.

Resumable: a file whose stamp (its ``config`` attribute) matches this run's is appendable, and
indices already in it are skipped, every finished sample is flushed as soon
as the parent receives it (workers return rows; only the parent writes), so a killed run loses
only the samples in flight and a rerun continues to ``n`` without duplicates. A file made with
other settings is refused (:func:`apq.stages.fresh.freshness`); one made from another supernet
starts again.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from joblib import Parallel, delayed
from tqdm import tqdm

from apq.presets import Preset
from apq.quant.config import QuantConfig
from apq.samples import evaluate as worker
from apq.samples.config import SampleConfig
from apq.samples.parallel import backend_context
from apq.samples.store import SampleHeader, SampleWriter, read_identity, sample_path
from apq.space.encoding import Encoder
from apq.space.space import SearchSpace
from apq.stages.fresh import REPLACE, STALE, Stamp, freshness, upstream_digests
from apq.stages.layout import retest_path, supernet_path as default_supernet
from apq.stages.lock import artifact_lock
from apq.supernet import checkpoint as ckpt

log = logging.getLogger(__name__)

#: Version of the sample files' contents, part of their stamp: bumping it makes older files stale.
STAMP_FORMAT = "apq-samples/2"  # 2: loss/p_correct halves columns; shared, cost-stratified architectures


@dataclass(frozen=True)
class RunOptions:
    """How (not what) to compute: worker count, joblib backend, cluster address, dataset folder."""

    jobs: int = 1
    backend: str = "loky"
    address: str | None = None
    data_dir: str | None = None


def make_stamp(space: SearchSpace, job: worker.SampleJob) -> Stamp:
    """What the samples depend on (not their count, nor how they were computed): the evaluation
    (and quantization) settings, the preset's shared fields and the supernet file's digest."""
    supernet = Path(job.supernet_path)
    ckpt.check_space(ckpt.read(supernet, ckpt.FORMAT)["meta"], space, supernet)
    settings = {"kind": job.kind, "evaluation": job.samples.evaluation_settings(job.kind)}
    if job.kind == "quant":
        settings["quant"] = job.quant.to_dict()
    if job.replicate:
        settings["replicate"] = job.replicate
    return Stamp(f"samples_{job.kind}", STAMP_FORMAT, settings, {"preset": job.preset.to_dict(), "space": space.name},
                 upstream_digests(supernet))


def make_header(space: SearchSpace, kind: str, stamp: Stamp) -> SampleHeader:
    """The file's identity attributes; its ``config`` is ``stamp``."""
    encoder = Encoder(space)
    dim = encoder.dim if kind == "quant" else encoder.fp32_dim
    return SampleHeader(kind, space.name, dim, space.n_genes, "val", stamp.text())


def generate_samples(space: SearchSpace, space_arg: str, kind: str, n: int, preset: Preset, samples: SampleConfig,
                     quant: QuantConfig, options: RunOptions, supernet_path: Path | None = None,
                     force: bool = False, replicate: int = 0) -> Path:
    """Make ``data/<space>/samples_<kind>.h5`` hold samples 0..n-1; returns its path. With
    ``replicate`` 1 it is ``samples_<kind>_retest.h5``: the same samples measured again.

    ``space_arg`` is how workers re-create the space (a registered name or a .json path). The
    file's lock is held throughout. A file with this run's stamp gets its missing indices; one
    made from another supernet (same settings) starts again, logged; one made with other settings
    is refused unless ``force`` (then it starts again).
    """
    path = retest_path(space.name, kind) if replicate else sample_path(space.name, kind)
    job = worker.SampleJob(space_arg, kind, preset, samples, quant, str(supernet_path or default_supernet(space.name)),
                           options.data_dir, replicate=replicate)
    stamp = make_stamp(space, job)
    with artifact_lock(path):
        have, done = read_identity(path)
        verdict = freshness(stamp, have, (path,), command=f"apq samples{' --quant' if kind == 'quant' else ''}",
                            force=force)
        if verdict in (STALE, REPLACE):
            path.unlink(missing_ok=True)
            done = set()
        return _fill(path, job, make_header(space, kind, stamp), [i for i in range(n) if i not in done], n, options)


def _fill(path: Path, job: worker.SampleJob, header: SampleHeader, pending: list[int], n: int,
          options: RunOptions) -> Path:
    """Evaluate the ``pending`` indices and append each to ``path`` as it arrives."""
    kind = job.kind
    if not pending:
        log.info("%s already holds %d %s samples", path, n, kind)
        return path
    worker.context(job)  # load supernet and data here first: user errors surface before the file exists
    if options.jobs > 1 or options.backend != "loky" or options.address:
        worker.release_context()  # the workers load their own
    with _executor(options) as run, SampleWriter(path, header) as writer:
        bar = tqdm(total=n, initial=n - len(pending), desc=f"{kind} {'retest' if job.replicate else 'samples'}",
                   unit="sample")
        try:
            for row in run(job, pending):
                writer.append(row)
                bar.update(1)
                bar.set_postfix(acc=f"{row['accuracy']:.2f}")
        finally:
            bar.close()
    log.info("%s: %d %s samples", path, n, kind)
    return path


@contextmanager
def _executor(options: RunOptions):
    """Yields ``run(job, indices)`` -> rows in completion order: in this process when jobs == 1,
    else joblib workers on the chosen backend (started, and checked, before the file is touched)."""
    if options.jobs == 1 and options.backend == "loky" and not options.address:
        yield lambda job, indices: (worker.run_sample(job, i) for i in indices)
        return
    with backend_context(options.backend, options.jobs, options.address):
        parallel = Parallel(n_jobs=options.jobs, return_as="generator_unordered", batch_size=1)
        yield lambda job, indices: parallel(delayed(worker.run_sample)(job, i) for i in indices)
