"""Class-per-folder image datasets: ``root/train/<class>/*.png`` and ``root/test/<class>/*``.

Needs Pillow (the optional extra ``apq-engine[images]``). Every image is converted to the requested
mode (``"L"`` grayscale, C = 1, or ``"RGB"``, C = 3) and resized to ``size`` x ``size`` pixels
with bilinear filtering. Classes are the sub-folder names, sorted; train and test must have the
same set.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np

from apq.errors import UserError
from apq.extras import require_extra

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MODES = {"L": 1, "RGB": 3}  # Pillow mode -> channels


def _pillow():
    """Import Pillow's Image module, or explain how to install it."""
    return require_extra(("PIL.Image",), "images", "a class-per-folder image dataset")[0]


def list_classes(split_dir: Path) -> list[str]:
    """Sorted names of the sub-folders of ``split_dir`` (one per class)."""
    if not split_dir.is_dir():
        raise UserError(f"{split_dir} is not a directory; lay the dataset out as "
                        "<root>/train/<class>/*.png and <root>/test/<class>/*.png")
    classes = sorted(p.name for p in split_dir.iterdir()
                     if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(f"{split_dir} has no class sub-folders; add one folder per class")
    return classes


def list_images(class_dir: Path) -> list[Path]:
    """Image files (png/jpg/jpeg, any case) directly in ``class_dir``, sorted by name."""
    files = sorted(p for p in class_dir.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"{class_dir} has no .png/.jpg images; add images or remove the folder")
    return files


def read_image(path: Path, size: int, mode: str) -> np.ndarray:
    """Read one image as uint8 (size, size, C), C = 1 for mode "L" and 3 for "RGB"."""
    image_mod = _pillow()
    try:
        with image_mod.open(path) as img:
            img = img.convert(mode).resize((size, size), image_mod.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as exc:
        raise UserError(f"cannot read image {path} ({exc}); replace or delete the file") from exc
    return pixels.reshape(size, size, MODES[mode])


def read_split(split_dir: Path, classes: list[str], size: int, mode: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """Read every image of one split: images uint8 (N, size, size, C), labels int64 (N,)."""
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in list_images(split_dir / name):
            images.append(read_image(path, size, mode))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def load_image_folder(root: str | os.PathLike, size: int = 28, mode: str = "L"
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Load ``root/{train,test}/<class>/``: (train_x, train_y, test_x, test_y, classes).

    Images are uint8 (N, size, size, C); labels int64 index the sorted class names.
    """
    if mode not in MODES:
        raise UserError(f"image mode {mode!r} is not supported; use one of {sorted(MODES)}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise UserError(f"image size {size!r} must be a positive integer (pixels)")
    size = int(size)
    _pillow()
    root = Path(root)
    classes = list_classes(root / "train")
    test_classes = list_classes(root / "test")
    if test_classes != classes:
        only = sorted(set(classes) ^ set(test_classes))
        raise UserError(f"{root}/train and {root}/test have different classes (differ in: "
                        f"{', '.join(only)}); give both splits the same class folders")
    return (*read_split(root / "train", classes, size, mode),
            *read_split(root / "test", classes, size, mode), classes)
