"""A small randomised (untrained) fmnist supernet and data for the quantization tests."""
import pytest
import torch

from apq.samples.data import SampleData


@pytest.fixture(scope="module")
def tiny_data():
    """Random 'images' standing in for every split (shapes and dtypes of the real ones)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (96,), generator=gen)
    return SampleData(x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:], calib=x[:48])


