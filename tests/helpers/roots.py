"""Project roots (APQ_ROOT folders) shared between tests."""
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def copy_upstream(source: Path, root: Path) -> None:
    """Copy the artifacts a search reads (``data/`` and ``predictors/``) from ``source`` into ``root``."""
    for folder in ("data", "predictors"):
        shutil.copytree(source / folder, root / folder, dirs_exist_ok=True)


@contextmanager
def apq_root(root: Path):
    """``APQ_ROOT`` set to ``root`` for the block (for session fixtures, which cannot monkeypatch)."""
    before = os.environ.get("APQ_ROOT")
    os.environ["APQ_ROOT"] = str(root)
    try:
        yield root
    finally:
        if before is None:
            os.environ.pop("APQ_ROOT", None)
        else:
            os.environ["APQ_ROOT"] = before
