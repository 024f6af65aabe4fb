"""Batch-norm folding: same function, no batch norm left."""
import torch

from apq.quant.fold import fold_batch_norms
from apq.supernet.bn_calibration import batch_norms
from tests.helpers.nets import genome_with_bits


def test_folded_subnet_computes_the_same_function(fmnist, supernet, tiny_data):
    net = supernet.extract(genome_with_bits(fmnist, 9)).eval().to(memory_format=torch.channels_last)
    folded = fold_batch_norms(net)
    assert not batch_norms(folded) and batch_norms(net)
    x = tiny_data.val_x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.allclose(folded(x), net(x), rtol=1e-4, atol=1e-4)
    assert folded.blocks[0].depthwise[0].weight.is_contiguous(memory_format=torch.channels_last)
