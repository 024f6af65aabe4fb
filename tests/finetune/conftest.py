"""One verified smoke run (random supernet, random predictor, 1-step verify), built once and copied
into each test's APQ_ROOT."""
import shutil

import pytest

from apq.cli import main
from tests.helpers.roots import apq_root
from tests.helpers.search import save_smoke_supernet, search

RUN = "results/fmnist/fpga/f1"


@pytest.fixture(scope="session")
def verified_root(tmp_path_factory):
    with apq_root(tmp_path_factory.mktemp("verified")) as root:
        search("f1")
        save_smoke_supernet()
        assert main(["verify", "--target", "fpga", "--steps", "1", "--threads", "1"]) == 0
    return root


@pytest.fixture
def run_dir(verified_root, tmp_path):
    """This test's copy of the verified run (and its supernet and predictor), under its APQ_ROOT."""
    shutil.copytree(verified_root, tmp_path, dirs_exist_ok=True, symlinks=True)
    return tmp_path / RUN
