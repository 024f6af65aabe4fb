"""Shared fixtures: the reference data folder and the registered spaces."""
import json
from pathlib import Path

import pytest

from apq.space.registry import create_space, space_names

PROJECT = Path(__file__).resolve().parents[1]
REFERENCE = PROJECT.parent / "shared" / "reference"


def reference_json(name: str):
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference data {path} not present (../shared/reference beside the project)")
    return json.loads(path.read_text())


@pytest.fixture(params=space_names())
def space(request):
    return create_space(request.param)


@pytest.fixture
def apq_space():
    return create_space("imagenet-apq")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """In-process training and prediction here run on tiny batches: one intra-op thread is as fast,
    and it does not slow to a crawl when other processes share the two cores (OpenMP threads spin-wait)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _isolated_root(tmp_path, monkeypatch):
    """Artifacts written by a test land in its tmp folder, never in the checkout."""
    monkeypatch.setenv("APQ_ROOT", str(tmp_path))
