"""The network: transfer initialisation is exact, and the bit branch joins where configured."""
import numpy as np
import pytest
import torch

from apq.predictor.network import AccuracyMLP


def _random(net: AccuracyMLP, seed: int) -> AccuracyMLP:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return net


@pytest.mark.parametrize("merge", ["after_relu", "before_relu"])
def test_zero_bit_branch_reproduces_fp32_exactly(merge):
    fp32 = _random(AccuracyMLP(12, 0, 16, 3), 0)
    quant = _random(AccuracyMLP(12, 8, 16, 3, merge), 1)
    quant.load_shared(fp32)
    x = torch.rand(50, 20)
    assert torch.equal(quant(x), fp32(x[:, :12]))
    assert torch.count_nonzero(quant.bit_branch.weight) == 0


def test_bit_branch_placement():
    x = torch.rand(5, 20)
    after = _random(AccuracyMLP(12, 8, 16, 3, "after_relu"), 2)
    before = AccuracyMLP(12, 8, 16, 3, "before_relu")
    before.load_state_dict(after.state_dict())
    h = torch.relu(after.hidden[0](x[:, :12])) + after.bit_branch(x[:, 12:])
    for layer in after.hidden[1:]:
        h = torch.relu(layer(h))
    assert torch.allclose(after(x), after.output(h).squeeze(-1))
    assert not torch.allclose(after(x), before(x))


def test_param_groups_give_the_bit_branch_its_rate():
    net = AccuracyMLP(12, 8, 16, 2)
    shared, bits = net.param_groups(1e-4, 1e-3)
    assert (shared["lr"], bits["lr"]) == (1e-4, 1e-3)
    assert len(shared["params"]) == 6 and len(bits["params"]) == 2
    assert len(AccuracyMLP(12, 0, 16, 2).param_groups(1e-3, 5.0)) == 1


def test_bad_shape_raises():
    with pytest.raises(ValueError):
        AccuracyMLP(12, 8, 16, 3, "sideways")


@pytest.mark.parametrize("merge", ["after_relu", "before_relu"])
def test_forward_hot_equals_forward_on_the_dense_one_hot(merge, apq_space):
    from apq.space.encoding import Encoder
    from apq.space.genome import sample

    enc = Encoder(apq_space)
    genomes = sample(apq_space, 40, np.random.default_rng(0))
    net = _random(AccuracyMLP(enc.fp32_dim, enc.dim - enc.fp32_dim, 32, 3, merge), 4)
    hot = enc.hot_indices(genomes)
    tensors = [torch.as_tensor(a) for a in (hot.fp32_cols, hot.fp32_on, hot.bit_cols, hot.bit_on)]
    dense = net(torch.as_tensor(enc.encode(genomes)))
    torch.testing.assert_close(net.forward_hot(*tensors), dense, rtol=1e-5, atol=1e-4)


def test_forward_hot_sees_weights_changed_in_place():
    net = _random(AccuracyMLP(6, 0, 8, 2), 5)
    cols, on = torch.tensor([[0, 3]]), torch.ones(1, 2)
    before = net.forward_hot(cols, on, torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 0))
    with torch.no_grad():
        net.hidden[0].weight.mul_(2.0)
    after = net.forward_hot(cols, on, torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 0))
    x = torch.zeros(1, 6)
    x[0, [0, 3]] = 1.0
    torch.testing.assert_close(after, net(x))
    assert not torch.equal(before, after)
