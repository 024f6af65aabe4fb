"""Fake quantizers: values on the integer grid, straight-through gradients, calibration."""
import pytest
import torch

from apq.quant.fake_quant import ActFakeQuant, RoundToGrid, WeightFakeQuant, int_range


@pytest.mark.parametrize("bits", [2, 4, 6, 8])
def test_weight_per_channel_on_grid(bits):
    torch.manual_seed(0)
    w = torch.randn(16, 8, 3, 3) * torch.linspace(0.1, 2, 16).view(-1, 1, 1, 1)
    quant = WeightFakeQuant(bits)
    q = quant(w)
    scale = quant.scale(w)
    levels = q / scale
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert levels.abs().max() <= 2 ** (bits - 1) - 1 + 1e-4
    for c in range(16):  # each channel uses its own range: the max maps to the top level
        assert (levels[c].abs().max() - (2 ** (bits - 1) - 1)).abs() < 1e-3


@pytest.mark.parametrize("bits", [2, 3, 4, 6, 8])
def test_weight_clip_is_never_worse_than_max_scaling(bits):
    """The chosen clip's squared error per channel is at most max scaling's (ratio 1.0 is a candidate)."""
    torch.manual_seed(1)
    w = torch.distributions.Laplace(0.0, 1.0).sample((24, 64))
    q_max = 2 ** (bits - 1) - 1
    by_max = w.abs().amax(dim=1, keepdim=True) / q_max
    max_err = ((torch.clamp(torch.round(w / by_max), -q_max, q_max) * by_max - w) ** 2).sum(dim=1)
    err = ((WeightFakeQuant(bits)(w) - w) ** 2).sum(dim=1)
    assert (err <= max_err * (1 + 1e-5)).all()


def test_two_bit_weights_are_ternary_and_keep_most_weights():
    """At 2 bits the grid is {-1, 0, 1} * s; max scaling would zero ~90 % of Gaussian weights."""
    torch.manual_seed(2)
    w = torch.randn(32, 288)
    quant = WeightFakeQuant(2)
    levels = quant(w) / quant.scale(w)
    assert set(levels.round().unique().tolist()) == {-1.0, 0.0, 1.0}
    assert (levels.round() == 0).float().mean() < 0.6
    relative = ((quant(w) - w) ** 2).mean() / (w**2).mean()
    assert relative < 0.3  # max scaling: ~0.72


def test_per_channel_beats_per_tensor_on_uneven_channels():
    torch.manual_seed(0)
    w = torch.randn(32, 16) * torch.logspace(-2, 0, 32).view(-1, 1)
    err = {pc: ((WeightFakeQuant(4, pc)(w) - w) ** 2).mean() for pc in (True, False)}
    assert err[True] < err[False]


def test_weight_gradient_is_straight_through():
    w = torch.randn(4, 3, requires_grad=True)
    WeightFakeQuant(4)(w).sum().backward()
    assert torch.allclose(w.grad, torch.ones_like(w))


def test_none_bits_is_identity():
    x = torch.randn(5)
    assert WeightFakeQuant(None)(x) is x and ActFakeQuant(None)(x) is x


@pytest.mark.parametrize("signed", [False, True])
def test_activation_calibration_and_grid(signed):
    torch.manual_seed(0)
    quant = ActFakeQuant(4, signed=signed)
    data = torch.randn(64, 8, 5, 5)
    data = data if signed else torch.clamp(data, 0, 6)
    quant.calibrating = True
    quant(data)
    quant.calibrating = False
    quant.finish_calibration()
    assert bool(quant.initialized)
    q = quant(data)
    levels = q / quant.step
    lo, hi = int_range(4, signed)
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    assert levels.min() >= lo - 1e-4 and levels.max() <= hi + 1e-4
    mse = ((q - data) ** 2).mean()
    naive = ActFakeQuant(4, signed=signed)
    with torch.no_grad():  # step from the plain max: the MSE-optimal clip must not be worse
        naive.step.fill_(float(data.abs().max()) / hi)
    assert mse <= ((naive(data) - data) ** 2).mean() + 1e-7


def test_activation_step_learns_and_clipped_inputs_get_no_gradient():
    quant = ActFakeQuant(4)
    with torch.no_grad():
        quant.step.fill_(0.1)  # range [0, 1.5]
    x = torch.tensor([[0.5, 3.0]], requires_grad=True)
    quant(x).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0]]
    assert quant.step.grad is not None and quant.step.grad.abs() > 0


