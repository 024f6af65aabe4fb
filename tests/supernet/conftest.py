"""Small supernet fixtures shared by the supernet tests."""
import numpy as np
import pytest
import torch

from apq.space.genome import sample
from apq.space.registry import create_space
from apq.supernet.network import Supernet
from tests.test_cli import apq


def randomize(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BN statistics/affines and kernel transforms non-trivial values (a fresh net has identity ones)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(net.named_parameters()) + list(net.named_buffers()):
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith(("running_mean", "bias")) or ".bn.weight" in name or "transforms" in name:
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=gen))
    return net


@pytest.fixture(scope="module")
def fmnist():
    return create_space("fmnist")


@pytest.fixture(scope="module")
def supernet(fmnist):
    torch.manual_seed(0)
    return randomize(Supernet(fmnist)).eval()


def genomes(space, net, n=4, seed=0):
    """Smallest, largest and ``n`` random genomes."""
    return [net.smallest_genome(), net.largest_genome(), *sample(space, n, np.random.default_rng(seed))]


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory):
    """APQ_ROOT of one uninterrupted ``apq supernet --preset smoke`` (tests only read it)."""
    root = tmp_path_factory.mktemp("smoke_supernet")
    result = apq("supernet", "--preset", "smoke", root=root)
    assert result.returncode == 0, result.stderr
    return root
