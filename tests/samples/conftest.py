"""The sample tests' APQ_ROOT: the smoke supernet of tests/conftest.py copied to data/fmnist/."""
import shutil

import pytest

from apq.supernet import checkpoint as ckpt


@pytest.fixture
def root(tmp_path, smoke_supernet):
    """This test's APQ_ROOT (see tests/conftest.py) holding the smoke supernet at data/fmnist/."""
    target = ckpt.supernet_path("fmnist")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(smoke_supernet, target)
    return tmp_path