def test_depthwise_weight_keeps_its_channels_last_layout():
    # a (C, 1, k, k) weight is both contiguous and channels-last; losing its strides would
    # switch the following convs to the slow contiguous path
    w = torch.randn(8, 1, 3, 3).to(memory_format=torch.channels_last)
    w = w.as_strided(w.shape, (9, 1, 3, 1))
    assert WeightFakeQuant(4)(w).stride() == w.stride()
    x = torch.randn(2, 1, 5, 5).as_strided((2, 1, 5, 5), (25, 1, 5, 1))
    quant = ActFakeQuant(8, signed=True)
    assert quant(x).stride() == x.stride()


def test_step_gradient_is_lsq():
    # LSQ (Esser et al. 2020): d(out)/d(step) = round(x/s) - x/s inside the range, the clip level
    # outside; scaled by 1 / sqrt(features * q_max).
    quant = ActFakeQuant(2)  # levels 0..3
    with torch.no_grad():
        quant.step.fill_(0.5)
    x = torch.tensor([[0.6, 0.9, 5.0]])
    quant(x).sum().backward()
    per_value = [1.0 - 1.2, 2.0 - 1.8, 3.0]
    expected = sum(per_value) / (3 * 3) ** 0.5
    assert quant.step.grad.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("signed", [False, True])
def test_gradients_do_not_depend_on_memory_layout(signed):
    # the step gradient is summed with dot products over raw storage when input and gradient share
    # a dense layout, and elementwise otherwise; every layout must give the composed-ops reference
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5) * 2
    upstream = torch.randn(2, 3, 4, 5)
    q_min, q_max = (-8, 7) if signed else (0, 15)
    step = 0.3

    def reference():
        xr = x.clone().requires_grad_()
        s = torch.tensor(step, requires_grad=True)
        grad_factor = 1.0 / (3 * 4 * 5 * q_max) ** 0.5
        s_scaled = s * grad_factor + (s - s * grad_factor).detach()  # value s, gradient scaled (LSQ)
        clipped = (xr / s_scaled).clamp(q_min, q_max)
        levels = clipped + (torch.round(clipped) - clipped).detach()
        (levels * s_scaled * upstream).sum().backward()
        return xr.grad, s.grad

    ref_x, ref_step = reference()
    for x_format, grad_format in [(torch.contiguous_format,) * 2, (torch.channels_last,) * 2,
                                  (torch.channels_last, torch.contiguous_format)]:
        quant = ActFakeQuant(4, signed=signed)
        with torch.no_grad():
            quant.step.fill_(step)
        xi = x.clone(memory_format=x_format).requires_grad_()
        quant(xi).backward(upstream.contiguous(memory_format=grad_format))
        assert torch.allclose(xi.grad, ref_x)
        assert quant.step.grad.item() == pytest.approx(ref_step.item(), rel=1e-5)


def test_inference_path_equals_training_path():
    torch.manual_seed(1)
    x = (torch.randn(4, 6, 5, 5) * 3).contiguous(memory_format=torch.channels_last)
    quant = ActFakeQuant(5, signed=True)
    with torch.no_grad():
        quant.step.fill_(0.21)
        inferred = quant(x)
    trained = quant(x)
    assert trained.requires_grad and torch.equal(inferred, trained.detach())
    assert inferred.stride() == x.stride()



@pytest.mark.parametrize("fused", [False, True])
def test_weight_scale_cache_follows_every_update(fused):
    """In eval mode the clip scale of a parameter is cached; a train/eval switch (a fused
    optimizer's step leaves the version counter alone), copy_ and load_state_dict renew it, so a
    cached forward always equals an uncached one."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 6, 3)
    quant = WeightFakeQuant(2)
    optimizer = torch.optim.Adam(conv.parameters(), lr=0.5, fused=fused)

    def fresh() -> torch.Tensor:
        return RoundToGrid.apply(conv.weight, quant.scale(conv.weight), 1)

    for _ in range(3):
        quant.eval()
        assert torch.equal(quant(conv.weight), fresh()) and quant._scale is not None
        quant.train()
        quant(conv.weight).square().sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        assert torch.equal(quant(conv.weight), fresh())
    quant.eval()
    with torch.no_grad():
        conv.weight.copy_(torch.randn_like(conv.weight) * 3)
    assert torch.equal(quant(conv.weight), fresh())
    conv.load_state_dict({"weight": torch.randn_like(conv.weight), "bias": conv.bias.detach()})
    assert torch.equal(quant(conv.weight), fresh())


def test_weight_scale_cache_skips_non_parameters():
    """A plain tensor (a supernet's transformed kernel) is quantized with its own scale every call."""
    quant = WeightFakeQuant(4)
    a, b = torch.randn(3, 5), torch.randn(3, 5) * 10
    assert torch.equal(quant(a), RoundToGrid.apply(a, quant.scale(a), 7))
    assert torch.equal(quant(b), RoundToGrid.apply(b, quant.scale(b), 7))
