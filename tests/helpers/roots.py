"""Project roots (APQ_ROOT folders) shared between tests."""
import shutil
from pathlib import Path


def copy_upstream(source: Path, root: Path) -> None:
    """Copy the artifacts a search reads (``data/`` and ``predictors/``) from ``source`` into ``root``."""
    for folder in ("data", "predictors"):
        shutil.copytree(source / folder, root / folder, dirs_exist_ok=True)
