"""``apq samples``: evaluate sub-nets in parallel and append them to ``data/<space>/samples_<kind>.h5``.

Resumable: indices already in the file are skipped, every finished sample is flushed as soon
as the parent receives it (workers return rows; only the parent writes), so a killed run loses
only the samples in flight and a rerun continues to ``n`` without duplicates. A file made for
another space, kind, supernet or evaluation setting is refused (:mod:`apq.samples.store`).
"""
from __future__ import annotations

import hashlib
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
from apq.samples.store import IDENTITY, SampleHeader, SampleWriter, config_text, read_samples, sample_path
from apq.space.encoding import Encoder
from apq.space.space import SearchSpace
from apq.supernet import checkpoint as ckpt
from apq.supernet.checkpoint import supernet_path as default_supernet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How (not what) to compute: worker count, joblib backend, cluster address, dataset folder."""

    jobs: int = 1
    backend: str = "loky"
    address: str | None = None
    data_dir: str | None = None


def file_digest(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of a file (identifies the supernet samples came from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def make_header(space: SearchSpace, job: worker.SampleJob) -> SampleHeader:
    """File identity: what the samples depend on (not their count, nor how they were computed)."""
    supernet = Path(job.supernet_path)
    meta = ckpt.read(supernet, ckpt.FORMAT)["meta"]
    ckpt.check_space(meta, space, supernet)
    config = {"kind": job.kind, "preset": job.preset.to_dict(), "evaluation": job.samples.evaluation_settings(job.kind),
              "supernet": {"sha256_16": file_digest(supernet), "settings": meta["supernet_config"]["name"]}}
    if job.kind == "quant":
        config["quant"] = job.quant.to_dict()
    encoder = Encoder(space)
    dim = encoder.dim if job.kind == "quant" else encoder.fp32_dim
    return SampleHeader(job.kind, space.name, dim, space.n_genes, "val", config_text(config))


def done_indices(path: Path, header: SampleHeader) -> set[int]:
    """Indices already in ``path`` (empty if absent); a mismatched file is a :class:`UserError`."""
    if not path.exists():
        return set()
    return set(read_samples(path, **{k: getattr(header, k) for k in IDENTITY}).index.tolist())


def generate_samples(space: SearchSpace, space_arg: str, kind: str, n: int, preset: Preset, samples: SampleConfig,
                     quant: QuantConfig, options: RunOptions, supernet_path: Path | None = None) -> Path:
    """Make ``data/<space>/samples_<kind>.h5`` hold samples 0..n-1; returns its path.

    ``space_arg`` is how workers re-create the space (a registered name or a .json path).
    """
    path = sample_path(space.name, kind)
    job = worker.SampleJob(space_arg, kind, preset, samples, quant, str(supernet_path or default_supernet(space.name)),
                           options.data_dir)
    header = make_header(space, job)
    done = done_indices(path, header)
    pending = [i for i in range(n) if i not in done]
    if not pending:
        log.info("%s already holds %d %s samples", path, n, kind)
        return path
    worker.context(job)  # load supernet and data here first: user errors surface before the file exists
    if options.jobs > 1 or options.backend != "loky" or options.address:
        worker.release_context()  # the workers load their own
    with _executor(options) as run, SampleWriter(path, header) as writer:
        bar = tqdm(total=n, initial=n - len(pending), desc=f"{kind} samples", unit="sample")
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
