"""A small randomised (untrained) fmnist supernet and data for the quantization tests."""
import numpy as np
import pytest
import torch

from apq.samples.data import SampleData
from tests.supernet.conftest import fmnist, supernet  # noqa: F401 - fixtures shared with the supernet tests


@pytest.fixture(scope="module")
def tiny_data():
    """Random 'images' standing in for every split (shapes and dtypes of the real ones)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (96,), generator=gen)
    return SampleData(x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:], calib=x[:48])


def genome_with_bits(space, seed, **bits):
    """A random genome whose bit genes are set to the given values (e.g. pw_w=4) for every block."""
    genome = np.random.default_rng(seed).integers(0, space.cardinality)
    for gene, value in bits.items():
        genome[space.slices[gene]] = int(np.flatnonzero(space.bit_choices == value)[0])
    return genome
