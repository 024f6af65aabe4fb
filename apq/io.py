"""Atomic artifact writes and project paths.

Every artifact is written to a temporary file in its destination folder and renamed into place,
so a crash or a refused input never leaves a partial file behind.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def project_root() -> Path:
    """Folder holding ``data/``, ``predictors/`` and ``results/``: ``$APQ_ROOT`` or the cwd."""
    return Path(os.environ.get("APQ_ROOT", os.getcwd())).resolve()


def space_data_dir(space_name: str) -> Path:
    """``data/<space>/``, where the pipeline's per-space artifacts go."""
    return project_root() / "data" / space_name


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, data) -> Path:
    """Atomically write ``data`` as indented JSON; returns the final path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return Path(path)
