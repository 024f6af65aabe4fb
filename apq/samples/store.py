"""HDF5 sample files: one row per evaluated sub-net, appended and flushed one at a time.

Layout (``data/<space>/samples_fp32.h5`` and ``samples_quant.h5``)::

    index     int64   (N,)          sample number i: its genome and seeds depend on i only
    genome    int16   (N, n_genes)  integer genome
    encoding  float32 (N, D)        one-hot encoding (fp32 part only for fp32 samples)
    accuracy  float32 (N,)          top-1 on the evaluation split, percent
    accuracy_halves float32 (N, 2)  top-1 on the even- and odd-numbered images of that split (their
                                    agreement across samples measures how much of the accuracy
                                    ranking is noise of the finite split; see apq.predictor.metrics)
    loss      float32 (N,)          mean cross-entropy (nats) on the evaluation split
    loss_halves float32 (N, 2)      mean cross-entropy on the even- and odd-numbered images
    p_correct float32 (N,)          mean correct-class (softmax) probability on the evaluation split,
                                    in [0, 1]: a soft accuracy, less noisy than top-1 per image
    p_correct_halves float32 (N, 2) mean correct-class probability on the even- and odd-numbered images
    seconds   float32 (N,)          wall time of the evaluation
    seed      int64   (N,)          seed of the sample's random draws

File attributes: ``format``, ``kind`` (fp32 | quant), ``space``, ``encoding_dim``, ``n_genes``,
``split``, ``apq_version`` and ``config`` (JSON: the stamp of what the samples depend on, see
:mod:`apq.stages.fresh`). A file made for another space, kind, encoding or configuration is
refused with one line naming both. While ``apq samples`` appends to a file it holds the file's
lock (:mod:`apq.stages.lock`); a reader that finds it busy is told so, not told to delete it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from apq import __version__
from apq.errors import UserError
from apq.io import atomic_path
from apq.stages.fresh import difference
from apq.stages.layout import sample_path  # noqa: F401 - where sample files live, re-exported
from apq.stages.lock import check_not_busy

FORMAT = "apq-engine-samples"
COLUMNS = {"index": np.int64, "genome": np.int16, "encoding": np.float32, "accuracy": np.float32,
           "accuracy_halves": np.float32, "loss": np.float32, "loss_halves": np.float32, "p_correct": np.float32,
           "p_correct_halves": np.float32, "seconds": np.float32, "seed": np.int64}
#: Label columns measured on the evaluation split, and their per-half companions ((N, 2) columns).
LABELS = ("accuracy", "loss", "p_correct")
HALVES = {f"{label}_halves": label for label in LABELS}
#: Attributes that must agree between a file and the run that appends to or reads it.
IDENTITY = ("kind", "space", "encoding_dim", "n_genes", "split", "config")


@dataclass(frozen=True)
class SampleHeader:
    """What a sample file is for. ``config`` is the resolved settings that produced it (JSON text)."""

    kind: str
    space: str
    encoding_dim: int
    n_genes: int
    split: str
    config: str

    def attrs(self) -> dict:
        return {"format": FORMAT, "apq_version": __version__, **self.__dict__}


@dataclass
class Samples:
    """Columns of a sample file, sorted by ``index``; arrays as in the module docstring."""

    index: np.ndarray
    genome: np.ndarray
    encoding: np.ndarray
    accuracy: np.ndarray
    accuracy_halves: np.ndarray
    loss: np.ndarray
    loss_halves: np.ndarray
    p_correct: np.ndarray
    p_correct_halves: np.ndarray
    seconds: np.ndarray
    seed: np.ndarray
    attrs: dict

    def __len__(self) -> int:
        return len(self.index)


def _open(path: Path, mode: str) -> h5py.File:
    try:
        return h5py.File(path, mode)
    except OSError as err:
        check_not_busy(path)  # HDF5 refuses to open a file another process is writing: say so
        raise UserError(f"{path} is not a readable HDF5 sample file ({err}); delete it to start again") from None


def _check(handle: h5py.File, path: Path, expected: dict) -> None:
    """Refuse a foreign, older, truncated or mismatched file with one line naming both sides."""
    _check_format(handle, path)
    missing = [c for c in COLUMNS if c not in handle]
    if missing:
        raise UserError(f"{path} lacks the columns {', '.join(missing)} (made by an older apq); "
                        "regenerate it with 'apq samples --force' (or delete it)")
    sizes = {len(handle[c]) for c in COLUMNS}
    if len(sizes) != 1:
        raise UserError(f"{path} is truncated (columns of unequal length {sorted(sizes)}); delete it to start again")
    for key, want in expected.items():
        have = handle.attrs.get(key)
        have = have.item() if isinstance(have, np.generic) else have
        if have != want:
            what = _config_difference(have, want) if key == "config" else f"{key}={str(have)[:120]!r}"
            need = "" if key == "config" else f", this run needs {key}={str(want)[:120]!r}"
            raise UserError(f"{path} was made with {what}{need}; delete it or use matching settings")


def _check_format(handle: h5py.File, path: Path) -> None:
    if handle.attrs.get("format") != FORMAT or "index" not in handle:
        raise UserError(f"{path} is not an apq-engine sample file (format/columns missing); delete it or pick another path")


def _create(path: Path, header: SampleHeader) -> None:
    """Create an empty, complete file atomically (so a crash never leaves a half-made header)."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(header.attrs())
            for name, dtype in COLUMNS.items():
                width = {"genome": (header.n_genes,), "encoding": (header.encoding_dim,),
                         **dict.fromkeys(HALVES, (2,))}.get(name, ())
                f.create_dataset(name, shape=(0, *width), maxshape=(None, *width), dtype=dtype,
                                 chunks=(64, *width))


