"""Dynamic layers: elastic kernel shapes and transforms, channel slicing, BN averaging, hooks."""
import pytest
import torch
import torch.nn.functional as F

from apq.supernet.bn_calibration import calibrate_bn
from apq.nn.layers import HookedConv2d
from apq.supernet.layers import DynamicBatchNorm, DynamicPointwise, ElasticDepthwise


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_elastic_kernel_shapes_and_output_size(kernel):
    conv = ElasticDepthwise(48, (3, 5, 7), stride=2)
    assert conv.kernel_weight(kernel, 40).shape == (40, 1, kernel, kernel)
    conv.active_kernel = kernel
    assert conv(torch.randn(2, 40, 14, 14)).shape == (2, 40, 7, 7)  # padding k//2 keeps 'same' size


def test_only_largest_kernel_stored_and_one_transform_per_step():
    conv = ElasticDepthwise(8, (7, 3, 5), stride=1)
    assert conv.weight.shape == (8, 1, 7, 7)
    assert {k: tuple(v.shape) for k, v in conv.transforms.items()} == {"7to5": (25, 25), "5to3": (9, 9)}


def test_identity_transforms_give_centre_crops():
    conv = ElasticDepthwise(4, (3, 5, 7), stride=1)
    assert torch.equal(conv.kernel_weight(5, 4), conv.weight[:, :, 1:6, 1:6])
    assert torch.equal(conv.kernel_weight(3, 4), conv.weight[:, :, 2:5, 2:5])


def test_small_kernel_goes_through_both_transforms():
    conv = ElasticDepthwise(2, (3, 5, 7), stride=1)
    with torch.no_grad():
        conv.transforms["7to5"].mul_(2.0)
        conv.transforms["5to3"].mul_(3.0)
    assert torch.allclose(conv.kernel_weight(3, 2), 6.0 * conv.weight[:, :, 2:5, 2:5])
    conv.kernel_weight(3, 2).sum().backward()
    assert conv.transforms["7to5"].grad is not None and conv.transforms["5to3"].grad is not None


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError):
        ElasticDepthwise(2, (3, 5), stride=1).kernel_weight(7, 2)


def test_pointwise_runs_the_first_channels():
    conv = DynamicPointwise(8, 12)
    conv.active_out = 5
    x = torch.randn(2, 6, 3, 3)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight[:5, :6]))


def test_dynamic_bn_cumulative_average_is_the_mean_of_batch_statistics():
    norm = DynamicBatchNorm(6)
    batches = [torch.randn(8, 4, 3, 3) * (i + 1) + i for i in range(3)]
    calibrate_bn(norm, torch.cat(batches), batch_size=8)
    means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    variances = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(norm.bn.running_mean[:4], means, atol=1e-5)
    assert torch.allclose(norm.bn.running_var[:4], variances, atol=1e-4)
    assert torch.equal(norm.bn.running_mean[4:], torch.zeros(2))  # inactive channels untouched
    assert norm.bn.momentum == 0.1 and not norm.training


@pytest.mark.parametrize("make", [lambda: DynamicPointwise(4, 4), lambda: ElasticDepthwise(4, (3,), 1),
                                  lambda: HookedConv2d(4, 4, 3, padding=1, bias=False)])
def test_quantizer_hooks_wrap_weight_and_input(make):
    conv, x = make(), torch.randn(1, 4, 5, 5)
    plain = conv(x)
    conv.weight_quant = _Scale(2.0)
    assert isinstance(conv._modules["weight_quant"], _Scale)  # a registered sub-module
    assert torch.allclose(conv(x), 2 * plain, atol=1e-6)
    conv.input_quant = _Scale(0.5)
    assert torch.allclose(conv(x), plain, atol=1e-6)


class _Scale(torch.nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, t):
        return t * self.factor
