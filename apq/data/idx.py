"""Reader and writer for the IDX format of the MNIST family (MNIST, Fashion-MNIST, KMNIST).

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32
dimension sizes, then the values in row-major order. Only type ``0x08`` (unsigned byte) is
used by these datasets and only that one is accepted. Files may be gzip-compressed; gzip is
detected by its magic bytes (``1f 8b``), never by the file extension.
"""

from __future__ import annotations

import gzip as gzip_lib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from apq.errors import UserError
from apq.io import atomic_path

GZIP_MAGIC = b"\x1f\x8b"
UBYTE_TYPE = 0x08
MAX_NDIM = 4  # images are at most (N, H, W, C)


def read_bytes(path: str | os.PathLike) -> bytes:
    """Return the content of ``path``, decompressed if it starts with the gzip magic bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}; check the path") from exc
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip_lib.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path} is a corrupt or truncated gzip file ({exc}); "
                        "download it again") from exc


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX ``data`` into a new uint8 array of its declared shape (``name``: for errors)."""
    if len(data) < 4:
        raise UserError(f"{name} is not an IDX file (only {len(data)} bytes); "
                        "give an MNIST-style *-ubyte file")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != UBYTE_TYPE or not 1 <= ndim <= MAX_NDIM:
        raise UserError(f"{name} has bad IDX magic {data[:4].hex()} (expected 000008 + ndim 1-4); "
                        "give an MNIST-style *-ubyte file")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{name} is truncated inside its IDX header; download it again")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(shape)  # exact Python int: no overflow for absurd headers
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "oversized"
        raise UserError(f"{name} is {what}: header declares shape {shape} = {expected} bytes "
                        f"but the file holds {actual}; download it again")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a gzip or raw IDX file into a writable uint8 array of its declared shape."""
    return parse_idx(read_bytes(path), name=str(path))


def load_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Read IDX images as uint8 (N, H, W, C); a 3-D file (N, H, W) gets C = 1 (grayscale)."""
    array = read_idx(path)
    if array.ndim == 3:
        return array[..., np.newaxis]
    if array.ndim == 4:
        return array
    raise UserError(f"{path} holds a {array.ndim}-D array, expected images (N, H, W) or "
                    "(N, H, W, C); check that images and labels are not swapped")


def load_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Read IDX labels as int64 (N,); the file must be 1-D unsigned bytes."""
    array = read_idx(path)
    if array.ndim != 1:
        raise UserError(f"{path} holds a {array.ndim}-D array, expected 1-D labels; "
                        "check that images and labels are not swapped")
    return array.astype(np.int64)


def load_idx_pair(images_path: str | os.PathLike,
                  labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load matching images uint8 (N, H, W, C) and labels int64 (N,), checking N agrees."""
    images = load_idx_images(images_path)
    labels = load_idx_labels(labels_path)
    if len(images) != len(labels):
        raise UserError(f"{labels_path} has {len(labels)} labels but {images_path} has "
                        f"{len(images)} images; use files from the same split")
    return images, labels


def write_idx(path: str | os.PathLike, array: np.ndarray, gzip: bool = False) -> Path:
    """Write a uint8 array of 1-4 dimensions as an IDX file (gzip-compressed if ``gzip``)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= MAX_NDIM:
        raise ValueError(f"write_idx needs a uint8 array of 1-4 dims, got {array.dtype} "
                         f"{array.shape}")
    header = struct.pack(">HBB", 0, UBYTE_TYPE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip_lib.compress(data) if gzip else data)
    return path