class SampleWriter:
    """Appends rows to a sample file, flushing after each; use as a context manager."""

    def __init__(self, path: str | Path, header: SampleHeader):
        self.path = Path(path)
        if not self.path.exists():
            _create(self.path, header)
        self._file = _open(self.path, "a")
        try:
            _check(self._file, self.path, {k: getattr(header, k) for k in IDENTITY})
        except UserError:
            self._file.close()
            raise

    def done(self) -> set[int]:
        """Sample indices already in the file."""
        return set(self._file["index"][:].tolist())

    def append(self, row: dict) -> None:
        """Append one sample (a value per column of :data:`COLUMNS`) and flush it to disk."""
        n = len(self._file["index"])
        for name, dtype in COLUMNS.items():
            column = self._file[name]
            column.resize(n + 1, axis=0)
            column[n] = np.asarray(row[name], dtype=dtype)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "SampleWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_samples(path: str | Path, **expected) -> Samples:
    """Load a sample file, sorted by index; ``expected`` attributes (e.g. ``space="fmnist"``,
    ``kind="quant"``, ``encoding_dim=360``) must match or a :class:`UserError` names both."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no sample file at {path}; run 'apq samples' (or 'make samples') first")
    with _open(path, "r") as f:
        _check(f, path, expected)
        columns = {c: f[c][:] for c in COLUMNS}
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    order = np.argsort(columns["index"], kind="stable")
    return Samples(**{c: v[order] for c, v in columns.items()}, attrs=attrs)


def _config_difference(have: str, want: str) -> str:
    """'other settings: a.b=1 (this run: 2), ...' between two config texts."""
    try:
        return difference(json.loads(have), json.loads(want))
    except (TypeError, ValueError):
        return "another config"


def read_identity(path: str | Path) -> tuple[dict | None, set[int]]:
    """(the file's ``config`` as a dict, the sample indices it holds), reading it once; (None, set())
    when there is no file. A file that is no sample file is a :class:`UserError`; one of an older
    layout is not (its stamp's format tells :func:`apq.stages.fresh.freshness` to refuse or replace it)."""
    path = Path(path)
    if not path.exists():
        return None, set()
    with _open(path, "r") as f:
        _check_format(f, path)
        try:
            config = json.loads(f.attrs.get("config", ""))
        except (TypeError, ValueError):
            config = {}
        return config if isinstance(config, dict) else {}, set(f["index"][:].tolist())


def config_text(config: dict) -> str:
    """Canonical JSON of a resolved configuration, as stored in the ``config`` attribute."""
    return json.dumps(config, sort_keys=True)
