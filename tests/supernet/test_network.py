"""Supernet geometry, sub-net extraction parity, channel sorting and depth semantics."""
import copy

import numpy as np
import pytest
import torch

from apq.space.genome import sample
from apq.supernet.network import StaticBlock, Supernet
from tests.helpers.nets import genomes, randomize


def test_geometry_matches_the_space(fmnist, supernet):
    for block, shape, mids in zip(supernet.blocks, fmnist.blocks, fmnist.mid_choices):
        assert block.expand.weight.shape[:2] == (mids.max(), shape.cin)
        assert block.depthwise.stride == shape.stride and block.project.weight.shape[0] == shape.cout
    x = torch.randn(2, 1, 28, 28)
    h = supernet.first(supernet.stem(x))
    for i, shape in enumerate(fmnist.blocks):
        assert h.shape[1:] == (shape.cin, shape.in_size, shape.in_size)
        h = supernet.blocks[i](h)
    assert h.shape[2] == fmnist.final_size
    head = fmnist.head_layers()
    assert supernet.stem[0].weight.shape == (head.cout[0], head.cin[0], 3, 3)
    assert supernet.tail.classifier.weight.shape == (fmnist.config.num_classes, fmnist.config.final_width)


def test_extreme_genomes(fmnist, supernet):
    big, small = supernet.largest_genome()[None], supernet.smallest_genome()[None]
    assert (fmnist.values(big, "mid")[0] == [m.max() for m in fmnist.mid_choices]).all()
    assert (fmnist.values(small, "kernel") == min(fmnist.config.kernels)).all()
    assert (fmnist.values(small, "depth")[0] == [d.min() for d in fmnist.depth_choices]).all()


@pytest.mark.parametrize("index", range(6))
def test_extracted_subnet_matches_the_supernet(fmnist, supernet, index):
    genome = genomes(fmnist, supernet)[index]
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(index))
    with torch.no_grad():
        supernet.set_active(genome)
        expected = supernet(x)
        sub = supernet.extract(genome).eval()
        got = sub(x)
    assert isinstance(sub, torch.nn.Module) and not any(isinstance(m, Supernet) for m in sub.modules())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    mids = fmnist.values(genome[None], "mid")[0]
    kernels = fmnist.values(genome[None], "kernel")[0]
    for block, b in zip(sub.blocks, sub.block_ids):
        assert isinstance(block, StaticBlock) and (block.mid, block.kernel) == (mids[b], kernels[b])
        assert block.depthwise[0].weight.shape == (mids[b], 1, kernels[b], kernels[b])


def test_extracted_subnet_is_standalone(fmnist, supernet):
    genome = supernet.smallest_genome()
    sub = supernet.extract(genome)
    before = {k: v.clone() for k, v in sub.state_dict().items()}
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(1.0)
        for k, v in sub.state_dict().items():
            assert torch.equal(v, before[k])
        for p in supernet.parameters():
            p.sub_(1.0)
    assert sum(p.numel() for p in sub.parameters()) < sum(p.numel() for p in supernet.parameters())


def test_channel_sorting_keeps_the_largest_function_and_ranks_channels(fmnist):
    torch.manual_seed(1)
    net = randomize(Supernet(fmnist), seed=1).eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        before = net(x)
        net.sort_channels()
        after = net(x)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    for block in net.blocks:
        importance = block.project.weight.abs().sum(dim=(0, 2, 3))
        assert torch.all(importance[:-1] >= importance[1:])


def test_depth_keeps_the_first_blocks_of_each_stage(fmnist):
    net = Supernet(fmnist).eval()
    genome = net.largest_genome()
    genome[fmnist.slices["depth"]] = 0  # depth index 0 = the smallest depth of every stage
    net.set_active(genome)
    positions = [(fmnist.blocks[i].stage, fmnist.blocks[i].position) for i in net.active_block_ids()]
    assert positions == [(s, 0) for s in range(fmnist.n_stages)]
    # A skipped block's weights do not matter; a kept block's do.
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        out = net(x)
        skipped = fmnist.n_blocks - 2 if fmnist.blocks[-2].position > 0 else 1
        assert skipped not in net.active_block_ids()
        net.blocks[skipped].project.weight.add_(1.0)
        torch.testing.assert_close(net(x), out)
        net.blocks[0].project.weight.add_(1.0)
        assert not torch.allclose(net(x), out)


@pytest.mark.parametrize("seed", range(3))
def test_active_blocks_agree_with_the_space(fmnist, supernet, seed):
    genome = sample(fmnist, 1, np.random.default_rng(seed))[0]
    supernet.set_active(genome)
    assert supernet.active_block_ids() == list(np.flatnonzero(fmnist.active_blocks(genome[None])[0]))


def test_extraction_in_train_mode_keeps_mode(fmnist):
    net = copy.deepcopy(Supernet(fmnist)).train()
    assert net.extract(net.smallest_genome()).training


def test_evaluate_reports_accuracy_on_even_and_odd_images():
    from apq.supernet.evaluate import evaluate

    class Fixed(torch.nn.Module):
        """Predicts class 0 for every image; one parameter so evaluate finds a device."""

        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.int64), 3).float()

    y = torch.tensor([0, 0, 1, 0, 0, 2, 1])  # even positions 0,1,0,1 -> 2/4; odd 0,0,2 -> 2/3
    result = evaluate(Fixed(), torch.zeros(7, 1, 2, 2), y, batch_size=3)
    assert result.accuracy == pytest.approx(100 * 4 / 7)
    assert result.halves == pytest.approx((50.0, 100 * 2 / 3))
