"""A smoke-preset supernet file (untrained, made in a second) shared by the sample tests."""
import shutil

import pytest
import torch

from apq.presets import get_preset
from apq.space.registry import create_space
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import get_supernet_config
from apq.supernet.network import Supernet
from tests.supernet.conftest import randomize


@pytest.fixture(scope="session")
def smoke_supernet(tmp_path_factory):
    """Path of a ``supernet.pt`` for the smoke preset: random weights, real file format and metadata."""
    space = create_space("fmnist")
    torch.manual_seed(0)
    net = randomize(Supernet(space))
    meta = ckpt.make_meta(space, get_supernet_config("smoke"), get_preset("smoke"))
    path = tmp_path_factory.mktemp("supernet") / "supernet.pt"
    return ckpt.write(path, {"format": ckpt.FORMAT, "meta": meta, "state_dict": net.state_dict(),
                             "channels_sorted": True})


@pytest.fixture
def root(tmp_path, smoke_supernet):
    """This test's APQ_ROOT (see tests/conftest.py) holding the smoke supernet at data/fmnist/."""
    target = ckpt.supernet_path("fmnist")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(smoke_supernet, target)
    return tmp_path
