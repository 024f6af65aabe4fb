"""Reader for the CIFAR-10 / CIFAR-100 *binary* distributions (the ``-binary.tar.gz`` archives).

Each record is ``label_bytes`` label bytes followed by 3072 pixel bytes: the 1024 red values,
then green, then blue, each a row-major 32 x 32 plane. CIFAR-10 has one label byte and the files
``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``; CIFAR-100 has a coarse and a
fine label byte and the files ``train.bin`` and ``test.bin`` (the fine label is used).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apq.errors import UserError

IMAGE_BYTES = 3 * 32 * 32

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

CIFAR100_CLASSES = (  # fine labels, in label order (alphabetical), as in fine_label_names.txt
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()


@dataclass(frozen=True)
class CifarLayout:
    """File layout of one CIFAR binary distribution."""

    name: str
    subdir: str              # folder the official archive extracts to
    label_bytes: int         # label bytes per record; the last one is the label used
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    names_file: str          # text file with one class name per line
    classes: tuple[str, ...]  # fallback names when names_file is absent


CIFAR10 = CifarLayout("cifar10", "cifar-10-batches-bin", 1,
                      tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",),
                      "batches.meta.txt", tuple(CIFAR10_CLASSES))
CIFAR100 = CifarLayout("cifar100", "cifar-100-binary", 2, ("train.bin",), ("test.bin",),
                       "fine_label_names.txt", tuple(CIFAR100_CLASSES))


def read_cifar_batch(path: str | os.PathLike, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary batch: images uint8 (N, 32, 32, 3) HWC and labels int64 (N,).

    With ``label_bytes`` = 2 (CIFAR-100) the second byte, the fine label, is returned.
    """
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}; check the path") from exc
    record = label_bytes + IMAGE_BYTES
    if raw.size == 0 or raw.size % record:
        raise UserError(f"{path} has {raw.size} bytes, not a positive multiple of the "
                        f"{record}-byte record; use the CIFAR *binary* version, re-downloaded")
    records = raw.reshape(-1, record)
    labels = records[:, label_bytes - 1].astype(np.int64)
    images = records[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def find_cifar_root(data_dir: str | os.PathLike, layout: CifarLayout) -> Path | None:
    """Return ``data_dir`` or its ``layout.subdir`` child if it holds all batch files, else None."""
    for root in (Path(data_dir), Path(data_dir) / layout.subdir):
        if all((root / f).is_file() for f in layout.train_files + layout.test_files):
            return root
    return None


def read_class_names(root: Path, layout: CifarLayout) -> list[str]:
    """Class names from the distribution's names file, or the built-in list if it is absent."""
    path = root / layout.names_file
    if not path.is_file():
        return list(layout.classes)
    names = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    names = [n for n in names if n]
    if len(names) != len(layout.classes):
        raise UserError(f"{path} lists {len(names)} classes, expected {len(layout.classes)}; "
                        "restore the file from the official archive or delete it")
    return names


def load_cifar(data_dir: str | os.PathLike, layout: CifarLayout
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Load a CIFAR split pair: (train_x, train_y, test_x, test_y, classes).

    Images are uint8 (N, 32, 32, 3) HWC, labels int64 (N,) in [0, len(classes)).
    """
    root = find_cifar_root(data_dir, layout)
    if root is None:
        missing = " ".join(layout.train_files + layout.test_files)
        raise UserError(f"no {layout.name} binary batches ({missing}) in {data_dir} or "
                        f"{Path(data_dir) / layout.subdir}; "
                        "extract the official binary archive there")
    classes = read_class_names(root, layout)
    parts = {}
    for split, files in (("train", layout.train_files), ("test", layout.test_files)):
        batches = [read_cifar_batch(root / f, layout.label_bytes) for f in files]
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        if y.max() >= len(classes):
            raise UserError(f"{root} {split} labels reach {y.max()} but {layout.name} has "
                            f"{len(classes)} classes; check that this is {layout.name}, "
                            "not another set")
        parts[split] = (x, y)
    return (*parts["train"], *parts["test"], classes)


def load_cifar10(data_dir: str | os.PathLike):
    """CIFAR-10 binary: (train_x, train_y, test_x, test_y, classes); see :func:`load_cifar`."""
    return load_cifar(data_dir, CIFAR10)


def load_cifar100(data_dir: str | os.PathLike):
    """CIFAR-100 binary, fine labels: (train_x, train_y, test_x, test_y, classes)."""
    return load_cifar(data_dir, CIFAR100)
