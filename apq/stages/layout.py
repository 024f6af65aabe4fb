"""Where every artifact of the pipeline lives, under the project root (``$APQ_ROOT`` or the cwd)::

    data/<space>/supernet.pt            supernet (+ supernet.json report, supernet.stamp.json)
    data/<space>/supernet.ckpt.pt       resumable training checkpoint, removed when training ends
    data/<space>/samples_<kind>.h5      fp32 / quant samples (their stamp is the file's ``config``)
    data/<space>/samples_<kind>_retest.h5  the first of them measured again (label noise)
    data/<space>/lut/<target>.json      cost tables written by ``apq lut``
    predictors/<space>/{fp32,quant}.pt  predictors (+ metrics.json, predictors.stamp.json)
    results/<space>/<target>/<run>/     one search run: config.json, best.json, pareto.csv,
                                        logbook.csv, verify.json, winner.pt, verify.stamp.json,
                                        export/
    results/<space>/<target>/latest     the newest run: a symlink, or a text file naming it

Beside an artifact being written sits its lock file ``.<name>.lock`` (:mod:`apq.stages.lock`).
One layout per root: artifacts of another preset or config are refused, not kept side by side
(:func:`apq.stages.fresh.fresh`), so every reader finds them without knowing a fingerprint.
"""
from __future__ import annotations

from pathlib import Path

from apq.io import project_root, space_data_dir

#: The file (or symlink) naming the newest run of a space and target.
LATEST = "latest"


def supernet_path(space_name: str) -> Path:
    """``data/<space>/supernet.pt``."""
    return space_data_dir(space_name) / "supernet.pt"


def checkpoint_path(space_name: str) -> Path:
    """``data/<space>/supernet.ckpt.pt``: the in-progress checkpoint, removed once training ends."""
    return space_data_dir(space_name) / "supernet.ckpt.pt"


def sample_path(space_name: str, kind: str) -> Path:
    """``data/<space>/samples_<kind>.h5`` (kind: fp32 | quant)."""
    return space_data_dir(space_name) / f"samples_{kind}.h5"


def retest_path(space_name: str, kind: str) -> Path:
    """``data/<space>/samples_<kind>_retest.h5``: samples re-measured with other random draws."""
    return space_data_dir(space_name) / f"samples_{kind}_retest.h5"


def predictor_dir(space_name: str) -> Path:
    """``predictors/<space>/``."""
    return project_root() / "predictors" / space_name


def predictor_path(space_name: str, kind: str) -> Path:
    """``predictors/<space>/fp32.pt`` or ``quant.pt``."""
    return predictor_dir(space_name) / f"{kind}.pt"


def results_dir(space_name: str, target_name: str) -> Path:
    """``results/<space>/<target>/``."""
    return project_root() / "results" / space_name / target_name


def stamp_path(artifact: str | Path) -> Path:
    """``<folder>/<stem>.stamp.json`` beside ``artifact``: what it was made from (:mod:`apq.stages.fresh`)."""
    artifact = Path(artifact)
    return artifact.with_name(f"{artifact.stem}.stamp.json")


def lock_path(artifact: str | Path) -> Path:
    """``<folder>/.<name>.lock`` beside ``artifact`` (:mod:`apq.stages.lock`)."""
    artifact = Path(artifact)
    return artifact.with_name(f".{artifact.name}.lock")
