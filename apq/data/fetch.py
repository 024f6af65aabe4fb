"""Find or fetch Fashion-MNIST (``make data`` runs ``apq data``; ``python -m apq.data.fetch`` works too).

:func:`ensure_fashion_mnist` first searches the usual places (see :mod:`apq.data.locate`).
If nothing is there it installs the Debian package ``dataset-fashion-mnist`` when running as
root, and otherwise (or if apt fails) downloads the four official files from Zalando's mirror
into ``<project>/data/fashion-mnist/``. The apt and download steps are parameters, so tests
replace them and never touch apt or the network.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from apq.data import locate
from apq.data.idx import read_idx
from apq.data.mnist import IDX_FILES, describe_idx_files, resolve_idx_dir
from apq.errors import UserError
from apq.io import atomic_path

log = logging.getLogger(__name__)

NAME = "fashion-mnist"
APT_PACKAGE = "dataset-fashion-mnist"
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DOWNLOAD_TIMEOUT_S = 60.0  # seconds per blocking socket operation, not per file
APT_TIMEOUT_S = 900.0  # seconds for one apt-get run
# role -> (number of records, ndim) that a downloaded file must have
EXPECTED = {"train_images": (60000, 3), "train_labels": (60000, 1),
            "test_images": (10000, 3), "test_labels": (10000, 1)}
HOWTO = ("install it with `apt-get install dataset-fashion-mnist` (as root), or put the 4 files "
         f"({describe_idx_files()}) in data/fashion-mnist/, or point APQ_DATA_DIR at them")

Runner = Callable[..., subprocess.CompletedProcess]
AptInstaller = Callable[[str], bool]
Downloader = Callable[[str, Path, float], None]


def find_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Path | None:
    """Folder holding the four Fashion-MNIST files, or None; an explicit ``data_dir`` is strict."""
    return locate.find_dataset_dir(NAME, data_dir, resolve_idx_dir,
                                   f"the Fashion-MNIST files ({describe_idx_files()})")


def locate_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding the four Fashion-MNIST files (gz or raw); UserError with a how-to if none."""
    found = find_fashion_mnist(data_dir)
    if found is None:
        raise UserError(f"Fashion-MNIST not found; {HOWTO}")
    return found


def _run_ok(run: Runner, cmd: list[str]) -> bool:
    """Run ``cmd``; True if it exited 0. A missing executable counts as failure."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        result = run(cmd, check=False, capture_output=True, text=True, env=env,
                     timeout=APT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("%s failed: %s", " ".join(cmd), exc)
        return False
    if result.returncode != 0:
        log.warning("%s exited %s: %s", " ".join(cmd), result.returncode,
                    (result.stderr or "").strip()[-500:])
    return result.returncode == 0


def apt_install(package: str, run: Runner = subprocess.run) -> bool:
    """``apt-get install -y package``; on failure ``apt-get update`` and retry once."""
    install = ["apt-get", "install", "-y", package]
    if _run_ok(run, install):
        return True
    log.info("apt-get install failed; running apt-get update and retrying")
    _run_ok(run, ["apt-get", "update"])
    return _run_ok(run, install)


def download_file(url: str, dest: Path, timeout: float) -> None:
    """Save ``url`` to ``dest`` (bytes as served). Raises OSError / URLError on failure."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)


def _check_download(path: Path, role: str, url: str) -> None:
    """Raise UserError unless ``path`` parses as the expected Fashion-MNIST file."""
    count, ndim = EXPECTED[role]
    try:
        array = read_idx(path)
    except UserError as exc:
        raise UserError(f"{url} did not give a valid IDX file ({exc}); {HOWTO}") from exc
    if array.shape[0] != count or array.ndim != ndim:
        raise UserError(f"{url} gave shape {array.shape}, expected {count} records of "
                        f"{ndim}-D data; {HOWTO}")


def download_fashion_mnist(dest_dir: Path, download: Downloader = download_file,
                           timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the four files into ``dest_dir`` atomically (temp file, parse, then rename)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for role, stem in IDX_FILES.items():
        target = dest_dir / f"{stem}.gz"
        if target.is_file():
            continue
        url = BASE_URL + target.name
        with atomic_path(target, suffix=".part") as tmp:
            log.info("downloading %s", url)
            download(url, tmp, timeout)
            _check_download(tmp, role, url)
    return dest_dir


def _is_root() -> bool:
    """True when running as root (POSIX); never on platforms without ``os.geteuid``."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def ensure_fashion_mnist(data_dir: str | os.PathLike | None = None, *,
                         apt: AptInstaller = apt_install,
                         download: Downloader = download_file,
                         timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Folder holding Fashion-MNIST, installing (root: apt) or downloading it if absent.

    An explicit ``data_dir`` must already hold the files; nothing is fetched into it.
    Offline with no copy anywhere: UserError saying how to provide the files.
    """
    found = find_fashion_mnist(data_dir)
    if found is not None:
        return found
    if _is_root():
        if apt(APT_PACKAGE) and (found := find_fashion_mnist()) is not None:
            return found
        log.warning("apt-get could not provide %s; trying the download", APT_PACKAGE)
    try:
        return download_fashion_mnist(locate.project_dataset_dir(NAME), download, timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"Fashion-MNIST not found and the download failed ({reason}); "
                        f"{HOWTO}") from exc


def main(argv: list[str] | None = None) -> int:
    """CLI: print the folder holding Fashion-MNIST, fetching it first if needed."""
    parser = argparse.ArgumentParser(prog="python -m apq.data.fetch",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder that already holds the 4 files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        print(ensure_fashion_mnist(args.data_dir))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
