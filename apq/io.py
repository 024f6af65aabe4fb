"""Atomic artifact writes and project paths.

Every artifact is written to a temporary file in its destination folder and renamed into place,
so a crash or a refused input never leaves a partial file behind.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import secrets
from contextlib import contextmanager
from pathlib import Path

from apq.errors import UserError


def project_root() -> Path:
    """Folder holding ``data/``, ``predictors/`` and ``results/``: ``$APQ_ROOT`` or the cwd."""
    return Path(os.environ.get("APQ_ROOT", os.getcwd())).resolve()


def space_data_dir(space_name: str) -> Path:
    """``data/<space>/``, where the pipeline's per-space artifacts go."""
    return project_root() / "data" / space_name


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file (hidden, named after ``path``, ending in ``suffix``) is fsynced before the
    rename, and the folder after it, so that after a crash or power loss ``path`` holds either
    its old content or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path, suffix)
    try:
        yield Path(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _create_temporary(path: Path, suffix: str) -> str:
    """Create an empty, uniquely named file beside ``path`` and return its name.

    Unlike ``tempfile.mkstemp`` (always 0600) it is created with mode 0666, which the kernel
    narrows by the umask, so artifacts get the permissions of any other new file.
    """
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _fsync(path: str | Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (a rename) to disk where the OS and filesystem allow it."""
    try:
        _fsync(path)
    except OSError:
        pass  # e.g. Windows cannot open a folder: the rename is still atomic, only its durability is unsure


def write_json(path: str | Path, data) -> Path:
    """Atomically write ``data`` as indented JSON; returns the final path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return Path(path)


def load_weights_only(path: str | Path, fix: str):
    """``torch.load(path, weights_only=True)`` on the CPU; a file that cannot be read that way
    (missing, truncated, not a torch file, or carrying a pickled object, which is never
    unpickled) ends in a one-line :class:`UserError` that closes with ``fix`` (what to do)."""
    import torch  # here, not above: the bottom layer stays torch-free for the light commands

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path} not found; {fix}") from None
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))  # weights_only refused a class or function reference
        if found is None:
            raise UserError(f"cannot read {path}: not a torch file, or a corrupt one; {fix}") from None
        raise UserError(f"{path} holds a pickled Python object ({found.group(1)}), which is never loaded "
                        f"(weights_only); {fix}") from None
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"cannot read {path}: truncated or corrupt ({type(err).__name__}); {fix}") from None
