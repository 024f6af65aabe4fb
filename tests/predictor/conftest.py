"""SYNTHETIC sample files (apq.predictor.synthetic), made once per session and copied per test,
and one smoke-preset ``apq predictor`` run on them shared by the CLI and notebook tests."""
import shutil

import pytest

from apq.predictor.data import sample_path
from apq.predictor.synthetic import write_synthetic_samples
from apq.space.registry import create_space
from tests.helpers.cli import apq

N_FP32, N_QUANT = 160, 80


@pytest.fixture(scope="session")
def fmnist():
    return create_space("fmnist")


@pytest.fixture(scope="session")
def _synthetic_files(tmp_path_factory, fmnist):
    folder = tmp_path_factory.mktemp("synthetic")
    return {kind: write_synthetic_samples(fmnist, folder / f"samples_{kind}.h5", kind, n, seed=3)
            for kind, n in (("fp32", N_FP32), ("quant", N_QUANT))}


@pytest.fixture
def synthetic_samples(_synthetic_files):
    """Small synthetic fp32 and quant sample files of ``fmnist`` at their usual paths under APQ_ROOT."""
    for kind, source in _synthetic_files.items():
        target = sample_path("fmnist", kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    return {kind: sample_path("fmnist", kind) for kind in _synthetic_files}


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, _synthetic_files):
    """(root, completed process) of ``apq predictor --preset smoke`` on the synthetic files."""
    root = tmp_path_factory.mktemp("smoke_root")
    (root / "data" / "fmnist").mkdir(parents=True)
    for kind, source in _synthetic_files.items():
        shutil.copy(source, root / "data" / "fmnist" / source.name)
    return root, apq("predictor", "--preset", "smoke", root=root)
