import builtins

import numpy as np
import pytest

from apq.data.folder import load_image_folder
from apq.errors import UserError

Image = pytest.importorskip("PIL.Image")


def write_png(path, color, size=(10, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


@pytest.fixture
def folder(tmp_path):
    """train: cat x2, dog x1 (+ a jpg); test: cat x1, dog x1. Cats red, dogs blue."""
    for split, counts in (("train", {"cat": 2, "dog": 1}), ("test", {"cat": 1, "dog": 1})):
        for name, count in counts.items():
            for i in range(count):
                write_png(tmp_path / split / name / f"{i}.png",
                          (255, 0, 0) if name == "cat" else (0, 0, 255))
    Image.new("RGB", (5, 5), (0, 0, 255)).save(tmp_path / "train" / "dog" / "x.JPG", "JPEG")
    (tmp_path / "train" / "dog" / "notes.txt").write_text("ignored")
    return tmp_path


def test_rgb(folder):
    train_x, train_y, test_x, test_y, classes = load_image_folder(folder, size=6, mode="RGB")
    assert classes == ["cat", "dog"]
    assert train_x.shape == (4, 6, 6, 3) and train_x.dtype == np.uint8
    assert train_y.tolist() == [0, 0, 1, 1] and test_y.tolist() == [0, 1]
    assert test_x.shape == (2, 6, 6, 3)
    assert (train_x[0, ..., 0] == 255).all() and (train_x[0, ..., 2] == 0).all()
    assert abs(int(train_x[3, 2, 2, 2]) - 255) <= 2  # jpg dog is (near) blue


def test_grayscale(folder):
    train_x, *_ = load_image_folder(folder, size=28, mode="L")
    assert train_x.shape == (4, 28, 28, 1)


def test_corrupt_image(folder):
    bad = folder / "test" / "cat" / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(UserError, match="cannot read image") as info:
        load_image_folder(folder)
    assert str(bad) in str(info.value)


def test_truncated_image(folder):
    path = folder / "test" / "cat" / "0.png"
    write_png(path, (1, 2, 3), size=(64, 64))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(UserError, match=str(path)):
        load_image_folder(folder)


def test_class_sets_must_match(folder):
    write_png(folder / "test" / "emu" / "0.png", (0, 255, 0))
    with pytest.raises(UserError, match="different classes.*emu"):
        load_image_folder(folder)


def test_empty_class(folder):
    (folder / "test" / "dog" / "0.png").unlink()
    with pytest.raises(UserError, match="no .png/.jpg images"):
        load_image_folder(folder)


def test_missing_split(tmp_path):
    write_png(tmp_path / "train" / "a" / "0.png", (0, 0, 0))
    with pytest.raises(UserError, match="test is not a directory"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("kwargs", [{"mode": "CMYK"}, {"size": 0}, {"size": 2.5}])
def test_bad_options(folder, kwargs):
    with pytest.raises(UserError):
        load_image_folder(folder, **kwargs)


def test_without_pillow(folder, monkeypatch):
    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no PIL")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    with pytest.raises(UserError, match=r"pip install 'apq-engine\[images\]'"):
        load_image_folder(folder)
