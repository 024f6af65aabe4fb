"""Where datasets are looked for on disk.

Search order for a dataset called ``name`` (first match wins):

1. the explicit ``data_dir`` argument (or its ``<name>`` sub-folder). It is *strict*: if it
   holds no such dataset the search stops with an error instead of silently using another copy;
2. ``$APQ_DATA_DIR`` (or ``$APQ_DATA_DIR/<name>``);
3. ``<project>/data/<name>/``;
4. ``/usr/share/datasets/<name>/`` (where the ``dataset-<name>`` Debian packages install).

The module-level paths are read at call time, so tests can monkeypatch them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from apq.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # apq/data/locate.py -> project root
PROJECT_DATA_ROOT = PROJECT_ROOT / "data"
SYSTEM_DATA_ROOT = Path("/usr/share/datasets")
ENV_VAR = "APQ_DATA_DIR"

# Given a candidate folder, return the folder that actually holds the files, or None.
Resolver = Callable[[Path], "Path | None"]


def project_dataset_dir(name: str) -> Path:
    """``<project>/data/<name>``: where ``make data`` puts downloaded files."""
    return PROJECT_DATA_ROOT / name


def candidate_dirs(name: str) -> list[Path]:
    """Implicit places to look for dataset ``name``, in search order (steps 2-4 above)."""
    dirs = []
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        dirs += [Path(env).expanduser(), Path(env).expanduser() / name]
    dirs += [project_dataset_dir(name), SYSTEM_DATA_ROOT / name]
    return dirs


def _first_match(dirs: list[Path], resolve: Resolver) -> Path | None:
    for directory in dirs:
        if directory.is_dir():
            found = resolve(directory)
            if found is not None:
                return found
    return None


def find_dataset_dir(name: str, data_dir: str | os.PathLike | None,
                     resolve: Resolver, what: str) -> Path | None:
    """Folder holding dataset ``name``, or None if no implicit location has it.

    ``what`` describes the expected files for the error raised when an explicit ``data_dir``
    does not hold them.
    """
    if data_dir is None:
        return _first_match(candidate_dirs(name), resolve)
    explicit = Path(data_dir).expanduser()
    found = _first_match([explicit, explicit / name], resolve)
    if found is None:
        raise UserError(f"{explicit} does not hold {what}; put the files there, or omit the "
                        f"data dir to search ${ENV_VAR}, data/{name}/ and "
                        f"{SYSTEM_DATA_ROOT / name}/")
    return found
