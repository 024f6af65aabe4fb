"""Shared helpers: tiny MNIST-style folders written into tmp_path."""

import pytest

from tests.helpers.datasets import write_mnist_dir  # noqa: F401  (re-exported for tests/data)


@pytest.fixture
def mnist_dir(tmp_path):
    """A folder holding a tiny gzip MNIST-style dataset (6 train, 4 test images of 28x28)."""
    root = tmp_path / "tiny-mnist"
    write_mnist_dir(root)
    return root


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Point the project and system dataset roots at empty tmp folders and unset APQ_DATA_DIR."""
    from apq.data import locate

    roots = {"project": tmp_path / "project-data", "system": tmp_path / "system-datasets"}
    monkeypatch.setattr(locate, "PROJECT_DATA_ROOT", roots["project"])
    monkeypatch.setattr(locate, "SYSTEM_DATA_ROOT", roots["system"])
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    return roots
