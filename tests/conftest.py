"""Fixtures shared by every test folder: the registered spaces, a randomised fmnist supernet and
its smoke-preset file, one torch thread, and an isolated ``APQ_ROOT`` per test."""
import pytest
import torch

from apq.presets import get_preset
from apq.space.registry import create_space, space_names
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import get_supernet_config
from apq.supernet.network import Supernet
from tests.helpers.nets import randomize
from tests.helpers.roots import apq_root


@pytest.fixture(params=space_names())
def space(request):
    return create_space(request.param)


@pytest.fixture
def apq_space():
    return create_space("imagenet-apq")


@pytest.fixture(scope="module")
def fmnist():
    return create_space("fmnist")


@pytest.fixture(scope="module")
def supernet(fmnist):
    """A randomised (untrained) fmnist supernet in eval mode."""
    torch.manual_seed(0)
    return randomize(Supernet(fmnist)).eval()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """In-process training and prediction here run on tiny batches: one intra-op thread is as fast,
    and it does not slow to a crawl when other processes share the two cores (OpenMP threads spin-wait)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def smoke_supernet(tmp_path_factory):
    """Path of a ``supernet.pt`` for the smoke preset: random weights (made in a second, never trained),
    real file format and metadata. Shared by the sample tests and tests/test_bad_inputs.py."""
    space = create_space("fmnist")
    torch.manual_seed(0)
    net = randomize(Supernet(space))
    meta = ckpt.make_meta(space, get_supernet_config("smoke"), get_preset("smoke"))
    path = tmp_path_factory.mktemp("supernet") / "supernet.pt"
    return ckpt.write(path, {"format": ckpt.FORMAT, "meta": meta, "state_dict": net.state_dict(),
                             "channels_sorted": True})


@pytest.fixture(scope="session")
def smoke_upstream(tmp_path_factory):
    """A root holding every smoke-preset artifact a search reads (supernet, fp32 and quantized
    samples, predictors), built once from nothing through the Python API; tests copy it
    (``tests.helpers.roots.copy_upstream``) so that their search starts at once."""
    import apq

    with apq_root(tmp_path_factory.mktemp("smoke-upstream")) as root:
        apq.supernet("fmnist", preset="smoke")
        for quant in (False, True):
            apq.samples("fmnist", quant=quant, preset="smoke")
        apq.predictor("fmnist", preset="smoke")
    return root


@pytest.fixture(autouse=True)
def _isolated_root(tmp_path, monkeypatch):
    """Artifacts written by a test land in its tmp folder, never in the checkout."""
    monkeypatch.setenv("APQ_ROOT", str(tmp_path))
