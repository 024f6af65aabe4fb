"""One staged write for files and folders: built beside the destination, moved into place whole.

A file goes through :func:`apq.io.atomic_path` (temporary file, fsync, rename). A folder (a
search run, an export) is filled in a hidden staging folder beside it and renamed into place
only when the block succeeds; an older folder at that path is replaced at once. A failure or an
interruption leaves the destination as it was and no staging folder behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from apq.io import atomic_path


def umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staged(final: str | Path, folder: bool = False, suffix: str = ".tmp"):
    """Yield a temporary path for ``final`` (an empty folder when ``folder``); it becomes ``final``
    only if the block succeeds."""
    final = Path(final)
    if not folder:
        with atomic_path(final, suffix) as tmp:
            yield tmp
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent))
    staging.chmod(0o777 & ~umask())  # mkdtemp makes it private; the result is an ordinary folder
    old = None
    try:
        yield staging
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
            os.replace(final, old / final.name)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
