import numpy as np
import torch

from apq.data.loaders import to_torch_loader


def order(loader):
    return torch.cat([y for _, y in loader]).tolist()


def test_batches_and_dtypes():
    x = np.random.default_rng(0).normal(size=(10, 1, 4, 4)).astype(np.float32)
    y = np.arange(10, dtype=np.int64)
    loader = to_torch_loader(x, y, batch_size=4, shuffle=False, seed=0)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert batches[0][0].dtype == torch.float32 and batches[0][1].dtype == torch.int64
    assert order(loader) == list(range(10))
    np.testing.assert_array_equal(batches[0][0].numpy(), x[:4])


def test_seeded_shuffle_is_reproducible():
    x, y = np.zeros((64, 1, 2, 2), np.float32), np.arange(64)
    first = order(to_torch_loader(x, y, 8, shuffle=True, seed=1))
    assert first == order(to_torch_loader(x, y, 8, shuffle=True, seed=1))
    assert first != order(to_torch_loader(x, y, 8, shuffle=True, seed=2))
    assert sorted(first) == list(range(64))
